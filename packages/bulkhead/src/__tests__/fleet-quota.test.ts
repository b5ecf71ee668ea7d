/**
 * `permitQuota`: replicas serve their calls from blocks of fleet permits (one lease each) instead
 * of one acquire and one release per call. Judged on real Redis (single node and Cluster): the
 * fleet limit at every instant, the store round trips per call at a steady load, the per-call path
 * under contention, lease loss, close() and store failures.
 */
import {
  closeRedisClient,
  connectRedisClient,
  connectRedisClusterClient,
  describeWithRedis,
  describeWithRedisCluster,
  type RedisClient,
  redisClusterFixture,
  redisFixture,
  services,
} from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import {
  type BulkheadContext,
  bulkhead,
  isLeaseLostError,
  memoryStore,
  type PermitScope,
  type PermitStore,
} from '../index.js';
import { redisStore } from '../redis.js';
import { caught, deferred, until } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts the Lua script round trips (EVALSHA and EVAL) an ioredis client or Cluster sends. */
function countScripts(client: RedisClient): { count: number } {
  const counter = { count: 0 };
  for (const method of ['evalsha', 'eval'] as const) {
    const original = client[method].bind(client);
    Object.assign(client, {
      [method]: (...args: unknown[]) => {
        counter.count++;
        return original(...args);
      },
    });
  }
  return counter;
}

/** What a store's scopes were asked, by operation; `permits` lists each acquire's `permits`. */
interface ScopeCalls {
  acquire: number;
  renew: number;
  resize: number;
  release: number;
  permits: number[];
}

/** Wraps a store so that every operation its scopes run is counted (the store is unchanged). */
function spyStore(store: PermitStore): { store: PermitStore; calls: ScopeCalls } {
  const calls: ScopeCalls = { acquire: 0, renew: 0, resize: 0, release: 0, permits: [] };
  const spied: PermitStore = {
    kind: store.kind,
    grantsBlocks: store.grantsBlocks,
    scope(options) {
      const scope = store.scope(options);
      const wrapped: PermitScope = Object.create(scope);
      Object.assign(wrapped, {
        acquire: (request: Parameters<PermitScope['acquire']>[0], signal?: AbortSignal) => {
          calls.acquire++;
          calls.permits.push(request.permits ?? 1);
          return scope.acquire(request, signal);
        },
        renew: (...args: Parameters<PermitScope['renew']>) => {
          calls.renew++;
          return scope.renew(...args);
        },
        resize: (...args: Parameters<NonNullable<PermitScope['resize']>>) => {
          calls.resize++;
          return scope.resize!(...args);
        },
        release: (...args: Parameters<PermitScope['release']>) => {
          calls.release++;
          return scope.release(...args);
        },
      });
      return wrapped;
    },
    close: () => store.close(),
    [Symbol.asyncDispose]: () => store.close(),
  };
  return { store: spied, calls };
}

/** Permits of bulkhead `name`'s class `default` the Redis store counts now (blocks by size). */
async function heldInRedis(client: RedisClient, prefix: string, name = 'db'): Promise<number> {
  const leases = `${prefix}:bulkhead:{${name}:}:leases:default`;
  const blocks = `${prefix}:bulkhead:{${name}:}:blocks:default`;
  const live = (await client.zrangebyscore(leases, Date.now(), '+inf')) as string[];
  const sizes = (await client.hgetall(blocks)) as Record<string, string>;
  let held = 0;
  for (const id of live) held += Number(sizes[id] ?? 1);
  return held;
}

/** Watches the calls running under `fn` across replicas: now and the most at once. */
function concurrency() {
  const state = { now: 0, peak: 0 };
  return {
    state,
    async run(ms: number): Promise<void> {
      state.now++;
      state.peak = Math.max(state.peak, state.now);
      try {
        await sleep(ms);
      } finally {
        state.now--;
      }
    },
  };
}

/** What one run of the Redis tests works with: one library on one deployment. */
interface Fixture {
  client: RedisClient;
  prefix(): string;
}

