/**
 * The write-behind guarantee, with real processes, Redis and PostgreSQL: replicas write through a
 * Redis queue into a PostgreSQL table and two of them are SIGKILLed mid-run. Afterwards every write
 * that resolved is in the table (at its version or a newer one of its key), nothing is
 * dead-lettered, and nothing stays pending.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  describeWithPostgres,
  describeWithRedis,
  redisFixture,
  services,
  spawnReplica,
} from '@breakwater/testkit';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeBehind } from '../index.js';
import { redisWriteBehindQueue } from '../redis.js';
import { createVersionedTable, readTable, versionedUpsert } from './postgres-table.js';

const script = fileURLToPath(new URL('./replicas/wb-writer.ts', import.meta.url));
const crashScript = fileURLToPath(new URL('./replicas/wb-crash.ts', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithRedis('write-behind under SIGKILL', () => {
  const redis = redisFixture();

  describeWithPostgres('through Redis into PostgreSQL', () => {
    let pool: pg.Pool;
    const tables: string[] = [];
    beforeAll(() => {
      pool = new pg.Pool({ connectionString: services().postgresUrl, max: 4 });
    });
    afterAll(async () => {
      for (const table of tables) await pool.query(`DROP TABLE IF EXISTS ${table}`);
      await pool.end();
    });

    const newTable = async (): Promise<string> => {
      const table = `wb_crash_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
      tables.push(table);
      await createVersionedTable(pool, table);
      return table;
    };

    // Where the writer dies: mid-writing (after that many acks), or once every write resolved,
    // after that many successful persists.
    const killPoints = [
      { acks: 6_000 },
      { written: true, persists: 0 },
      { written: true, persists: 5 },
      { written: true, persists: 20 },
    ] as const;
    for (const point of killPoints) {
      it(`20,000 writes over 2,000 keys, writer SIGKILLed ${'acks' in point ? `after ${point.acks} acks` : `after all writes and ${point.persists} persists`}`, async () => {
        const prefix = redis.uniquePrefix();
        const table = await newTable();
        const env = { FLEET_PREFIX: prefix, WB_TABLE: table, WB_WRITES: '20000', WB_KEYS: '2000' };
        const acked = new Map<string, { version: number; i: number }>();
        let ackCount = 0;
        let persists = 0;
        let written = false;
        const writer = spawnReplica({
          script: crashScript,
          env: { ...env, WB_MODE: 'acks' in point ? 'write' : 'write-then-flush' },
          timeoutMs: 60_000,
        });
        writer.onMessage((line) => {
          const [word, key, version, i] = line.split(' ');
          if (word === 'ack') {
            ackCount++;
            const previous = acked.get(key!);
            if (previous === undefined || previous.version < Number(version))
              acked.set(key!, { version: Number(version), i: Number(i) });
          } else if (word === 'persisted') persists++;
          else if (word === 'written') {
            written = true;
            persists = 0;
          }
        });
        const deadline = Date.now() + 45_000;
        const due = () =>
          'acks' in point ? ackCount >= point.acks : written && persists >= point.persists;
        while (!due() && Date.now() < deadline) await sleep(1);
        writer.kill('SIGKILL');
        expect((await writer.result).signal).toBe('SIGKILL');
        if ('written' in point) expect(ackCount).toBe(20_000);

        const drainer = spawnReplica({
          script: crashScript,
          env: { ...env, WB_MODE: 'drain' },
          timeoutMs: 60_000,
        });
        const drained = await drainer.result;
        expect(drained.exitCode, drained.stderr).toBe(0);
        // The writer died holding work: the second process took it over.
        if ('written' in point) {
          expect((drained.result as { persisted: number }).persisted).toBeGreaterThan(0);
        }

        const rows = await readTable(pool, table);
        const survivor = redisWriteBehindQueue({ client: redis.client, prefix }).scope(
          'crash-test',
        );
        expect(await survivor.pending()).toBe(0);
        expect(await survivor.listDeadLetters(10)).toEqual([]);
        for (const [key, last] of acked) {
          const row = rows.get(key);
          if ('written' in point) {
            // Every write resolved before the kill: the table holds exactly the last one.
            expect(row, key).toEqual({ value: { i: last.i }, version: last.version });
          } else {
            // Writes in flight when it died may have been queued after the last ack.
            expect(row?.version ?? 0, key).toBeGreaterThanOrEqual(last.version);
          }
        }
        if ('written' in point) expect(rows.size).toBe(2_000);
      }, 90_000);
    }

    it('persists every resolved write although replicas die mid-persist', async () => {
      const prefix = redis.uniquePrefix();
      const table = `wb_crash_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
      tables.push(table);
      await createVersionedTable(pool, table);

      const acked: { key: string; version: number; replica: number }[] = [];
      const replicas = Array.from({ length: 3 }, (_, index) => {
        const replica = spawnReplica({
          script,
          index,
          replicas: 3,
          env: { FLEET_PREFIX: prefix, WB_TABLE: table, WB_WRITES: '400', WB_KEYS: '30' },
          timeoutMs: 60_000,
        });
        replica.onMessage((line) => {
          const [word, key, version] = line.split(' ');
          if (word === 'ack') acked.push({ key: key!, version: Number(version), replica: index });
        });
        return replica;
      });
      await Promise.all(replicas.map((r) => r.waitForMessage('ready', 20_000)));

      const ackedBy = (index: number) => acked.filter((a) => a.replica === index).length;
      const killAfter = async (index: number, acks: number) => {
        while (ackedBy(index) < acks) await sleep(2);
        replicas[index]!.kill('SIGKILL');
      };
      await Promise.all([killAfter(0, 100), killAfter(1, 250)]);
      const results = await Promise.all(replicas.map((r) => r.result));
      expect(results[0]!.signal).toBe('SIGKILL');
      expect(results[1]!.signal).toBe('SIGKILL');
      expect(results[2]!.exitCode, results[2]!.stderr).toBe(0);

      // What the dead replicas held goes idle and is claimed by a flusher still alive.
      const survivor = writeBehind({
        name: 'crash-test',
        queue: redisWriteBehindQueue({ client: redis.client, prefix }),
        persist: versionedUpsert(pool, table),
        claimIdleMs: 500,
        flushIntervalMs: 10,
      });
      for (let i = 0; i < 300 && (await survivor.pending()) > 0; i++) await sleep(50);
      expect(await survivor.pending()).toBe(0);
      expect(await survivor.deadLetters.list()).toEqual([]);
      await survivor.close();

      const rows = await readTable(pool, table);
      const latest = new Map<string, number>();
      for (const { key, version } of acked)
        latest.set(key, Math.max(latest.get(key) ?? 0, version));
      for (const { key, version } of acked) {
        expect(rows.get(key)?.version ?? 0, `write ${key}@${version}`).toBeGreaterThanOrEqual(
          version,
        );
      }
      for (const [key, version] of latest) {
        expect(rows.get(key)!.version, key).toBeGreaterThanOrEqual(version);
      }
      expect(ackedBy(0)).toBeGreaterThanOrEqual(100);
      expect(ackedBy(2)).toBe(400);
    });
  });
});
