import {
  describeWithDynamo,
  describeWithRedis,
  dynamoFixture,
  type FakeClock,
  fakeClock,
  redisFixture,
} from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { memoryStore, type RateLimiter, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';
import type { RateLimitStore, StoreHandle, StoreResult } from '../store.js';
import { LONG, scriptedStore } from './helpers.js';

describe('reservation mode', () => {
  it('takes a batch per round trip and hands it out locally', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'res',
      limit: 100,
      intervalMs: 1000,
      burst: 19,
      store,
      clock,
      reserve: { batch: 10 },
    });
    const sources: string[] = [];
    for (let i = 0; i < 20; i++) sources.push((await limiter.limit('k')).source);
    expect(store.calls.consume).toBe(2);
    expect(sources.filter((s) => s === 'reservation')).toHaveLength(18);
  });

  it('concurrent callers wait for the batch on its way instead of each fetching one', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'res-concurrent',
      limit: 100,
      intervalMs: 1000,
      burst: 19,
      store,
      clock,
      reserve: { batch: 10 },
    });
    const decisions = await Promise.all(Array.from({ length: 20 }, () => limiter.limit('k')));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(store.calls.consume).toBe(2);
  });

  it('near the limit, settles for the call cost instead of a full batch', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'tail',
      limit: 10,
      intervalMs: 1000,
      burst: 4,
      clock,
      reserve: { batch: 4 },
    });
    let allowed = 0;
    for (let i = 0; i < 10; i++) if ((await limiter.limit('k')).allowed) allowed++;
    expect(allowed).toBe(5); // burst + 1: batches of 4, then 1
  });

  it('returns unused permits on close()', async () => {
    const clock = fakeClock(0);
    const store = scriptedStore();
    const limiter = rateLimiter({
      name: 'ret',
      limit: 10,
      intervalMs: 1000,
      burst: 9,
      store,
      clock,
      reserve: { batch: 10 },
    });
    await limiter.limit('k'); // takes 10, uses 1
    await limiter.close();
    expect(store.calls.refund).toBe(1);
    const fresh = rateLimiter({ name: 'ret', limit: 10, intervalMs: 1000, burst: 9, store, clock });
    expect(await fresh.peek('k', { cost: 9 })).toMatchObject({ allowed: true });
  });

  it('drops permits older than holdMs', async () => {
    const clock = fakeClock(0);
    const limiter = rateLimiter({
      name: 'hold',
      limit: 10,
      intervalMs: 1000,
      burst: 9,
      clock,
      reserve: { batch: 5, holdMs: 100 },
    });
    expect((await limiter.limit('k')).source).toBe('store');
    expect((await limiter.limit('k')).source).toBe('reservation');
    await clock.advance(100);
    expect((await limiter.limit('k')).source).toBe('store');
  });
});

describe('reservation mode: a batch the store grants after the deadline', () => {
  /** A memory store whose consumes are held until `release()`: they answer late, but they grant. */
  function lateStore(): { store: RateLimitStore; release(): void; consumes: number } {
    const inner = memoryStore();
    const held: (() => void)[] = [];
    const state = {
      consumes: 0,
      release: () => {
        for (const go of held.splice(0)) go();
      },
      store: {
        ...inner,
        kind: 'late',
        scope(shape) {
          const handle = inner.scope(shape);
          const remote: StoreHandle = {
            ...handle,
            remote: true,
            consume: (key, cost, minCost, now, signal) => {
              state.consumes++;
              return new Promise<StoreResult>((resolve) => {
                held.push(() => resolve(handle.consume(key, cost, minCost, now, signal)));
              });
            },
          };
          return remote;
        },
      } as RateLimitStore,
    };
    return state;
  }

  it('is not kept: the next call goes to the store rather than spending it', async () => {
    const late = lateStore();
    const limiter = rateLimiter({
      name: 'late-batch',
      limit: 100,
      intervalMs: 1000,
      burst: 19,
      store: late.store,
      reserve: { batch: 10 },
      storeDeadlineMs: 20,
      storeFailureThreshold: 100,
      onStoreError: 'local',
    });
    // The store answers after the call's deadline: the call is decided without it.
    const first = await limiter.limit('k');
    expect(first.source).toBe('degraded');
    // Then it grants the batch (10: the call's 1 and 9 more), which nobody asked for any more.
    late.release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = limiter.limit('k');
    late.release();
    // Kept, the 9 would pay for this call locally; dropped, the call asks the store again.
    expect((await second).source).not.toBe('reservation');
    expect(late.consumes).toBe(2);
    await limiter.close();
  });
});