function quotaTests(fixture: () => Fixture) {
  it('holds the fleet limit and costs at most 0.1 script round trips per call at a steady load', async () => {
    const { client } = fixture();
    const prefix = fixture().prefix();
    const scripts = countScripts(client);
    const store = redisStore({ client, prefix, subscriber: false });
    const replicas = [0, 1, 2].map(() =>
      bulkhead({ name: 'db', maxConcurrent: 12, maxQueue: 1_000, permitQuota: 4, store }),
    );
    const watch = concurrency();
    const tokens = new Set<number | undefined>();
    // Four callers per replica, each making calls one after the other: a steady load of 12.
    const callsPerCaller = 100;
    await Promise.all(
      replicas.flatMap((replica) =>
        [0, 1, 2, 3].map(async () => {
          for (let i = 0; i < callsPerCaller; i++) {
            await replica.execute(async ({ fencingToken }) => {
              tokens.add(fencingToken);
              await watch.run(1);
            });
          }
        }),
      ),
    );
    const calls = 3 * 4 * callsPerCaller;
    expect(watch.state.peak).toBeLessThanOrEqual(12);
    // A fencing token per block (a few per replica), not one per call.
    expect(tokens.has(undefined)).toBe(false);
    expect(tokens.size).toBeLessThan(calls / 20);
    expect(scripts.count / calls).toBeLessThanOrEqual(0.1);
    await Promise.all(replicas.map((replica) => replica.close()));
    // close() gave every block back.
    expect(await heldInRedis(client, prefix)).toBe(0);
    await store.close();
  });

  it('falls back to per-call permits under contention and never runs more than the limit', async () => {
    const { client } = fixture();
    const prefix = fixture().prefix();
    // With its subscriber: a refusal anywhere is heard at once by the replicas holding blocks.
    const spied = spyStore(redisStore({ client, prefix }));
    const replicas = [0, 1, 2].map(() =>
      bulkhead({
        name: 'db',
        maxConcurrent: 6,
        maxQueue: 1_000,
        permitQuota: 6,
        store: spied.store,
        // No renewal during the run: only the store's word on contention can stop a replica
        // serving itself from its block.
        leaseTtlMs: 6_000,
        renewIntervalMs: 2_000,
        wakeupPollMs: 20,
      }),
    );
    await sleep(100); // let the subscription land
    const watch = concurrency();
    const done = [0, 0, 0];
    /** The calls each replica had done when the first one finished all of its calls. */
    let whenFirstDone: number[] | undefined;
    // Twelve callers for six permits: the fleet stays at its limit.
    await Promise.all(
      replicas.flatMap((replica, r) =>
        [0, 1, 2, 3].map(async () => {
          for (let i = 0; i < 25; i++) {
            await replica.execute(() => watch.run(3));
            done[r]!++;
            if (done[r] === 100) whenFirstDone ??= [...done];
          }
        }),
      ),
    );
    expect(watch.state.peak).toBeLessThanOrEqual(6);
    expect(watch.state.peak).toBeGreaterThan(1);
    expect(done).toEqual([100, 100, 100]);
    // No replica starved while another served itself from a block: once one refusal was heard,
    // every replica competed for per-call permits (the first to finish had no head start of
    // its whole work; without the contention path this reads [100, 0, 0]).
    for (const count of whenFirstDone!) expect(count).toBeGreaterThanOrEqual(10);
    // Some calls took a permit each (the per-call path), others were served from blocks.
    expect(spied.calls.permits).toContain(1);
    expect(spied.calls.permits.some((permits) => permits > 1)).toBe(true);
    await Promise.all(replicas.map((replica) => replica.close()));
    expect(await heldInRedis(client, prefix)).toBe(0);
    await spied.store.close();
  });

  it('aborts every call of a block whose lease is lost, with the block fencing token', async () => {
    const { client } = fixture();
    const prefix = fixture().prefix();
    const store = redisStore({ client, prefix, subscriber: false });
    const db = bulkhead({
      name: 'db',
      maxConcurrent: 8,
      permitQuota: 4,
      store,
      leaseTtlMs: 1_000,
      renewIntervalMs: 100,
    });
    const started: BulkheadContext[] = [];
    const calls = [0, 1, 2].map(() =>
      caught(
        db.execute(
          (ctx) =>
            new Promise((_, reject) => {
              started.push(ctx);
              ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            }),
        ),
      ),
    );
    await until(() => started.length === 3);
    const token = started[0]!.fencingToken;
    expect(token).toBeTypeOf('number');
    expect(started.map((ctx) => ctx.fencingToken)).toEqual([token, token, token]);
    expect(await heldInRedis(client, prefix)).toBeGreaterThanOrEqual(3);
    // The block's lease disappears from the store (expired, evicted, a failover lost it).
    await client.del(`${prefix}:bulkhead:{db:}:leases:default`);
    const errors = await Promise.all(calls);
    for (const error of errors) {
      expect(isLeaseLostError(error)).toBe(true);
      expect(error).toMatchObject({ fencingToken: token });
    }
    // A new block serves the next call, with a new token.
    const next = await db.execute(({ fencingToken }) => fencingToken);
    expect(next).toBeGreaterThan(token!);
    await db.close();
    expect(await heldInRedis(client, prefix)).toBe(0);
    await store.close();
  });

  it('hands an idle block back at its renewal, and close() gives a busy one back once its calls end', async () => {
    const { client } = fixture();
    const prefix = fixture().prefix();
    const store = redisStore({ client, prefix, subscriber: false });
    const options = { name: 'db', maxConcurrent: 8, permitQuota: 4, store } as const;
    // A lease far longer than the wait below: only a hand-back frees the permits in time.
    const idle = bulkhead({ ...options, leaseTtlMs: 10_000, renewIntervalMs: 50 });
    await Promise.all([0, 1, 2].map(() => idle.execute(() => sleep(5))));
    expect(await heldInRedis(client, prefix)).toBeGreaterThan(0);
    // Renewals cut it to the peak use, then hand it back after an interval without calls.
    await until(async () => (await heldInRedis(client, prefix)) === 0, 2_000);
    await idle.close();

    const busy = bulkhead({ ...options, leaseTtlMs: 300, renewIntervalMs: 50 });
    const gate = deferred();
    const running = busy.execute(() => gate.promise);
    await until(async () => (await heldInRedis(client, prefix)) > 0);
    await busy.close();
    // The call still runs under the block: its permit stays counted, renewed past the TTL.
    await sleep(600);
    expect(await heldInRedis(client, prefix)).toBe(1);
    gate.resolve();
    await running;
    await until(async () => (await heldInRedis(client, prefix)) === 0, 1_000);
    await store.close();
  });
}

