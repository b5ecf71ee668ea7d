/**
 * `@breakwater/rate-limit` against rate-limiter-flexible and bottleneck, on the same machine and
 * the same Redis (`REDIS_URL`, which `run.ts` points at a private server unless it is given; see
 * `placement.ts`). Limits are set so high that no call is ever denied: the tables measure what a
 * decision costs, not the limit.
 *
 * - Memory: one decision per call, `limit()` vs `RateLimiterMemory.consume()`, over 1,000 keys.
 * - Redis, one caller: one awaited decision at a time; the baseline is a bare EVALSHA of a trivial
 *   script, the floor of any one-round-trip decision.
 * - Redis, 64 concurrent callers: one "call" is 64 decisions in flight at once (per-decision
 *   numbers are the table's ÷ 64); with reservation mode, a replica takes 100 permits per trip.
 * - Queued: `acquire()` then the task vs bottleneck's `schedule()` with `maxConcurrent` and a
 *   `reservoir`, both in memory, permits available.
 * - Replica registry: what counting the fleet costs. The heartbeat itself (one script call per
 *   replica per `replicaRenewIntervalMs`) next to a bare EVALSHA, and one awaited decision with the
 *   registry running (the default), without it, and with a `{ perReplica }` limit.
 *
 * Every Redis row runs on an ioredis client and again, as its `(node-redis)` twin, on a node-redis
 * one (its own store, limiters and key prefix), rate-limiter-flexible's with `useRedisPackage`.
 */
import { randomUUID } from 'node:crypto';
import type { ReplicaBackend } from '@breakwater/core';
import { redisReplicaBackend } from '@breakwater/core/redis';
import { rateLimiter } from '@breakwater/rate-limit';
import { redisStore } from '@breakwater/rate-limit/redis';
import Bottleneck from 'bottleneck';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { BenchCase, Suite } from '../harness.js';
import {
  type BenchRedis,
  nodeRedisTwinOf,
  openRedis,
  type RedisClientLibrary,
  withNodeRedisTwin,
} from '../redis-clients.js';

const BREAKWATER = '@breakwater/rate-limit';
const FLEXIBLE = 'rate-limiter-flexible';
const BOTTLENECK = 'bottleneck';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `bwbench:${process.pid}:rl`;
/** Never reached: every decision admits. */
const HUGE = 1_000_000_000;
const KEYS = Array.from({ length: 1000 }, (_, i) => `tenant-${i}`);
const CONCURRENCY = 64;

let turn = 0;
/** The next key, round robin, so that no one key stays hot in a CPU cache. */
const nextKey = (): string => KEYS[turn++ % KEYS.length]!;

const bwMemory = rateLimiter({ name: 'bench-memory', limit: HUGE, intervalMs: 1000 });
const rlfMemory = new RateLimiterMemory({ points: HUGE, duration: 1 });

/** In-process decisions. */
export const rateLimitMemory: Suite = {
  id: 'rate-limit/memory',
  title: 'Rate limit decisions in memory',
  description:
    'One decision per call over 1,000 keys, nothing denied. Baseline: awaiting a resolved ' +
    'promise, the floor of any promise-returning API.',
  baseline: { name: 'await Promise.resolve()', fn: () => Promise.resolve(1) },
  cases: [
    {
      name: 'breakwater limit() (gcra, memoryStore)',
      library: BREAKWATER,
      fn: () => bwMemory.limit(nextKey()),
      role: 'ours',
      targets: [{ metric: 'speedup', versus: 'RateLimiterMemory.consume()', atLeast: 2, issue: 4 }],
    },
    {
      name: 'RateLimiterMemory.consume()',
      library: FLEXIBLE,
      fn: () => rlfMemory.consume(nextKey()),
      role: 'competitor',
    },
  ],
};

const bwMemoryHot = rateLimiter({ name: 'bench-memory-hot', limit: HUGE, intervalMs: 1000 });
const rlfMemoryHot = new RateLimiterMemory({ points: HUGE, duration: 1 });

