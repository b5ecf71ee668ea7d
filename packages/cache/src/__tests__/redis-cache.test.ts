/**
 * The cache over real Redis (single node and Cluster): L2 hits, the invalidation bus, bus
 * reconnects, and a Redis that dies mid-run.
 */
import {
  describeWithRedis,
  describeWithRedisCluster,
  redisClusterFixture,
  redisFixture,
  startRedisServer,
} from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterEach, expect, it, vi } from 'vitest';
import { type CacheStore, cache, type InvalidationMessage } from '../index.js';
import { redisStore } from '../redis.js';

/**
 * Resolves once the bus of the cache `name` just built on `store` is live. Call it right after
 * building the cache, before awaiting anything: SUBSCRIBE is asynchronous, and when it becomes
 * active every listener of the channel — this one too — gets a `reset` (messages published before
 * were missed), which also clears that cache's L1.
 */
function busLive(store: CacheStore, name: string): Promise<void> {
  return new Promise((resolve) => {
    const stop = store.scope(name).subscribe!((message: InvalidationMessage) => {
      if (message.kind !== 'reset') return;
      stop();
      resolve();
    });
  });
}

describeWithRedis('cache over Redis', () => {
  const redis = redisFixture();
  const stores: CacheStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  /** A store on the fixture's client, with the subscriber it opens itself; closed after the test. */
  function storeOf(prefix: string): CacheStore {
    const store = redisStore({ client: redis.client, prefix });
    stores.push(store);
    return store;
  }

  function replica(
    prefix: string,
    options: Parameters<typeof cache>[0] extends infer O ? Partial<O> : never = {},
  ) {
    const store = storeOf(prefix);
    return cache({ name: 'profiles', store, ttlMs: 60_000, jitter: 0, ...options });
  }

  it('serves L2 hits to other replicas with the codec round trip', async () => {
    const prefix = redis.uniquePrefix();
    const a = replica(prefix);
    const b = replica(prefix, { l1: false });
    const value = { id: 7n, at: new Date(1_700_000_000_000), roles: new Set(['admin']) };
    const loader = vi.fn(async () => value);
    expect(await a.getOrLoad('user:7', loader)).toEqual(value);
    expect(await b.getOrLoad('user:7', loader)).toEqual(value);
    expect(loader).toHaveBeenCalledTimes(1);
    await Promise.all([a.close(), b.close()]);
  });

  it("drops a key from other replicas' L1 when it is set, deleted or its tag invalidated", async () => {
    const prefix = redis.uniquePrefix();
    const a = replica(prefix);
    const storeB = storeOf(prefix);
    const b = cache({
      name: 'profiles',
      store: storeB,
      ttlMs: 60_000,
      l1: { maxStaleMs: 3_600_000 },
    });
    await busLive(storeB, 'profiles');
    await a.set('k', 'v1', { tags: ['t'] });
    expect(await b.get('k')).toBe('v1');
    await a.set('k', 'v2', { tags: ['t'] });
    await vi.waitFor(async () => expect(await b.get('k')).toBe('v2'), {
      timeout: 1000,
      interval: 5,
    });
    await a.invalidateTags(['t']);
    await vi.waitFor(async () => expect(await b.get('k')).toBeUndefined(), {
      timeout: 1000,
      interval: 5,
    });
    await a.set('k', 'v3');
    expect(await b.get('k')).toBe('v3');
    await a.delete('k');
    await vi.waitFor(async () => expect(await b.get('k')).toBeUndefined(), {
      timeout: 1000,
      interval: 5,
    });
    await Promise.all([a.close(), b.close()]);
  });

  it('answers an L2 hit with one command, tags included', async () => {
    const prefix = redis.uniquePrefix();
    const calls: string[] = [];
    const counted = new Proxy(redis.client, {
      get(target, property, receiver) {
        const member = Reflect.get(target, property, receiver) as unknown;
        if (typeof member !== 'function') return member;
        return (...args: unknown[]) => {
          // The store sends plain commands with `call(name, ...args)`, scripts with `evalsha`.
          // Names are kept as sent: the L2 read is spelled `get`, as ioredis's own method spells
          // it (see `GET` in stores/redis.ts).
          const name = property === 'call' ? String(args[0]) : String(property);
          if (['get', 'evalsha', 'eval', 'incr', 'publish', 'mget'].includes(name)) {
            calls.push(name);
          }
          return (member as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const writer = replica(prefix);
    const readerStore = redisStore({ client: counted, prefix });
    stores.push(readerStore);
    const reader = cache({ name: 'profiles', store: readerStore, ttlMs: 60_000, l1: false });
    // The bus clears known tag versions when its subscription becomes active: let that happen first.
    await busLive(readerStore, 'profiles');
    await writer.set('k', { n: 1 }, { tags: ['team:1', 'org:2'] });
    expect(await reader.get('k')).toEqual({ n: 1 }); // learns the two tag versions
    calls.length = 0;
    for (let i = 0; i < 10; i++) {
      expect(await reader.getOrLoad('k', async () => ({ n: 2 }))).toEqual({ n: 1 });
      expect(await reader.get('k')).toEqual({ n: 1 });
    }
    expect(calls).toEqual(Array.from({ length: 20 }, () => 'get'));
    await Promise.all([writer.close(), reader.close()]);
  });

  it('treats a corrupt or foreign record as a miss, reports it and overwrites it', async () => {
    const prefix = redis.uniquePrefix();
    const c = replica(prefix, { l1: false });
    const key = `${prefix}:cache:{profiles:k}:e`;
    await redis.client.set(key, 'written by something else');
    expect(await c.getOrLoad('k', async () => ({ fresh: true }))).toEqual({ fresh: true });
    expect(await redis.client.get(key)).toMatch(/^\d+\n\["bw1",/);
    await redis.client.set(key, '17\n["bw1", truncated');
    expect(await c.getOrLoad('k', async () => ({ again: true }))).toEqual({ again: true });
    await c.close();
  });

  it('clears the L1 when the bus reconnects, since messages may have been lost', async () => {
    const prefix = redis.uniquePrefix();
    // A subscriber of the test's own, so that it can drop the connection; it stays the test's.
    const subscriber = redis.newClient();
    const store = redisStore({ client: redis.client, subscriber, prefix });
    stores.push(store);
    const c = cache({ name: 'profiles', store, ttlMs: 60_000, l1: { maxStaleMs: 3_600_000 } });
    await busLive(store, 'profiles');
    await c.set('k', 'v1');
    // Rewrite the value behind the cache's back, without any bus message.
    const key = `${prefix}:cache:{profiles:k}:e`;
    const raw = (await redis.client.get(key))!;
    await redis.client.set(key, raw.replace('"v1"', '"v2"'));
    expect(await c.get('k')).toBe('v1');
    const ready = new Promise((resolve) => subscriber.once('ready', resolve));
    subscriber.disconnect(true);
    await ready;
    expect(await c.get('k')).toBe('v2');
    await c.close();
  });
});

describeWithRedisCluster('cache over Redis Cluster', () => {
  const cluster = redisClusterFixture();

  it('loads once, serves L2 hits and propagates invalidations', async () => {
    const prefix = cluster.uniquePrefix();
    // Each store opens its own subscriber (a duplicate of the Cluster client) and closes it.
    const stores = [0, 1].map(() => redisStore({ client: cluster.client, prefix }));
    const [a, b] = stores.map((store) =>
      cache({ name: 'catalog', store, ttlMs: 60_000, l1: { maxStaleMs: 3_600_000 } }),
    ) as [ReturnType<typeof cache>, ReturnType<typeof cache>];
    await Promise.all(stores.map((store) => busLive(store, 'catalog')));
    const loader = vi.fn(async () => ({ sku: 'x', price: 10n }));
    const keys = Array.from({ length: 20 }, (_, i) => `item:${i}`);
    await Promise.all(keys.map((key) => a.getOrLoad(key, loader, { tags: ['catalog'] })));
    await Promise.all(keys.map((key) => b.getOrLoad(key, loader, { tags: ['catalog'] })));
    expect(loader).toHaveBeenCalledTimes(20);
    await a.invalidateTags(['catalog']);
    await vi.waitFor(async () => expect(await b.get('item:3')).toBeUndefined(), {
      timeout: 2000,
      interval: 10,
    });
    await Promise.all([a.close(), b.close()]);
    await Promise.all(stores.map((store) => store.close()));
  });
});

describeWithRedisCluster('cache when Redis dies mid-run', () => {
  it('answers every call within the store deadline plus the loader time', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, { lazyConnect: true });
    const subscriber = new Redis(server.url, { lazyConnect: true });
    await Promise.all([client.connect(), subscriber.connect()]);
    // Applications own their clients' error handling; here the errors are expected.
    client.on('error', () => {});
    subscriber.on('error', () => {});
    const deadlineMs = 100;
    const loaderMs = 20;
    const store = redisStore({ client, subscriber, prefix: 'outage' });
    const c = cache({
      name: 'outage',
      store,
      ttlMs: 60_000,
      storeDeadlineMs: deadlineMs,
      storeFailureThreshold: 5,
      storeProbeIntervalMs: 200,
      l1: false,
      lease: { ttlMs: 1000 },
    });
    const statuses: string[] = [];
    c.onStoreStatusChange((s) => statuses.push(s.status));
    const loader = async () => {
      await new Promise((resolve) => setTimeout(resolve, loaderMs));
      return 'v';
    };
    const worst: number[] = [];
    let restarted: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    try {
      for (let round = 0; round < 30; round++) {
        if (round === 10) await server.kill();
        const started = performance.now();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => c.getOrLoad(`k${round % 3}:${i}`, loader)),
        );
        worst.push(performance.now() - started);
        expect(results.every((r) => r === 'v')).toBe(true);
      }
      // One store call can hang (the next one already knows the store failed), the post-load
      // write runs after the answer: one deadline plus the loader, plus scheduling slack.
      const bound = deadlineMs + loaderMs + 150;
      expect(Math.max(...worst)).toBeLessThan(bound);
      expect(statuses).toContain('degraded');
      // Once the store is degraded, most calls do not wait for it at all.
      expect(worst.slice(-5).filter((ms) => ms < loaderMs + 50).length).toBeGreaterThanOrEqual(3);
      // The same Redis comes back: the background probe finds it and values are cached again.
      restarted = await startRedisServer({ port: server.port });
      await vi.waitFor(
        async () => {
          await c.getOrLoad('after', loader);
          expect(statuses.at(-1)).toBe('healthy');
        },
        { timeout: 10_000, interval: 100 },
      );
      // A load that started while the store was still degraded skips its write; the next
      // miss after the probe found the store writes the value again.
      await vi.waitFor(
        async () => {
          await c.getOrLoad('after', loader);
          expect(await client.exists('outage:cache:{outage:after}:e')).toBe(1);
        },
        { timeout: 5_000, interval: 50 },
      );
    } finally {
      await c.close();
      await store.close();
      client.disconnect();
      subscriber.disconnect();
      await server.stop();
      await restarted?.stop();
    }
  });
});