describeWithRedis('permitQuota on Redis', () => {
  const redis = redisFixture();
  let client: RedisClient;
  beforeAll(async () => {
    client = await connectRedisClient('ioredis', services().redisUrl);
  });
  afterAll(() => closeRedisClient(client));
  quotaTests(() => ({ client, prefix: () => redis.uniquePrefix() }));
});

describeWithRedisCluster('permitQuota on Redis Cluster', () => {
  const cluster = redisClusterFixture();
  let client: RedisClient;
  beforeAll(async () => {
    client = await connectRedisClusterClient('ioredis', cluster.nodes);
  });
  afterAll(() => closeRedisClient(client));
  quotaTests(() => ({ client, prefix: () => cluster.uniquePrefix() }));
});

describe('permitQuota on the memory store', () => {
  it('serves calls from blocks: a few store operations for many calls, the limit held', async () => {
    const spied = spyStore(memoryStore());
    const replicas = [0, 1].map(() =>
      bulkhead({ name: 'db', maxConcurrent: 8, maxQueue: 100, permitQuota: 4, store: spied.store }),
    );
    const watch = concurrency();
    await Promise.all(
      replicas.flatMap((replica) =>
        [0, 1, 2, 3].map(async () => {
          for (let i = 0; i < 50; i++) await replica.execute(() => watch.run(0));
        }),
      ),
    );
    expect(watch.state.peak).toBeLessThanOrEqual(8);
    const { acquire, renew, resize, release } = spied.calls;
    expect((acquire + renew + resize + release) / 400).toBeLessThanOrEqual(0.1);
    await Promise.all(replicas.map((replica) => replica.close()));
    expect(spied.calls.release).toBe(spied.calls.acquire);
  });
});

