/**
 * The store contract: every L2 store performs the same atomic transitions. Runs unchanged against
 * memory, Redis, Redis Cluster and DynamoDB.
 */
import { type Backend, runContractSuite } from '@breakwater/testkit';
import type { Cluster, Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import type { CacheScope, CacheStore, InvalidationMessage } from '../index.js';
import { redisStore } from '../redis.js';
import { memoryStore } from '../stores/memory.js';

interface StoreUnderTest {
  store: CacheStore;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function redisUnderTest(client: Redis | Cluster, prefix: string): StoreUnderTest {
  // The store opens its own subscriber (`client.duplicate()`) and closes it on close().
  const store = redisStore({ client, prefix });
  return { store, close: () => store.close() };
}

function closedWithStore(store: CacheStore): StoreUnderTest {
  return { store, close: () => store.close() };
}

/** Collects bus messages; `next()` waits for the next one (bounded). */
function listen(ns: CacheScope) {
  const messages: InvalidationMessage[] = [];
  const waiting: ((m: InvalidationMessage) => void)[] = [];
  const stop = ns.subscribe!((message) => {
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  return {
    stop,
    next(): Promise<InvalidationMessage> {
      const queued = messages.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no bus message within 2 s')), 2000);
        waiting.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
    },
  };
}

/**
 * Waits until a subscription is live: Redis SUBSCRIBE is asynchronous, and the bus says `reset`
 * once it is active (messages published before were missed). The memory bus is live at once.
 */
async function settleSubscription(
  backend: Backend,
  bus: { next(): Promise<InvalidationMessage> },
): Promise<void> {
  if (backend !== 'memory') expect(await bus.next()).toEqual({ kind: 'reset' });
}

runContractSuite<StoreUnderTest>(
  'cache store',
  {
    memory: () => closedWithStore(memoryStore()),
    redis: ({ client, prefix }) => redisUnderTest(client, prefix),
    dynamodb: ({ client, tableName, prefix }) =>
      closedWithStore(dynamoStore({ client, tableName, prefix })),
  },
  ({ makeStore, backend }) => {
    const open = async () => (await makeStore()).store.scope('contract');
    const write = (record: string, extra: object = {}) => ({
      record,
      ttlMs: undefined,
      origin: 'me',
      ...extra,
    });

    it('reads nothing for an unknown key', async () => {
      const ns = await open();
      expect(await ns.get('missing')).toBeUndefined();
    });

    it('writes records with growing versions', async () => {
      const ns = await open();
      const record = 'header\nvalue with ünïcödé, {braces} and\nnewlines';
      const first = await ns.set('k', write(record));
      expect(first.written).toBe(true);
      expect(first.version).toBeGreaterThan(0);
      expect(await ns.get('k')).toEqual({ version: first.version, record });
      const second = await ns.set('k', write('again'));
      expect(second.version).toBeGreaterThan(first.version);
    });

    it('handles long keys and keys with braces or colons', async () => {
      const ns = await open();
      const keys = ['x'.repeat(600), '{tag}:a:b', 'h:looks-hashed', 'ключ'];
      for (const key of keys) await ns.set(key, write(`value of ${key.slice(0, 10)}`));
      for (const key of keys)
        expect((await ns.get(key))?.record).toBe(`value of ${key.slice(0, 10)}`);
    });

    it('expires records after ttlMs', async () => {
      const ns = await open();
      await ns.set('k', write('v', { ttlMs: 50 }));
      expect(await ns.get('k')).toBeDefined();
      await sleep(120);
      expect(await ns.get('k')).toBeUndefined();
    });

    it('writes conditionally on the expected version', async () => {
      const ns = await open();
      const absent = await ns.set('k', write('v1', { expectVersion: 0 }));
      expect(absent.written).toBe(true);
      const stale = await ns.set('k', write('lost', { expectVersion: 0 }));
      expect(stale).toEqual({ written: false, version: absent.version });
      const current = await ns.set('k', write('v2', { expectVersion: absent.version }));
      expect(current.written).toBe(true);
      expect((await ns.get('k'))?.record).toBe('v2');
    });

    it('deletes with a new version, and later writes get larger ones', async () => {
      const ns = await open();
      const written = await ns.set('k', write('v'));
      const deleted = await ns.delete('k', 'me');
      expect(deleted).toBeGreaterThan(written.version);
      expect(await ns.get('k')).toBeUndefined();
      const again = await ns.set('k', write('v'));
      expect(again.version).toBeGreaterThan(deleted);
      // A load that saw the old version cannot resurrect it.
      expect((await ns.set('k', write('stale', { expectVersion: written.version }))).written).toBe(
        false,
      );
    });

    it('grants a lease to one holder at a time, checked by token', async () => {
      const ns = await open();
      expect(await ns.acquireLease('k', 'a', 5000, 0)).toEqual({ status: 'acquired' });
      const held = await ns.acquireLease('k', 'b', 5000, 0);
      expect(held.status).toBe('held');
      expect(held.status === 'held' && held.ttlMs > 0 && held.ttlMs <= 5000).toBe(true);
      expect(await ns.releaseLease('k', 'b')).toBe(false);
      expect(await ns.releaseLease('k', 'a')).toBe(true);
      expect(await ns.acquireLease('k', 'b', 5000, 0)).toEqual({ status: 'acquired' });
    });

    it('extends a lease only for its holder', async () => {
      const ns = await open();
      expect((await ns.acquireLease('k', 'a', 100, 0)).status).toBe('acquired');
      expect(await ns.extendLease('k', 'b', 5000)).toBe(false);
      expect(await ns.extendLease('k', 'a', 5000)).toBe(true);
      await sleep(200);
      expect((await ns.acquireLease('k', 'b', 5000, 0)).status).toBe('held');
      await ns.releaseLease('k', 'a');
      expect(await ns.extendLease('k', 'a', 5000)).toBe(false);
    });

    it('lets a lease expire', async () => {
      const ns = await open();
      expect((await ns.acquireLease('k', 'a', 50, 0)).status).toBe('acquired');
      await sleep(120);
      expect((await ns.acquireLease('k', 'b', 50, 0)).status).toBe('acquired');
    });

    it('answers a lease request with the current record when the version moved', async () => {
      const ns = await open();
      const { version } = await ns.set('k', write('fresh'));
      expect(await ns.acquireLease('k', 'a', 5000, 0)).toEqual({
        status: 'changed',
        current: { version, record: 'fresh' },
      });
      expect(await ns.acquireLease('k', 'a', 5000, version)).toEqual({ status: 'acquired' });
      await ns.delete('k', 'me');
      expect(await ns.acquireLease('k', 'b', 5000, version)).toEqual({
        status: 'changed',
        current: undefined,
      });
    });

    it('releases the lease with the write that holds its token', async () => {
      const ns = await open();
      await ns.acquireLease('k', 'a', 5000, 0);
      // A write under a token that does not hold the lease writes nothing, and leaves the lease.
      expect(await ns.set('k', write('v', { leaseToken: 'other', expectVersion: 0 }))).toEqual({
        written: false,
        version: 0,
      });
      expect(await ns.get('k')).toBeUndefined();
      expect((await ns.acquireLease('k', 'b', 5000, 0)).status).toBe('held');
      const { written, version } = await ns.set(
        'k',
        write('v2', { leaseToken: 'a', expectVersion: 0 }),
      );
      expect(written).toBe(true);
      expect((await ns.acquireLease('k', 'b', 5000, version)).status).toBe('acquired');
    });

    it('refuses the write of a holder whose lease lapsed, even over an absent key', async () => {
      const ns = await open();
      expect((await ns.acquireLease('k', 'a', 50, 0)).status).toBe('acquired');
      await sleep(120);
      // Lapsed and taken by `b`, whose value was written and deleted (the key absent again).
      expect((await ns.acquireLease('k', 'b', 5000, 0)).status).toBe('acquired');
      await ns.set('k', write('newer', { leaseToken: 'b', expectVersion: 0 }));
      await ns.delete('k', 'me');
      expect(
        await ns.set('k', write('older', { leaseToken: 'a', expectVersion: 0 })),
      ).toMatchObject({
        written: false,
      });
      expect(await ns.get('k')).toBeUndefined();
      // Lapsed and never taken: the write is refused all the same.
      expect((await ns.acquireLease('j', 'c', 50, 0)).status).toBe('acquired');
      await sleep(120);
      expect(await ns.set('j', write('late', { leaseToken: 'c', expectVersion: 0 }))).toMatchObject(
        {
          written: false,
        },
      );
      expect(await ns.get('j')).toBeUndefined();
    });

    it("a set during a load ends its lease, so the load's write is refused", async () => {
      const ns = await open();
      // The loader read the absent key; meanwhile the key is set, then deleted: absent again.
      expect(await ns.acquireLease('k', 'a', 5000, 0)).toEqual({ status: 'acquired' });
      const set = await ns.set('k', write('newer'));
      expect(set.written).toBe(true);
      // The lease went with the set: a waiting replica takes the lease at the new version.
      expect(await ns.acquireLease('k', 'b', 5000, set.version)).toEqual({ status: 'acquired' });
      await ns.releaseLease('k', 'b');
      await ns.delete('k', 'me');
      expect(
        await ns.set('k', write('older', { leaseToken: 'a', expectVersion: 0 })),
      ).toMatchObject({ written: false });
      expect(await ns.get('k')).toBeUndefined();
    });

    it('a delete during a load ends its lease, also for an absent key', async () => {
      const ns = await open();
      // The key was absent when the loader read it, and still is when it writes.
      expect(await ns.acquireLease('k', 'a', 5000, 0)).toEqual({ status: 'acquired' });
      await ns.delete('k', 'me');
      expect(
        await ns.set('k', write('older', { leaseToken: 'a', expectVersion: 0 })),
      ).toMatchObject({ written: false });
      expect(await ns.get('k')).toBeUndefined();
      // The lease is free: a replica that waited on it re-checks and loads.
      expect(await ns.acquireLease('k', 'b', 5000, 0)).toEqual({ status: 'acquired' });
      // A delete of a key with a record (a refresh under the lease at its version) ends it too.
      const { version } = await ns.set('j', write('v'));
      expect(await ns.acquireLease('j', 'c', 5000, version)).toEqual({ status: 'acquired' });
      await ns.delete('j', 'me');
      expect(await ns.acquireLease('j', 'd', 5000, 0)).toEqual({ status: 'acquired' });
    });

    it('a set refused by its version check leaves the lease to its holder', async () => {
      const ns = await open();
      expect(await ns.acquireLease('k', 'a', 5000, 0)).toEqual({ status: 'acquired' });
      expect(await ns.set('k', write('conditional', { expectVersion: 42 }))).toEqual({
        written: false,
        version: 0,
      });
      expect((await ns.acquireLease('k', 'b', 5000, 0)).status).toBe('held');
      expect(
        (await ns.set('k', write('loaded', { leaseToken: 'a', expectVersion: 0 }))).written,
      ).toBe(true);
      expect((await ns.get('k'))?.record).toBe('loaded');
    });

    it('versions tags', async () => {
      const ns = await open();
      expect(await ns.getTagVersions(['a', 'b'])).toEqual([0, 0]);
      const bumped = await ns.bumpTags(['a'], 'me');
      expect(bumped[0]).toBeGreaterThan(0);
      const [a, b] = await ns.getTagVersions(['a', 'b']);
      expect(a).toBe(bumped[0]);
      expect(b).toBe(0);
      const again = await ns.bumpTags(['a', 'b'], 'me');
      expect(again[0]).toBeGreaterThan(bumped[0]!);
    });

    it('publishes keys and versions of writes, deletes and tag bumps', async (context) => {
      const ns = await open();
      // DynamoDB has no bus: replicas converge through l1.maxStaleMs instead.
      if (ns.subscribe === undefined) return context.skip();
      const bus = listen(ns);
      await settleSubscription(backend, bus);
      const { version } = await ns.set('k', write('secret value', { origin: 'writer' }));
      expect(await bus.next()).toEqual({
        kind: 'keys',
        origin: 'writer',
        keys: ['k'],
        versions: [version],
      });
      const deleted = await ns.delete('k', 'deleter');
      expect(await bus.next()).toEqual({
        kind: 'keys',
        origin: 'deleter',
        keys: ['k'],
        versions: [deleted],
      });
      const tags = await ns.bumpTags(['t1', 't2'], 'tagger');
      expect(await bus.next()).toEqual({
        kind: 'tags',
        origin: 'tagger',
        tags: ['t1', 't2'],
        versions: tags,
      });
      bus.stop();
    });

    it('probes a remote store with a request that needs no data', async (context) => {
      const ns = await open();
      if (backend === 'memory') {
        // In process: it cannot fail, so there is nothing to probe.
        expect(ns.probe).toBeUndefined();
        return context.skip();
      }
      expect(typeof ns.probe).toBe('function');
      await ns.probe!(new AbortController().signal);
    });

    it('closes, also as an async disposable, and closing twice is harmless', async () => {
      const { store } = await makeStore();
      const ns = store.scope('closing');
      const stop = ns.subscribe?.(() => {});
      await ns.set('k', write('v'));
      stop?.();
      await store.close();
      await store[Symbol.asyncDispose]();
    });
  },
);