/** In-process decisions, all on one key (issue #18 asks for this case besides the many-key one). */
export const rateLimitMemoryHot: Suite = {
  id: 'rate-limit/memory-hot',
  title: 'Rate limit decisions in memory, one hot key',
  description:
    'One decision per call, every call on the same key, nothing denied. Baseline: awaiting a ' +
    'resolved promise, the floor of any promise-returning API.',
  baseline: { name: 'await Promise.resolve()', fn: () => Promise.resolve(1) },
  cases: [
    {
      name: 'breakwater limit() (gcra, memoryStore)',
      library: BREAKWATER,
      fn: () => bwMemoryHot.limit('hot'),
      role: 'ours',
      targets: [
        { metric: 'speedup', versus: 'RateLimiterMemory.consume()', atLeast: 2, issue: 18 },
      ],
    },
    {
      name: 'RateLimiterMemory.consume()',
      library: FLEXIBLE,
      fn: () => rlfMemoryHot.consume('hot'),
      role: 'competitor',
    },
  ],
};

/** The limiters of one client library. */
interface RedisFixture {
  client: BenchRedis;
  /** The key prefix of this library's limiters. */
  prefix: string;
  sha: string;
  bw: ReturnType<typeof rateLimiter>;
  bwReserve: ReturnType<typeof rateLimiter>;
  /** `localShare` given: the limiter keeps no replica registry. */
  bwNoRegistry: ReturnType<typeof rateLimiter>;
  /** `limit: { perReplica }`: the limit follows the fleet's size. */
  bwPerReplica: ReturnType<typeof rateLimiter>;
  /** The registry script of a fleet of {@link REGISTRY_FLEET}, run directly. */
  heartbeat: () => Promise<number>;
  rlf: RateLimiterRedis;
}

/** The fleet the heartbeat case registers in: the set it prunes and counts holds this many. */
const REGISTRY_FLEET = 50;

let fixture: Record<RedisClientLibrary, RedisFixture> | undefined;
let users = 0;

/** The limiters on `library`'s client (default: ioredis). */
function f(library: RedisClientLibrary = 'ioredis'): RedisFixture {
  if (fixture === undefined) throw new Error('rate-limit bench fixture used before setup');
  return fixture[library];
}

async function setup(): Promise<void> {
  users++;
  if (fixture !== undefined) return;
  const ioredis = await openLimiters('ioredis', PREFIX);
  const nodeRedis = await openLimiters('node-redis', `${PREFIX}:nr`).catch(async (error) => {
    await closeLimiters(ioredis);
    throw error;
  });
  fixture = { ioredis, 'node-redis': nodeRedis };
}

/** The limiters of the suites on a new client of `library`, their keys under `prefix`. */
async function openLimiters(library: RedisClientLibrary, prefix: string): Promise<RedisFixture> {
  const client = await openRedis(library, REDIS_URL);
  try {
    return await buildLimiters(client, prefix);
  } catch (error) {
    client.closeNow();
    throw error;
  }
}

async function buildLimiters(client: BenchRedis, prefix: string): Promise<RedisFixture> {
  const sha = await client.scriptLoad('return 1');
  const store = redisStore({ client: client.client, prefix });
  return {
    client,
    prefix,
    sha,
    bw: rateLimiter({ name: 'bench-redis', limit: HUGE, intervalMs: 1000, store }),
    bwReserve: rateLimiter({
      name: 'bench-redis-reserve',
      limit: HUGE,
      intervalMs: 1000,
      burst: 1000,
      store,
      reserve: { batch: 100 },
    }),
    bwNoRegistry: rateLimiter({
      name: 'bench-redis-no-registry',
      limit: HUGE,
      intervalMs: 1000,
      store,
      localShare: 1,
    }),
    bwPerReplica: rateLimiter({
      name: 'bench-redis-per-replica',
      limit: { perReplica: HUGE },
      intervalMs: 1000,
      store,
    }),
    heartbeat: await registryHeartbeat(client, prefix),
    rlf: new RateLimiterRedis({
      storeClient: client.client,
      // rate-limiter-flexible tells node-redis from ioredis by this flag (node-redis 4+).
      useRedisPackage: client.library === 'node-redis',
      keyPrefix: `${prefix}:rlf`,
      points: HUGE,
      duration: 1,
    }),
  };
}

/**
 * One replica's heartbeat in a fleet of {@link REGISTRY_FLEET} (the others registered once, with a
 * TTL longer than the run): prune, renew and count, as `ReplicaRegistry` sends it every
 * `replicaRenewIntervalMs`.
 */
