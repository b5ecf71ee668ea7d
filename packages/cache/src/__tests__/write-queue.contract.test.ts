/**
 * The write-behind queue contract: every queue performs the same atomic transitions. Runs
 * unchanged against memory, Redis, Redis Cluster and DynamoDB.
 */
import { runContractSuite } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { isWriteBehindBacklogError, memoryWriteBehindQueue } from '../index.js';
import type { WriteBehindQueue, WriteQueueScope } from '../write-behind/queue.js';
import { queueFactories } from './write-queue-factories.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LOTS = 1_000_000;
const append = (ns: WriteQueueScope, key: string, payload: string, version?: number) =>
  ns.append(key, payload, { version, maxPending: LOTS });

runContractSuite<WriteBehindQueue>('write-behind queue', queueFactories, ({ makeStore }) => {
  const open = async () => (await makeStore()).scope('contract');

  it('assigns growing versions per key, or keeps the one given', async () => {
    const ns = await open();
    const first = await append(ns, 'k', 'a');
    const second = await append(ns, 'k', 'b');
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    expect(await append(ns, 'other', 'c', 42)).toBe(42);
    // Versions are at least the clock in µs, so they stay ahead of anything written earlier.
    expect(first).toBeGreaterThanOrEqual((Date.now() - 60_000) * 1000);
  });

  it('keeps versions growing after the key left the queue', async () => {
    const ns = await open();
    const first = await append(ns, 'k', 'a');
    const [entry] = await ns.claim('c1', 10, 60_000);
    await ns.complete([entry!.id]);
    expect(await append(ns, 'k', 'b')).toBeGreaterThan(first);
  });

  it('hands out concurrent appends of one key distinct, growing versions', async () => {
    const ns = await open();
    const versions = await Promise.all(
      Array.from({ length: 50 }, (_, i) => append(ns, 'hot', String(i))),
    );
    expect(new Set(versions).size).toBe(50);
    const claimed = await ns.claim('c1', 100, 60_000);
    const byPayload = new Map(claimed.map((e) => [e.payload, e.version]));
    for (let i = 0; i < 50; i++) expect(byPayload.get(String(i))).toBe(versions[i]);
  });

  it('delivers entries oldest first, with their fields, to one consumer at a time', async () => {
    const ns = await open();
    const payload = 'line one\nline two, ünïcödé, {braces} "quotes"';
    const keys = ['a', '{tag}:b', 'x'.repeat(600), 'ключ'];
    const versions: number[] = [];
    const before = Date.now();
    for (const key of keys) versions.push(await append(ns, key, `${payload}:${key.slice(0, 5)}`));
    const first = await ns.claim('c1', 3, 60_000);
    expect(first.map((e) => e.key)).toEqual(keys.slice(0, 3));
    expect(first[0]).toMatchObject({ key: 'a', payload: `${payload}:a`, version: versions[0] });
    expect(first[0]!.attempts).toBe(0);
    expect(first[0]!.enqueuedAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(first[0]!.enqueuedAt).toBeLessThanOrEqual(Date.now() + 1_000);
    const second = await ns.claim('c2', 10, 60_000);
    expect(second.map((e) => e.key)).toEqual([keys[3]]);
    expect(await ns.claim('c3', 10, 60_000)).toEqual([]);
    expect(new Set([...first, ...second].map((e) => e.id)).size).toBe(4);
  });

  it('never gives one entry to two concurrent claimers', async () => {
    const ns = await open();
    for (let i = 0; i < 40; i++) await append(ns, `k${i}`, String(i));
    const batches = await Promise.all(
      Array.from({ length: 4 }, (_, i) => ns.claim(`c${i}`, 15, 60_000)),
    );
    const ids = batches.flat().map((e) => e.id);
    expect(ids.length).toBe(40);
    expect(new Set(ids).size).toBe(40);
  });

  it('lets another consumer take entries left idle for claimIdleMs', async () => {
    const ns = await open();
    await append(ns, 'k', 'v');
    const [entry] = await ns.claim('dead', 10, 100);
    expect(await ns.claim('alive', 10, 100)).toEqual([]);
    await sleep(150);
    const reclaimed = await ns.claim('alive', 10, 100);
    expect(reclaimed.map((e) => e.id)).toEqual([entry!.id]);
    // Delivering it again reset its idle time.
    expect(await ns.claim('third', 10, 100)).toEqual([]);
  });

  it('keeps a claim alive with touch', async () => {
    const ns = await open();
    await append(ns, 'k', 'v');
    const [entry] = await ns.claim('slow', 10, 200);
    await sleep(120);
    await ns.touch('slow', [entry!.id]);
    await sleep(120);
    expect(await ns.claim('other', 10, 200)).toEqual([]);
    // Touching ids one does not hold changes nothing.
    await ns.touch('other', [entry!.id, 'no-such-id']);
    await sleep(120);
    expect((await ns.claim('other', 10, 200)).map((e) => e.id)).toEqual([entry!.id]);
  });

  it('removes completed entries and counts what is pending', async () => {
    const ns = await open();
    expect(await ns.pending()).toBe(0);
    await append(ns, 'a', '1');
    await append(ns, 'b', '2');
    await append(ns, 'c', '3');
    expect(await ns.pending()).toBe(3);
    const claimed = await ns.claim('c1', 2, 60_000);
    expect(await ns.pending()).toBe(3);
    await ns.complete(claimed.map((e) => e.id));
    expect(await ns.pending()).toBe(1);
    await ns.complete(claimed.map((e) => e.id)); // idempotent
    expect(await ns.pending()).toBe(1);
    await sleep(20);
    expect((await ns.claim('c2', 10, 1)).map((e) => e.key)).toEqual(['c']);
  });

  it('reports the backlog: pending entries and when the oldest was appended', async () => {
    const ns = await open();
    expect(await ns.backlog()).toEqual({ pending: 0, oldestEnqueuedAt: undefined });
    const before = Date.now();
    await append(ns, 'a', '1');
    await sleep(20);
    await append(ns, 'b', '2');
    const [first] = await ns.claim('c1', 1, 60_000);
    const backlog = await ns.backlog();
    expect(backlog.pending).toBe(2);
    // Delivered or not, the oldest entry counts; clocks of the store and the test may differ a bit.
    expect(backlog.oldestEnqueuedAt).toBe(first!.enqueuedAt);
    expect(Math.abs(backlog.oldestEnqueuedAt! - before)).toBeLessThan(1_000);
    await ns.complete([first!.id]);
    const later = await ns.backlog();
    expect(later.pending).toBe(1);
    expect(later.oldestEnqueuedAt).toBeGreaterThan(backlog.oldestEnqueuedAt!);
  });

  it('refuses appends past maxPending, atomically, and accepts again once drained', async () => {
    const ns = await open();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        ns.append(`k${i}`, 'v', { version: undefined, maxPending: 5 }),
      ),
    );
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.length - refused.length).toBe(5);
    for (const r of refused)
      expect(isWriteBehindBacklogError((r as PromiseRejectedResult).reason)).toBe(true);
    expect((refused[0] as PromiseRejectedResult).reason.maxPending).toBe(5);
    expect(await ns.pending()).toBe(5);
    const [entry] = await ns.claim('c1', 1, 60_000);
    await ns.complete([entry!.id]);
    await expect(
      ns.append('late', 'v', { version: undefined, maxPending: 5 }),
    ).resolves.toBeGreaterThan(0);
  });

  it('counts failed attempts durably and dead-letters at maxAttempts', async () => {
    const ns = await open();
    const version = await append(ns, 'k', 'payload');
    const [entry] = await ns.claim('c1', 10, 60_000);
    expect(await ns.fail(entry!, 'Error: db down', 3)).toEqual({ status: 'retry', attempts: 1 });
    expect(await ns.fail(entry!, 'Error: db down', 3)).toEqual({ status: 'retry', attempts: 2 });
    // Another consumer re-claiming it sees the attempts so far.
    await sleep(60);
    const [again] = await ns.claim('c2', 10, 50);
    expect(again).toMatchObject({ id: entry!.id, attempts: 2 });
    const before = Date.now();
    expect(await ns.fail(again!, 'Error: still down', 3)).toEqual({ status: 'dead', attempts: 3 });
    expect(await ns.pending()).toBe(0);
    expect(await ns.claim('c3', 10, 0)).toEqual([]);
    const letters = await ns.listDeadLetters(10);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      key: 'k',
      payload: 'payload',
      version,
      attempts: 3,
      error: 'Error: still down',
    });
    expect(letters[0]!.failedAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(await ns.deleteDeadLetters([letters[0]!.id, 'no-such-id'])).toBe(1);
    expect(await ns.listDeadLetters(10)).toEqual([]);
  });

  it('reports a failure of an entry that is gone', async () => {
    const ns = await open();
    await append(ns, 'k', 'v');
    const [entry] = await ns.claim('c1', 10, 60_000);
    await ns.complete([entry!.id]);
    expect(await ns.fail(entry!, 'Error: late', 1)).toEqual({ status: 'gone' });
    expect(await ns.listDeadLetters(10)).toEqual([]);
  });

  it('pages through dead letters oldest first', async () => {
    const ns = await open();
    for (let i = 0; i < 5; i++) await append(ns, `k${i}`, String(i));
    const claimed = await ns.claim('c1', 10, 60_000);
    for (const entry of claimed) await ns.fail(entry, `Error: ${entry.payload}`, 1);
    const page1 = await ns.listDeadLetters(2);
    const page2 = await ns.listDeadLetters(2, page1[1]!.id);
    const page3 = await ns.listDeadLetters(2, page2[1]!.id);
    expect([...page1, ...page2, ...page3].map((l) => l.key)).toEqual([
      'k0',
      'k1',
      'k2',
      'k3',
      'k4',
    ]);
  });

  // appendMany is optional: queues without it (DynamoDB) skip these.
  const openBatching = async (skip: () => void) => {
    const ns = await open();
    if (ns.appendMany === undefined) skip();
    return ns as WriteQueueScope & Required<Pick<WriteQueueScope, 'appendMany'>>;
  };

  it('appends many writes in one call, in order, with growing versions per key', async (ctx) => {
    const ns = await openBatching(() => ctx.skip());
    expect(await ns.appendMany([], LOTS)).toEqual([]);
    const before = await append(ns, 'k', 'before');
    const outcomes = await ns.appendMany(
      [
        { key: 'k', payload: 'k1', version: undefined },
        { key: 'other', payload: 'given', version: 42 },
        { key: 'k', payload: 'k2', version: undefined },
        { key: 'line\nbreak {tag} ключ', payload: 'a\nb "c"', version: undefined },
      ],
      LOTS,
    );
    expect(outcomes).toHaveLength(4);
    const [k1, given, k2, odd] = outcomes as number[];
    expect(k1).toBeGreaterThan(before);
    expect(given).toBe(42);
    expect(k2).toBeGreaterThan(k1!);
    expect(odd).toBeGreaterThanOrEqual((Date.now() - 60_000) * 1000);
    expect(await append(ns, 'k', 'after')).toBeGreaterThan(k2!);
    const claimed = await ns.claim('c1', 10, 60_000);
    expect(claimed.map((e) => [e.key, e.payload, e.version])).toEqual([
      ['k', 'before', before],
      ['k', 'k1', k1],
      ['other', 'given', 42],
      ['k', 'k2', k2],
      ['line\nbreak {tag} ключ', 'a\nb "c"', odd],
      ['k', 'after', expect.any(Number)],
    ]);
  });

  it('refuses each item of appendMany past maxPending, without failing the others', async (ctx) => {
    const ns = await openBatching(() => ctx.skip());
    for (let i = 0; i < 3; i++) await append(ns, `old${i}`, 'v');
    const items = Array.from({ length: 4 }, (_, i) => ({
      key: `new${i}`,
      payload: String(i),
      version: undefined,
    }));
    const outcomes = await ns.appendMany(items, 5);
    expect(outcomes.slice(0, 2).every((o) => typeof o === 'number')).toBe(true);
    for (const refused of outcomes.slice(2)) {
      expect(isWriteBehindBacklogError(refused)).toBe(true);
      expect((refused as { maxPending: number }).maxPending).toBe(5);
    }
    expect(await ns.pending()).toBe(5);
    const claimed = await ns.claim('c1', 10, 60_000);
    expect(claimed.map((e) => e.key)).toEqual(['old0', 'old1', 'old2', 'new0', 'new1']);
    // Concurrent batches and single appends never overshoot the bound together.
    await ns.complete(claimed.map((e) => e.id));
    const racing = await Promise.all([
      ns.appendMany(items, 6),
      ns.append('single', 'v', { version: undefined, maxPending: 6 }).catch((e: unknown) => e),
      ns.appendMany(items, 6),
    ]);
    const accepted = [...racing[0], racing[1], ...racing[2]].filter((o) => typeof o === 'number');
    expect(accepted).toHaveLength(6);
    expect(await ns.pending()).toBe(6);
  });

  it('keeps separate names apart', async () => {
    const queue = await makeStore();
    const a = queue.scope('a');
    const b = queue.scope('b');
    await append(a, 'k', 'in a');
    expect(await b.pending()).toBe(0);
    expect(await b.claim('c1', 10, 0)).toEqual([]);
    expect((await a.claim('c1', 10, 0)).map((e) => e.payload)).toEqual(['in a']);
  });
});

describe('memoryWriteBehindQueue', () => {
  it('rejects bad options', () => {
    expect(() => memoryWriteBehindQueue(null as never)).toThrow(/options/);
  });
});