/** One step of a fleet run: after `gap` ms, each of `callers` (replica numbers) asks at once. */
interface Step {
  gap: number;
  callers: number[];
}

const steps = (maxLength: number) =>
  fc.array(
    fc.record({
      gap: fc.integer({ min: 0, max: 30 }),
      callers: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 5, maxLength },
  );

/**
 * Settings that keep a store hiccup from deciding anything: a slow round trip is waited for, and a
 * failed one denies (a `'degraded'` decision, which the runs below reject) instead of admitting.
 */
const STRICT = { onStoreError: 'fail-closed', storeDeadlineMs: 10_000 } as const;

/** One limiter per replica, each on the store object it is given (a replica process has its own). */
function fleet(
  stores: RateLimitStore[],
  batch: number,
  options: {
    clock?: FakeClock;
    limit: number;
    intervalMs: number;
    burst: number;
    holdMs?: number;
  },
): RateLimiter[] {
  const { holdMs, ...limits } = options;
  return stores.map((store) =>
    rateLimiter({ name: 'fleet', ...limits, ...STRICT, store, reserve: { batch, holdMs } }),
  );
}

/** Runs `steps` against the fleet; the local clock times of the admitted calls. */
async function drive(
  limiters: RateLimiter[],
  steps: Step[],
  key: string,
  now: () => number,
  advance: (ms: number) => Promise<void>,
): Promise<number[]> {
  const admitted: number[] = [];
  for (const { gap, callers } of steps) {
    await advance(gap);
    const decisions = await Promise.all(
      callers.map((replica) => limiters[replica % limiters.length]!.limit(key)),
    );
    for (const decision of decisions) {
      expect(decision.source).not.toBe('degraded');
      if (decision.allowed) admitted.push(now());
    }
  }
  return admitted;
}

/** The most admissions in any window of `intervalMs` (times sorted, as `drive()` returns them). */
function busiestWindow(admitted: number[], intervalMs: number): number {
  let worst = 0;
  let from = 0;
  for (let to = 0; to < admitted.length; to++) {
    while (admitted[from]! + intervalMs <= admitted[to]!) from++;
    worst = Math.max(worst, to - from + 1);
  }
  return worst;
}

/**
 * The documented bound, on the local clock the memory and DynamoDB stores decide by: in any window
 * of `intervalMs` the fleet admits at most `limit + burst + replicas × (batch − 1)`.
 */
async function windowedBound(
  storesFor: (replicas: number) => RateLimitStore[],
  replicas: number,
  batch: number,
  plan: Step[],
): Promise<void> {
  const clock = fakeClock(0);
  const limit = 20;
  const burst = 9;
  const intervalMs = 1000;
  const stores = storesFor(replicas);
  const limiters = fleet(stores, batch, { clock, limit, intervalMs, burst, holdMs: 5000 });
  try {
    const admitted = await drive(
      limiters,
      plan,
      'k',
      () => clock.now(),
      (ms) => clock.advance(ms),
    );
    expect(busiestWindow(admitted, intervalMs)).toBeLessThanOrEqual(
      limit + burst + replicas * (batch - 1),
    );
  } finally {
    await Promise.all(limiters.map((limiter) => limiter.close()));
    await Promise.all([...new Set(stores)].map((store) => store.close()));
  }
}

/**
 * Conservation, on any store clock (Redis decides by its own): over an interval so long that no
 * permit comes back during the run, the fleet admits at most the capacity, and once every replica
 * has closed (returning its unused permits) a fresh limiter finds exactly the rest: reservations
 * neither mint permits nor lose them.
 */
async function conservation(
  storesFor: (replicas: number) => RateLimitStore[],
  replicas: number,
  batch: number,
  plan: Step[],
): Promise<void> {
  const capacity = 20;
  const limits = { limit: capacity, intervalMs: LONG, burst: capacity - 1 };
  const [check, ...stores] = storesFor(replicas + 1) as [RateLimitStore, ...RateLimitStore[]];
  const limiters = fleet(stores, batch, limits);
  let admitted: number[];
  try {
    admitted = await drive(
      limiters,
      plan,
      'k',
      () => 0,
      () => Promise.resolve(),
    );
    expect(admitted.length).toBeLessThanOrEqual(capacity);
  } finally {
    await Promise.all(limiters.map((limiter) => limiter.close()));
  }
  const fresh = rateLimiter({
    name: 'fleet',
    ...limits,
    ...STRICT,
    store: check,
    denyCache: false,
  });
  let rest = 0;
  while (rest <= capacity && (await fresh.limit('k')).allowed) rest++;
  await fresh.close();
  await Promise.all([...new Set([check, ...stores])].map((store) => store.close()));
  expect(admitted.length + rest).toBe(capacity);
}

const replicaCount = fc.integer({ min: 2, max: 5 });
const batchSize = fc.integer({ min: 2, max: 6 });

describe('reservation mode: the fleet bound', () => {
  describe('memory store (one store object shared in process)', () => {
    const shared = (replicas: number) => Array(replicas).fill(memoryStore()) as RateLimitStore[];

    it('admits at most limit + burst + replicas × (batch − 1) in any interval', async () => {
      await fc.assert(
        fc.asyncProperty(replicaCount, batchSize, steps(300), (replicas, batch, plan) =>
          windowedBound(shared, replicas, batch, plan),
        ),
        { numRuns: 60 },
      );
    });

    it('neither mints nor loses permits', async () => {
      await fc.assert(
        fc.asyncProperty(replicaCount, batchSize, steps(40), (replicas, batch, plan) =>
          conservation(shared, replicas, batch, plan),
        ),
        { numRuns: 60 },
      );
    });
  });

  describeWithRedis('Redis store (one store and connection per replica)', () => {
    const redis = redisFixture();

    it('neither mints nor loses permits', async () => {
      const clients = Array.from({ length: 6 }, () => redis.newClient());
      await fc.assert(
        fc.asyncProperty(replicaCount, batchSize, steps(40), (replicas, batch, plan) => {
          const prefix = redis.uniquePrefix();
          const stores = (n: number) =>
            clients.slice(0, n).map((client) => redisStore({ client, prefix }));
          return conservation(stores, replicas, batch, plan);
        }),
        { numRuns: 20 },
      );
    });
  });

  describeWithDynamo('DynamoDB store (one store per replica)', () => {
    const dynamo = dynamoFixture();
    const storesFor = (replicas: number) => {
      const prefix = dynamo.uniquePrefix();
      return Array.from({ length: replicas }, () =>
        dynamoStore({ client: dynamo.client, tableName: dynamo.tableName, prefix }),
      );
    };

    it('admits at most limit + burst + replicas × (batch − 1) in any interval', async () => {
      await fc.assert(
        fc.asyncProperty(replicaCount, batchSize, steps(120), (replicas, batch, plan) =>
          windowedBound(storesFor, replicas, batch, plan),
        ),
        { numRuns: 10 },
      );
    });

    it('neither mints nor loses permits', async () => {
      await fc.assert(
        fc.asyncProperty(replicaCount, batchSize, steps(40), (replicas, batch, plan) =>
          conservation(storesFor, replicas, batch, plan),
        ),
        { numRuns: 10 },
      );
    });
  });
});