async function registryHeartbeat(
  client: BenchRedis,
  prefix: string,
): Promise<() => Promise<number>> {
  const backend: ReplicaBackend = redisReplicaBackend(
    client.client,
    `${prefix}:{registry}:replicas`,
  );
  const ttlMs = 15 * 60_000;
  for (let i = 1; i < REGISTRY_FLEET; i++) await backend.heartbeat(randomUUID(), ttlMs, undefined);
  const me = randomUUID();
  return () => backend.heartbeat(me, ttlMs, undefined);
}

async function closeLimiters(side: RedisFixture): Promise<void> {
  for (const limiter of [side.bw, side.bwReserve, side.bwNoRegistry, side.bwPerReplica])
    await limiter.close();
  await side.client.deleteMatching(`${side.prefix}*`);
  await side.client.close();
}

async function teardown(): Promise<void> {
  if (--users > 0 || fixture === undefined) return;
  const sides = Object.values(fixture);
  fixture = undefined;
  for (const side of sides) await closeLimiters(side);
}

const NO_KEYS: readonly string[] = [];

/** A bare EVALSHA of `return 1` on `library`'s client: the one-round-trip floor. */
const evalshaTrivial = (library: RedisClientLibrary) => () => {
  const side = f(library);
  return side.client.evalsha(side.sha, NO_KEYS, NO_KEYS);
};

/** The floor as a row of its own, on `library`'s client. */
const evalshaRow = (library: RedisClientLibrary): BenchCase => ({
  name: 'EVALSHA trivial script',
  library: 'ioredis',
  fn: evalshaTrivial(library),
});

/** One awaited decision at a time through Redis. */
export const rateLimitRedisLatency: Suite = {
  id: 'rate-limit/redis-latency',
  title: 'Rate limit through Redis, one caller awaiting each decision',
  description:
    'Latency of one decision. Baseline: a bare EVALSHA of `return 1` on the same connection, the ' +
    'one-round-trip floor (targets: breakwater within 1.2× of it, and at least as fast as ' +
    'rate-limiter-flexible). The `(node-redis)` rows run ' +
    'the same on a node-redis client: compare them with `EVALSHA trivial script (node-redis)`.',
  setup,
  teardown,
  // Network-bound and noisy (as the cache's L2 suite): more, longer rounds.
  timeMs: 2_000,
  rounds: 5,
  baseline: evalshaRow('ioredis'),
  cases: [
    nodeRedisTwinOf(evalshaRow),
    ...withNodeRedisTwin((library) => ({
      name: 'breakwater limit() (gcra, redisStore)',
      library: BREAKWATER,
      fn: () => f(library).bw.limit(nextKey()),
      role: 'ours',
      targets: [
        { metric: 'time', atMost: 1.2, issue: 4 },
        { metric: 'speedup', versus: 'RateLimiterRedis.consume()', atLeast: 1, issue: 18 },
      ],
    })),
    ...withNodeRedisTwin((library) => ({
      name: 'RateLimiterRedis.consume()',
      library: FLEXIBLE,
      fn: () => f(library).rlf.consume(nextKey()),
      role: 'competitor',
    })),
  ],
};

function concurrently(decide: () => Promise<unknown>): () => Promise<unknown> {
  return () => Promise.all(Array.from({ length: CONCURRENCY }, decide));
}

/** The floor of 64 decisions in flight, as a row of its own, on `library`'s client. */
const concurrentEvalshaRow = (library: RedisClientLibrary): BenchCase => ({
  name: `${CONCURRENCY} × EVALSHA trivial script`,
  library: 'ioredis',
  fn: concurrently(evalshaTrivial(library)),
});

/** 64 decisions in flight at once through Redis. */
export const rateLimitRedisConcurrent: Suite = {
  id: 'rate-limit/redis-64',
  title: `Rate limit through Redis, ${CONCURRENCY} concurrent callers`,
  description:
    `One call = ${CONCURRENCY} decisions in flight at once (ioredis and node-redis both pipeline ` +
    'them on one connection). Targets: breakwater ≥ 1.5× rate-limiter-flexible; with ' +
    'reservation mode (batch 100: one round trip per 100 decisions of a key) ≥ 10×. The ' +
    '`(node-redis)` rows run the same on a node-redis client, without targets of their own.',
  setup,
  teardown,
  baseline: concurrentEvalshaRow('ioredis'),
  cases: [
    nodeRedisTwinOf(concurrentEvalshaRow),
    ...withNodeRedisTwin((library) => ({
      name: 'breakwater limit()',
      library: BREAKWATER,
      fn: concurrently(() => f(library).bw.limit(nextKey())),
      role: 'ours',
      targets: [
        { metric: 'speedup', versus: 'RateLimiterRedis.consume()', atLeast: 1.5, issue: 4 },
      ],
    })),
    ...withNodeRedisTwin((library) => ({
      name: 'breakwater limit(), reserve: { batch: 100 }',
      library: BREAKWATER,
      fn: concurrently(() => f(library).bwReserve.limit(KEYS[turn++ % 8]!)),
      role: 'ours',
      targets: [{ metric: 'speedup', versus: 'RateLimiterRedis.consume()', atLeast: 10, issue: 4 }],
      note: 'reservation mode on 8 hot keys: the fleet may run ahead of the exact limit by replicas × 99',
    })),
    ...withNodeRedisTwin((library) => ({
      name: 'RateLimiterRedis.consume()',
      library: FLEXIBLE,
      fn: concurrently(() => f(library).rlf.consume(nextKey())),
      role: 'competitor',
    })),
  ],
};

