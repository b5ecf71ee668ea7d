/**
 * Write-behind on the memory queue: batching, coalescing, retries, bisection of failing batches,
 * dead letters, backpressure, the cache's read-your-writes, close, telemetry and bad input.
 */
import { installOtel } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cache,
  isCacheCodecError,
  isWriteBehindBacklogError,
  METRIC_WB_BATCH_SIZE,
  METRIC_WB_DEAD_LETTERS,
  METRIC_WB_FLUSHED,
  METRIC_WB_LAG,
  METRIC_WB_PENDING,
  METRIC_WB_PERSIST_DURATION,
  METRIC_WB_RETRIES,
  METRIC_WB_WRITES,
  memoryStore,
  memoryWriteBehindQueue,
  type PersistEntry,
  type WriteBehind,
  type WriteBehindOptions,
  writeBehind,
} from '../index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A table that only takes a row over a lower version, like docs/write-behind.md's upsert. */
class FakeTable<T> {
  readonly rows = new Map<string, { value: T; version: number }>();
  readonly calls: PersistEntry<T>[][] = [];
  failKeys = new Set<string>();
  failNext = 0;

  persist = async (batch: readonly PersistEntry<T>[]): Promise<void> => {
    this.calls.push([...batch]);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('database unavailable');
    }
    const bad = batch.find((entry) => this.failKeys.has(entry.key));
    if (bad !== undefined) throw new Error(`constraint violated by ${bad.key}`);
    for (const { key, value, version } of batch) {
      const row = this.rows.get(key);
      if (row === undefined || row.version < version) this.rows.set(key, { value, version });
    }
  };

  value(key: string): T | undefined {
    return this.rows.get(key)?.value;
  }
}

const open: WriteBehind<unknown>[] = [];
function make<T>(
  table: FakeTable<T>,
  options: Partial<WriteBehindOptions<T>> = {},
): WriteBehind<T> {
  const wb = writeBehind<T>({
    name: 'orders',
    persist: table.persist,
    flushIntervalMs: 10,
    retryDelayMs: 5,
    maxRetryDelayMs: 20,
    ...options,
  });
  open.push(wb as WriteBehind<unknown>);
  return wb;
}

afterEach(async () => {
  for (const wb of open.splice(0)) await wb.close().catch(() => {});
});