describe('permitQuota options', () => {
  const store = memoryStore();
  it('is an integer >= 1, at most the limit, and needs a store', () => {
    expect(() => bulkhead({ maxConcurrent: 8, store, permitQuota: 0 })).toThrow(
      new RangeError('Expected `permitQuota` to be an integer >= 1, got 0'),
    );
    expect(() => bulkhead({ maxConcurrent: 8, store, permitQuota: 2.5 })).toThrow(
      new RangeError('Expected `permitQuota` to be an integer >= 1, got 2.5'),
    );
    expect(() => bulkhead({ maxConcurrent: 8, store, permitQuota: '4' as never })).toThrow(
      TypeError,
    );
    expect(() => bulkhead({ maxConcurrent: 8, store, permitQuota: 9 })).toThrow(
      new RangeError('Expected `permitQuota` to be at most `maxConcurrent` (8), got 9'),
    );
    expect(() => bulkhead({ maxConcurrent: 8, permitQuota: 4 })).toThrow(
      new TypeError(
        'Expected `permitQuota` only with a `store` (it sizes blocks of fleet permits), got permitQuota 4 and no store',
      ),
    );
    bulkhead({ maxConcurrent: 8, store, permitQuota: 8 });
  });

  it('is refused for a store that cannot grant blocks (DynamoDB)', () => {
    // Built only: nothing is sent while building the store and the bulkhead.
    const client = { send: () => Promise.reject(new Error('not sent')) } as never;
    const dynamo = dynamoStore({ client, tableName: 'breakwater' });
    expect(() => bulkhead({ maxConcurrent: 8, store: dynamo, permitQuota: 4 })).toThrow(
      new TypeError(
        "Expected `store` to grant blocks of permits for `permitQuota` (memoryStore(), redisStore()), got a 'dynamodb' store, which does not (permitQuota 4)",
      ),
    );
  });
});

describe('permitQuota when the store is down', () => {
  /** A client whose every command fails at once: never connected, no offline queue. */
  const downClient = () => {
    const client = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => {});
    return client;
  };

  /** Runs the same calls with and without a quota; returns what each call settled with. */
  async function outcomes(
    onStoreError: 'fail-open' | 'fail-closed' | 'local',
    permitQuota: number | undefined,
  ): Promise<unknown[]> {
    const client = downClient();
    const store = redisStore({ client, subscriber: false });
    const db = bulkhead({
      name: 'db',
      maxConcurrent: 4,
      maxQueue: 10,
      store,
      onStoreError,
      localMaxConcurrent: 1,
      permitQuota,
    });
    const watch = concurrency();
    const results = await Promise.all(
      [0, 1, 2].map(() =>
        caught(
          db.execute(async ({ fencingToken }) => {
            await watch.run(20);
            return fencingToken ?? 'no token';
          }),
        ),
      ),
    );
    await db.close();
    await store.close();
    client.disconnect();
    return [
      watch.state.peak,
      ...results.map((result) =>
        result instanceof Error
          ? { name: result.name, reason: (result as { reason?: unknown }).reason }
          : result,
      ),
    ];
  }

  it.each(['fail-open', 'fail-closed', 'local'] as const)(
    'gives the same %s answers as without a quota',
    async (mode) => {
      const withQuota = await outcomes(mode, 4);
      expect(withQuota).toEqual(await outcomes(mode, undefined));
      // And those answers are the documented ones.
      if (mode === 'fail-closed') {
        expect(withQuota[1]).toEqual({
          name: 'BulkheadRejectedError',
          reason: 'store-unavailable',
        });
      } else {
        expect(withQuota[1]).toEqual({ resolved: 'no token' });
        expect(withQuota[0]).toBe(mode === 'local' ? 1 : 3);
      }
    },
  );
});