const bwQueue = rateLimiter({ name: 'bench-queue', limit: HUGE, intervalMs: 1000 });
const bottleneck = new Bottleneck({ maxConcurrent: CONCURRENCY, reservoir: HUGE });
const task = async () => 42;

/** Waiting for a permit, then running the task: the queued case. */
export const rateLimitQueued: Suite = {
  id: 'rate-limit/queued',
  title: 'Queued: wait for a permit, then run the task (memory)',
  description:
    `One call = ${CONCURRENCY} tasks submitted at once, each waiting for its permit and then ` +
    "running. breakwater acquire() + task vs bottleneck's schedule() with maxConcurrent and a " +
    'reservoir. Baseline: the tasks run bare.',
  baseline: { name: `${CONCURRENCY} × await task()`, fn: concurrently(task) },
  cases: [
    {
      name: 'breakwater acquire() then task',
      library: BREAKWATER,
      role: 'ours',
      fn: concurrently(async () => {
        await bwQueue.acquire(nextKey());
        return task();
      }),
    },
    {
      name: 'breakwater execute(task, { maxWaitMs })',
      library: BREAKWATER,
      fn: concurrently(() => bwQueue.execute(task, { key: nextKey(), maxWaitMs: 10_000 })),
    },
    {
      name: 'bottleneck schedule(task)',
      library: BOTTLENECK,
      fn: concurrently(() => bottleneck.schedule(task)),
      role: 'competitor',
    },
  ],
};

/** What the replica registry costs: the heartbeat, and a decision with and without it. */
export const rateLimitRegistry: Suite = {
  id: 'rate-limit/registry',
  title: 'Replica registry: the heartbeat, and one awaited decision with the registry on and off',
  description:
    `A heartbeat is one script call (prune, renew, count) on a sorted set of ${REGISTRY_FLEET} ` +
    'replicas, sent once per `replicaRenewIntervalMs` (5 s) per replica, never per decision. The ' +
    'decisions show that a running registry costs a decision nothing measurable. Baseline: a bare ' +
    'EVALSHA of `return 1`.',
  setup,
  teardown,
  timeMs: 2_000,
  rounds: 5,
  baseline: evalshaRow('ioredis'),
  cases: [
    nodeRedisTwinOf(evalshaRow),
    ...withNodeRedisTwin((library) => ({
      name: `replica heartbeat (fleet of ${REGISTRY_FLEET})`,
      library: '@breakwater/core',
      fn: () => f(library).heartbeat(),
    })),
    ...withNodeRedisTwin((library) => ({
      name: 'limit(), registry on (default)',
      library: BREAKWATER,
      fn: () => f(library).bw.limit(nextKey()),
    })),
    ...withNodeRedisTwin((library) => ({
      name: 'limit(), registry off (localShare: 1)',
      library: BREAKWATER,
      fn: () => f(library).bwNoRegistry.limit(nextKey()),
    })),
    ...withNodeRedisTwin((library) => ({
      name: 'limit(), limit: { perReplica }',
      library: BREAKWATER,
      fn: () => f(library).bwPerReplica.limit(nextKey()),
    })),
  ],
};

/** The rate-limit suites, in the order they run. */
export const rateLimitSuites: readonly Suite[] = [
  rateLimitMemory,
  rateLimitMemoryHot,
  rateLimitRedisLatency,
  rateLimitRedisConcurrent,
  rateLimitQueued,
  rateLimitRegistry,
];