describe('writeBehind on the memory queue', () => {
  it('persists written values in batches, with growing versions', async () => {
    const table = new FakeTable<{ n: number }>();
    const wb = make(table, { flusher: false, batchSize: 3 });
    const versions: number[] = [];
    for (let i = 0; i < 7; i++) versions.push(await wb.write(`k${i}`, { n: i }));
    expect(await wb.pending()).toBe(7);
    await wb.flush();
    expect(table.calls.map((batch) => batch.length)).toEqual([3, 3, 1]);
    for (let i = 0; i < 7; i++)
      expect(table.rows.get(`k${i}`)).toEqual({ value: { n: i }, version: versions[i] });
    expect(await wb.pending()).toBe(0);
    expect(wb.stats()).toMatchObject({ accepted: 7, persisted: 7, superseded: 0, deadLettered: 0 });
  });

  it('coalesces writes of one key: persist sees only the newest version', async () => {
    const table = new FakeTable<string>();
    const wb = make(table, { flusher: false });
    await wb.write('k', 'first');
    await wb.write('k', 'second');
    const last = await wb.write('k', 'third');
    await wb.write('other', 'x');
    await wb.flush();
    expect(table.calls).toHaveLength(1);
    expect(table.calls[0]!.find((e) => e.key === 'k')).toEqual({
      key: 'k',
      value: 'third',
      version: last,
    });
    expect(table.calls[0]).toHaveLength(2);
    expect(wb.stats()).toMatchObject({ persisted: 2, superseded: 2 });
    expect(await wb.pending()).toBe(0);
  });

  it('round-trips values through the codec (Dates, BigInt, Maps)', async () => {
    const table = new FakeTable<unknown>();
    const wb = make(table, { flusher: false });
    const value = { at: new Date(5), big: 2n ** 70n, tags: new Map([['a', new Set([1])]]) };
    await wb.write('k', value);
    value.tags.clear(); // the queue holds a copy
    await wb.flush();
    expect(table.value('k')).toEqual({
      at: new Date(5),
      big: 2n ** 70n,
      tags: new Map([['a', new Set([1])]]),
    });
  });

  it('flushes on its own every flushIntervalMs', async () => {
    const table = new FakeTable<number>();
    const wb = make(table);
    await wb.write('k', 1);
    for (let i = 0; i < 100 && table.value('k') === undefined; i++) await sleep(10);
    expect(table.value('k')).toBe(1);
    expect(wb.stats().lastLagMs).toBeGreaterThanOrEqual(0);
  });

  it('retries a failing batch with backoff and passes the attempt number', async () => {
    const table = new FakeTable<number>();
    const attempts: number[] = [];
    const wb = make(table, {
      flusher: false,
      persist: async (batch, context) => {
        attempts.push(context.attempt);
        await table.persist(batch);
      },
    });
    await wb.write('k', 1);
    table.failNext = 2;
    await wb.flush();
    expect(table.value('k')).toBe(1);
    expect(attempts).toEqual([1, 2, 3]);
    expect(wb.stats()).toMatchObject({ persisted: 1, failedAttempts: 2 });
  });

  it('isolates a poison entry: the rest of its batch is persisted, it is dead-lettered', async () => {
    const table = new FakeTable<string>();
    table.failKeys.add('bad');
    const wb = make(table, { flusher: false, maxAttempts: 3 });
    for (const key of ['a', 'b', 'bad', 'c', 'd', 'e']) await wb.write(key, `value of ${key}`);
    await wb.flush();
    for (const key of ['a', 'b', 'c', 'd', 'e']) expect(table.value(key)).toBe(`value of ${key}`);
    expect(table.value('bad')).toBeUndefined();
    expect(await wb.pending()).toBe(0);
    const letters = await wb.deadLetters.list();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      key: 'bad',
      value: 'value of bad',
      attempts: 3,
      error: 'Error: constraint violated by bad',
    });
    expect(wb.stats()).toMatchObject({ persisted: 5, deadLettered: 1 });

    // Fixed: replay persists it and removes the dead letter.
    table.failKeys.clear();
    const replay = await wb.deadLetters.replay(letters);
    expect(replay).toEqual({ replayed: [letters[0]!.id], failed: [] });
    expect(table.rows.get('bad')).toEqual({ value: 'value of bad', version: letters[0]!.version });
    expect(await wb.deadLetters.list()).toEqual([]);
  });

  it('keeps dead letters whose replay fails, and deletes them on request', async () => {
    const table = new FakeTable<string>();
    table.failKeys.add('bad');
    const wb = make(table, { flusher: false, maxAttempts: 1 });
    await wb.write('bad', 'v');
    await wb.write('good', 'v');
    await wb.flush();
    const letters = await wb.deadLetters.list();
    const replay = await wb.deadLetters.replay(letters);
    expect(replay.replayed).toEqual([]);
    expect(replay.failed.map((f) => f.id)).toEqual([letters[0]!.id]);
    expect(await wb.deadLetters.delete([letters[0]!.id])).toBe(1);
    expect(await wb.deadLetters.list()).toEqual([]);
  });

  it('dead-letters the newest version and completes the older ones it supersedes', async () => {
    const table = new FakeTable<string>();
    table.failKeys.add('k');
    const wb = make(table, { flusher: false, maxAttempts: 2 });
    await wb.write('k', 'old');
    const newest = await wb.write('k', 'new');
    await wb.flush();
    const letters = await wb.deadLetters.list();
    expect(letters.map((l) => [l.value, l.version])).toEqual([['new', newest]]);
    expect(await wb.pending()).toBe(0);
  });

  it('aborts a persist that outlives persistTimeoutMs and counts it as a failure', async () => {
    const table = new FakeTable<number>();
    let calls = 0;
    let sawAbort = false;
    const wb = make(table, {
      flusher: false,
      persistTimeoutMs: 30,
      persist: async (batch, { signal }) => {
        if (calls++ === 0) {
          await new Promise((resolve) => signal.addEventListener('abort', resolve));
          sawAbort = true;
          return;
        }
        await table.persist(batch);
      },
    });
    await wb.write('k', 1);
    await wb.flush();
    expect(sawAbort).toBe(true);
    expect(table.value('k')).toBe(1);
    expect(wb.stats().failedAttempts).toBe(1);
  });

  it('refuses writes past maxPending with WriteBehindBacklogError', async () => {
    const table = new FakeTable<number>();
    const wb = make(table, { flusher: false, maxPending: 2 });
    await wb.write('a', 1);
    await wb.write('b', 2);
    const error = await wb.write('c', 3).catch((e: unknown) => e);
    expect(isWriteBehindBacklogError(error)).toBe(true);
    expect(String(error)).toMatch(/orders.*2 writes/);
    await wb.flush();
    await expect(wb.write('c', 3)).resolves.toBeGreaterThan(0);
  });

  it("with onBacklog: 'wait', waits for room, up to maxWaitMs", async () => {
    const table = new FakeTable<number>();
    const queue = memoryWriteBehindQueue();
    const writer = make(table, {
      queue,
      flusher: false,
      maxPending: 1,
      onBacklog: 'wait',
      maxWaitMs: 2_000,
    });
    await writer.write('a', 1);
    const waiting = writer.write('b', 2);
    await sleep(30);
    make(table, { queue }); // a flusher elsewhere makes room
    await expect(waiting).resolves.toBeGreaterThan(0);

    const stuck = make(table, { flusher: false, maxPending: 1, onBacklog: 'wait', maxWaitMs: 50 });
    await stuck.write('a', 1);
    const started = Date.now();
    const error = await stuck.write('b', 2).catch((e: unknown) => e);
    expect(isWriteBehindBacklogError(error)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    const aborted = await stuck
      .write('b', 2, { signal: AbortSignal.timeout(20), maxWaitMs: 10_000 })
      .catch((e: unknown) => e);
    expect((aborted as Error).name).toBe('TimeoutError');
  });

  it('waits on close for writes under way, and drains what they queued', async () => {
    const table = new FakeTable<number>();
    const c = cache({ name: 'closing', store: memoryStore(), l1: { maxEntries: 10 } });
    const wb = make(table, { cache: c, flushIntervalMs: 60_000 });
    const writes = Array.from({ length: 5 }, (_, i) => wb.write(`k${i}`, i));
    await wb.close();
    await Promise.all(writes);
    expect(table.rows.size).toBe(5);
    expect(await wb.pending()).toBe(0);
    await c.close();
  });

  it('ends a flush (and close) although other replicas keep writing', async () => {
    const table = new FakeTable<number>();
    const queue = memoryWriteBehindQueue();
    const busy = make(table, { queue, flusher: false });
    const closing = make(table, { queue, flusher: false, batchSize: 10 });
    for (let i = 0; i < 30; i++) await busy.write(`k${i}`, i);
    let writing = true;
    const writer = (async () => {
      for (let i = 30; writing; i++) await busy.write(`k${i}`, i);
    })();
    await closing.close();
    writing = false;
    await writer;
    for (let i = 0; i < 30; i++) expect(table.value(`k${i}`)).toBe(i);
  });

  it('spends a bounded number of persist calls per cycle when the database is down', async () => {
    const queue = memoryWriteBehindQueue();
    const fails: string[] = [];
    const counting = {
      kind: 'memory',
      close: () => queue.close(),
      scope(name: string) {
        const ns = queue.scope(name);
        return Object.assign(Object.create(ns), {
          fail: (entry: { key: string }, error: string, max: number) => {
            fails.push(entry.key);
            return ns.fail(entry as never, error, max);
          },
        });
      },
    };
    let calls = 0;
    let down = true;
    const writer = make(new FakeTable<number>(), { queue, flusher: false });
    for (let i = 0; i < 64; i++) await writer.write(`k${i}`, i);
    make(new FakeTable<number>(), {
      queue: counting as never,
      flushIntervalMs: 5,
      retryDelayMs: 5_000,
      maxRetryDelayMs: 5_000,
      maxAttempts: 100,
      persist: () => {
        calls++;
        if (down) throw new Error('connection refused');
      },
    });
    await sleep(300);
    // One cycle: 2·⌈log2(65)⌉ + 4 = 18 calls at most (bisection would need 127), and only the
    // entries it reached alone had an attempt counted; the others wait, uncounted.
    expect(calls).toBeGreaterThanOrEqual(7);
    expect(calls).toBeLessThanOrEqual(18);
    expect(fails.length).toBeGreaterThan(0);
    expect(fails.length).toBeLessThan(64);
    expect(await writer.pending()).toBe(64);
    down = false; // so that closing it drains at once
  });

  it('stops draining on close after timeoutMs, leaving the rest queued', async () => {
    const queue = memoryWriteBehindQueue();
    const table = new FakeTable<number>();
    const wb = make(table, {
      queue,
      flusher: false,
      retryDelayMs: 50,
      maxRetryDelayMs: 50,
      maxAttempts: 1_000,
    });
    await wb.write('k', 1);
    table.failNext = Number.POSITIVE_INFINITY;
    const started = Date.now();
    await wb.close({ timeoutMs: 150 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await queue.scope('orders').pending()).toBe(1);
    await expect(wb.close({ timeoutMs: -1 })).resolves.toBeUndefined(); // already closed
    const other = make(table, { flusher: false });
    await expect(other.close({ timeoutMs: 0 })).rejects.toThrow(/timeoutMs.*0/);
  });

  it('drains on close and refuses writes afterwards', async () => {
    const table = new FakeTable<number>();
    const wb = make(table, { flushIntervalMs: 60_000 });
    for (let i = 0; i < 20; i++) await wb.write(`k${i}`, i);
    await wb.close();
    expect(table.rows.size).toBe(20);
    await expect(wb.write('late', 1)).rejects.toThrow(/closed/);
    await wb.close(); // idempotent
  });

  it('lets a replica that only writes leave the flushing to others', async () => {
    const table = new FakeTable<number>();
    const queue = memoryWriteBehindQueue();
    const writer = make(table, { queue, flusher: false });
    const flusher = make(table, { queue });
    await writer.write('k', 7);
    await flusher.flush();
    expect(table.value('k')).toBe(7);
  });

  it('rejects bad input with errors naming it', async () => {
    const table = new FakeTable<unknown>();
    const wb = make(table, { flusher: false });
    await expect(wb.write('', 1)).rejects.toThrow(/key/);
    await expect(wb.write(42 as never, 1)).rejects.toThrow(/key/);
    const codecError = await wb.write('fn', { run: () => 1 }).catch((e: unknown) => e);
    expect(isCacheCodecError(codecError)).toBe(true);
    expect(String(codecError)).toMatch(/"fn"/);
    expect(await wb.pending()).toBe(0);
    await expect(wb.write('k', 1, { maxWaitMs: -1 })).rejects.toThrow(/maxWaitMs.*-1/);
    const persist = table.persist;
    expect(() => writeBehind({ name: 'x', persist, batchSize: 0 })).toThrow(/batchSize.*0/);
    expect(() => writeBehind({ name: '', persist })).toThrow(/name/);
    expect(() => writeBehind({ name: 'x', persist: 'nope' as never })).toThrow(/persist/);
    expect(() => writeBehind({ name: 'x', persist, maxAttempts: 1.5 })).toThrow(/maxAttempts/);
    expect(() => writeBehind({ name: 'x', persist, onBacklog: 'drop' as never })).toThrow(
      /onBacklog.*drop/,
    );
    expect(() => writeBehind({ name: 'x', persist, queue: {} as never })).toThrow(/queue/);
    expect(() => writeBehind({ name: 'x', persist, cache: {} as never })).toThrow(/cache/);
    expect(() =>
      writeBehind({ name: 'x', persist, retryDelayMs: 100, maxRetryDelayMs: 10 }),
    ).toThrow(/maxRetryDelayMs/);
    expect(() => writeBehind({ name: 'x', persist, persistTimeoutMs: 3e9 })).toThrow(
      /persistTimeoutMs.*2147483647.*3000000000/,
    );
    expect(() => writeBehind({ name: 'x', persist, batchSize: 50_000 })).toThrow(
      /batchSize.*50000/,
    );
    const l1Only = cache({ name: 'l1', l1: { maxEntries: 10 } });
    const sharedQueue = { kind: 'redis', scope: () => ({}) } as never;
    expect(() => writeBehind({ name: 'x', persist, queue: sharedQueue, cache: l1Only })).toThrow(
      /redis queue needs a cache whose store replicas share.*no store/,
    );
  });

  it('reports through OpenTelemetry: flushed, retries, dead letters, batch size, pending, lag', async () => {
    const otel = installOtel();
    try {
      const table = new FakeTable<number>();
      table.failKeys.add('poison');
      const wb = make(table, { flusher: false, maxAttempts: 2 });
      await wb.write('k', 1);
      await wb.write('k', 2);
      await wb.write('poison', 0);
      await sleep(30);
      await wb.flush();
      const outcome = 'breakwater.write_behind.outcome';
      expect(await otel.sum(METRIC_WB_WRITES, { [outcome]: 'accepted' })).toBe(3);
      expect(await otel.sum(METRIC_WB_FLUSHED, { [outcome]: 'persisted' })).toBe(1);
      expect(await otel.sum(METRIC_WB_FLUSHED, { [outcome]: 'superseded' })).toBe(1);
      expect(await otel.sum(METRIC_WB_RETRIES)).toBe(1);
      expect(await otel.sum(METRIC_WB_DEAD_LETTERS)).toBe(1);
      // [k, poison] fails, then [k] and [poison] alone, then [poison] again: 4 calls, 5 entries.
      const sizes = (await otel.metric(METRIC_WB_BATCH_SIZE))!.points[0]!.value as {
        count: number;
        sum: number;
      };
      expect(sizes).toMatchObject({ count: 4, sum: 5 });
      expect(await otel.sum(METRIC_WB_PERSIST_DURATION, { [outcome]: 'failure' })).toBe(3);
      // The first cycle read the backlog while all 3 entries were pending, the oldest ≥ 30 ms old.
      const pending = (await otel.metric(METRIC_WB_PENDING))!.points[0]!;
      expect(pending.value).toBe(3);
      const lag = (await otel.metric(METRIC_WB_LAG))!.points[0]!.value as number;
      expect(lag).toBeGreaterThanOrEqual(0.025);
      expect(lag).toBeLessThan(5);
      for (const metric of await otel.collect()) {
        for (const point of metric.points)
          expect(JSON.stringify(point.attributes)).not.toMatch(/poison|"k"/);
      }
    } finally {
      await otel.uninstall();
    }
  });
});

