/**
 * The write-behind engine on every queue backend: the same scenario (coalescing, a poison entry
 * isolated and dead-lettered, replay, two replicas sharing the queue) on memory, Redis, Redis
 * Cluster and DynamoDB.
 */
import { runContractSuite } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { type PersistEntry, type WriteBehindQueue, writeBehind } from '../index.js';
import { queueFactories } from './write-queue-factories.js';

runContractSuite<WriteBehindQueue>(
  'write-behind engine',
  queueFactories,
  ({ makeStore, backend }) => {
    it('coalesces, isolates a poison entry, dead-letters it and replays it', async () => {
      const queue = await makeStore();
      const rows = new Map<string, { value: unknown; version: number }>();
      let poison = true;
      const persist = async (batch: readonly PersistEntry<unknown>[]) => {
        if (poison && batch.some((entry) => entry.key === 'poison')) throw new Error('bad row');
        for (const { key, value, version } of batch) {
          const row = rows.get(key);
          if (row === undefined || row.version < version) rows.set(key, { value, version });
        }
      };
      const options = { name: 'engine', queue, persist, maxAttempts: 2, retryDelayMs: 5 } as const;
      const writer = writeBehind({ ...options, flusher: false });
      const other = writeBehind({ ...options, flusher: false });
      await writer.write('a', { n: 1 });
      const last = await other.write('a', { n: 2, at: new Date(7) });
      await writer.write('b', 'bee');
      await writer.write('poison', 'x');
      await other.flush();
      await writer.flush();
      expect(rows.get('a')).toEqual({ value: { n: 2, at: new Date(7) }, version: last });
      expect(rows.get('b')?.value).toBe('bee');
      expect(rows.has('poison')).toBe(false);
      expect(await writer.pending()).toBe(0);
      const letters = await writer.deadLetters.list();
      expect(letters.map((l) => [l.key, l.value, l.attempts])).toEqual([['poison', 'x', 2]]);
      poison = false;
      expect((await writer.deadLetters.replay(letters)).replayed).toEqual([letters[0]!.id]);
      expect(rows.get('poison')?.value).toBe('x');
      expect(await other.deadLetters.list()).toEqual([]);
      await writer.close();
      await other.close();
    });

    it('coalesces 1,000 writes of one key (100 on DynamoDB) into one persisted row', async () => {
      const queue = await makeStore();
      const calls: PersistEntry<unknown>[][] = [];
      const wb = writeBehind({
        name: 'hot-key',
        queue,
        flusher: false,
        storeDeadlineMs: 10_000,
        persist: (batch) => {
          calls.push([...batch]);
        },
      });
      // DynamoDB appends of one key contend on its version item, and a claim costs one
      // conditional update per entry (dynalite is slow at both): fewer writes there.
      const writes = backend === 'dynamodb' ? 100 : 1_000;
      const together = backend === 'dynamodb' ? 5 : 50;
      let last = 0;
      // Concurrent writes are ordered by the versions they got, not by when they were issued.
      const written = new Map<number, number>();
      for (let i = 0; i < writes; i += together) {
        const versions = await Promise.all(
          Array.from({ length: together }, (_, j) => wb.write('hot', { n: i + j })),
        );
        for (const [j, version] of versions.entries()) written.set(version, i + j);
        last = Math.max(last, ...versions);
      }
      await wb.write('cold', 'c');
      await wb.flush();
      expect(calls).toHaveLength(1);
      expect(calls[0]!.map((entry) => entry.key).sort()).toEqual(['cold', 'hot']);
      const hot = calls[0]!.find((entry) => entry.key === 'hot')!;
      expect(hot.version).toBe(last);
      expect(hot.value).toEqual({ n: written.get(last) });
      expect(wb.stats()).toMatchObject({ persisted: 2, superseded: writes - 1 });
      await wb.close();
    }, 60_000);
  },
);