describe('writeBehind with a cache', () => {
  it('serves pending values from the cache, past their TTL, until persisted', async () => {
    const table = new FakeTable<string>();
    const c = cache({ name: 'profiles', store: memoryStore(), l1: { maxEntries: 100 }, ttlMs: 30 });
    const wb = make(table, { cache: c, flusher: false });
    const version = await wb.write('user:1', 'pending value');
    await sleep(60); // longer than ttlMs
    c.clearL1();
    expect(await c.get('user:1')).toBe('pending value');
    let loads = 0;
    const loaded = await c.getOrLoad('user:1', async () => {
      loads++;
      return 'stale database value';
    });
    expect(loaded).toBe('pending value');
    expect(loads).toBe(0);
    await wb.flush();
    expect(table.rows.get('user:1')).toEqual({ value: 'pending value', version });
    // Settled: back to the normal TTL, so it expires and reloads from the database.
    await sleep(60);
    c.clearL1();
    expect(await c.get('user:1')).toBeUndefined();
    await c.close();
  });

  it('keeps pending values in an L1-only cache even past maxEntries', async () => {
    const table = new FakeTable<number>();
    const c = cache({ name: 'l1-only', l1: { maxEntries: 2 }, ttlMs: 60_000 });
    const wb = make(table, { cache: c, flusher: false });
    for (let i = 0; i < 6; i++) await wb.write(`k${i}`, i);
    for (let i = 0; i < 6; i++) expect(await c.get(`k${i}`)).toBe(i);
    await wb.flush();
    expect(table.rows.size).toBe(6);
    // Settled entries are evictable again.
    await c.set('other', 1);
    let cached = 0;
    for (let i = 0; i < 6; i++) if ((await c.get(`k${i}`)) !== undefined) cached++;
    expect(cached).toBeLessThan(6);
    await c.close();
  });

  it('takes the value back out of the cache when it cannot be queued', async () => {
    const table = new FakeTable<string>();
    const c = cache({
      name: 'profiles',
      store: memoryStore(),
      l1: { maxEntries: 100 },
      ttlMs: 60_000,
    });
    await c.set('k', 'database value');
    const wb = make(table, { cache: c, flusher: false, maxPending: 1 });
    await wb.write('other', 'x');
    await expect(wb.write('k', 'refused')).rejects.toSatisfy(isWriteBehindBacklogError);
    expect(await c.get('k')).toBeUndefined();
    await c.close();
  });

  it('drops a dead-lettered value from the cache, so reads go to the database', async () => {
    const table = new FakeTable<string>();
    table.failKeys.add('k');
    const c = cache({
      name: 'profiles',
      store: memoryStore(),
      l1: { maxEntries: 100 },
      ttlMs: 60_000,
    });
    const wb = make(table, { cache: c, flusher: false, maxAttempts: 1 });
    await wb.write('k', 'never persisted');
    await wb.flush();
    expect(await c.get('k')).toBeUndefined();
    await c.close();
  });

  it('uses the cache codec by default and refuses a foreign cache object', () => {
    const table = new FakeTable<string>();
    expect(() =>
      writeBehind({ name: 'x', persist: table.persist, cache: { get() {} } as never }),
    ).toThrow(/cache\(\)/);
  });
});
