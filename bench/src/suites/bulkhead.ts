/**
 * What `@breakwater/bulkhead` adds to a call, against what users would pick instead: cockatiel's
 * `bulkhead()`, p-limit and bottleneck's `maxConcurrent`. Two questions:
 *
 * - the local hot path: a free slot and an empty queue, which is nearly every call of a bulkhead
 *   that is not saturated (target: no more than cockatiel's bulkhead);
 * - a fleet permit through Redis: the round trips per call (target: one to acquire, one to
 *   release, nothing else) and what they cost against the floor of two bare round trips, on an
 *   ioredis client and, as the `(node-redis)` twin rows, on a node-redis one;
 * - the same with a fleet quota (`permitQuota`, issue #18): calls served from a block of permits
 *   held in one lease. Its target, at most 0.10 store round trips per call at a steady load, is a
 *   count, not a time: setup measures it (two replicas, eight callers each) and the row's note
 *   states it with its verdict.
 */
import { bulkhead } from '@breakwater/bulkhead';
import { redisStore } from '@breakwater/bulkhead/redis';
import Bottleneck from 'bottleneck';
import { bulkhead as cockatielBulkhead } from 'cockatiel';
import pLimit from 'p-limit';
import type { BenchCase, Suite } from '../harness.js';
import {
  type BenchRedis,
  nodeRedisTwinOf,
  openRedis,
  type RedisClientLibrary,
  withNodeRedisTwin,
} from '../redis-clients.js';

const BREAKWATER = '@breakwater/bulkhead';

/** The protected call: an async function that does no I/O, so any wrapper cost is visible. */
async function readValue(): Promise<number> {
  return 42;
}

const ours = bulkhead({ name: 'bench', maxConcurrent: 10, maxQueue: 100 });
const oursClasses = bulkhead({
  name: 'bench-classes',
  maxConcurrent: 10,
  maxQueue: 100,
  classes: { critical: { reserved: 4 }, standard: { reserved: 2 }, background: { max: 4 } },
  perKey: { maxConcurrent: 5 },
});
const classOptions = { priority: 'standard', key: 'tenant-42' } as const;
const cockatiel = cockatielBulkhead(10, 100);
const limit = pLimit(10);
const limiter = new Bottleneck({ maxConcurrent: 10 });

/** The local hot path: a free slot and an empty queue. */
export const bulkheadLocal: Suite = {
  id: 'bulkhead/local',
  title: 'Bulkhead around an async call (free slot, empty queue)',
  description:
    'An async function returning a number, awaited bare (baseline) and through each ' +
    'concurrency limiter with 10 slots. Calls run one after another, so a slot is always free: ' +
    'this is the overhead every caller of an unsaturated bulkhead pays.',
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'breakwater bulkhead()',
      library: BREAKWATER,
      fn: () => ours.execute(readValue),
      role: 'ours',
      targets: [{ metric: 'overhead', versus: 'cockatiel bulkhead()', atMost: 1, issue: 5 }],
    },
    {
      name: 'breakwater bulkhead() + classes + perKey',
      library: BREAKWATER,
      note: 'three priority classes and a per-key cap; the call names its class and key',
      fn: () => oursClasses.execute(readValue, classOptions),
    },
    {
      name: 'cockatiel bulkhead()',
      library: 'cockatiel',
      fn: () => cockatiel.execute(readValue),
      role: 'competitor',
    },
    { name: 'p-limit', library: 'p-limit', fn: () => limit(readValue), role: 'competitor' },
    {
      name: 'bottleneck maxConcurrent',
      library: 'bottleneck',
      role: 'competitor',
      note: 'a scheduler with rate limiting built in; only maxConcurrent is set',
      fn: () => limiter.schedule(readValue),
    },
  ],
};

/** What the fleet suite opens in `setup` for one client library, and closes in `teardown`. */
interface FleetFixture {
  readonly client: BenchRedis;
  readonly subscriber: BenchRedis;
  readonly fleet: ReturnType<typeof bulkhead>;
  /** The same fleet bulkhead with a quota of permits (`permitQuota`). */
  readonly quota: ReturnType<typeof bulkhead>;
  readonly prefix: string;
  /** Lua script round trips (EVALSHA/EVAL) the client sent. */
  scripts: number;
  /** Measured in setup: script round trips per call. */
  roundTripsPerCall: number | undefined;
  /** Measured in setup: script round trips per call with the quota, at a steady load. */
  quotaRoundTripsPerCall: number | undefined;
}

/** Issue #18's goal for the fleet quota: store round trips per call at a steady load. */
const QUOTA_TARGET = 0.1;
/** The count the quota's target judges. */
const ROUND_TRIPS = 'store round trips per call';
/** The quota of the bench's fleet bulkheads: a block of up to 8 of the fleet's 20 permits. */
const QUOTA = 8;

const fixtures: Partial<Record<RedisClientLibrary, FleetFixture>> = {};

function current(library: RedisClientLibrary): FleetFixture {
  const fixture = fixtures[library];
  if (fixture === undefined) throw new Error('bulkhead fleet bench used before setup');
  return fixture;
}

async function openFleet(library: RedisClientLibrary): Promise<void> {
  const client = await openRedis(library);
  const subscriber = await client.duplicate().catch(async (error: unknown) => {
    await client.close();
    throw error;
  });
  const prefix = `bwbench:${process.pid}:${Date.now()}:${library}`;
  const store = redisStore({ client: client.client, subscriber: subscriber.client, prefix });
  const fleet = bulkhead({ name: 'bench-fleet', maxConcurrent: 10, maxQueue: 100, store });
  const quotaOptions = {
    name: 'bench-quota',
    maxConcurrent: 20,
    maxQueue: 100,
    permitQuota: QUOTA,
    store,
  } as const;
  const quota = bulkhead(quotaOptions);
  const state: FleetFixture = {
    client,
    subscriber,
    fleet,
    quota,
    prefix,
    scripts: 0,
    roundTripsPerCall: undefined,
    quotaRoundTripsPerCall: undefined,
  };
  client.countScripts(state);
  fixtures[library] = state;
  // Load the scripts, then count the round trips of a known number of calls.
  await fleet.execute(readValue);
  await fleet.close();
  state.scripts = 0;
  const calls = 1_000;
  for (let i = 0; i < calls; i++) await fleet.execute(readValue);
  await fleet.close();
  state.roundTripsPerCall = state.scripts / calls;
  state.quotaRoundTripsPerCall = await quotaRoundTrips(state, quotaOptions);
}

/**
 * Script round trips per call of a fleet with a quota at a steady load: two replicas (two
 * bulkheads on the store) with eight callers each, every caller making calls one after another
 * that each wait a timer turn, so that up to 16 calls run at once. Counted from the first call
 * to the last block handed back by `close()`.
 */
async function quotaRoundTrips(
  state: FleetFixture,
  options: Parameters<typeof bulkhead>[0],
): Promise<number> {
  const replicas = [bulkhead(options), bulkhead(options)];
  const callsPerCaller = 250;
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  state.scripts = 0;
  await Promise.all(
    replicas.flatMap((replica) =>
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < callsPerCaller; i++) await replica.execute(tick);
      }),
    ),
  );
  await Promise.all(replicas.map((replica) => replica.close()));
  return state.scripts / (2 * 8 * callsPerCaller);
}

async function fleetSetup(): Promise<void> {
  await openFleet('ioredis');
  await openFleet('node-redis');
}

async function fleetTeardown(): Promise<void> {
  for (const library of ['ioredis', 'node-redis'] as const) {
    const state = fixtures[library];
    delete fixtures[library];
    if (state === undefined) continue;
    await state.fleet.close();
    await state.quota.close();
    await state.client.deleteMatching(`${state.prefix}*`);
    await Promise.all([state.client.close(), state.subscriber.close()]);
  }
}

/** Two bare PINGs on the client the bulkhead uses. */
const twoPings = (library: RedisClientLibrary): BenchCase => ({
  name: '2 × PING',
  library: library === 'ioredis' ? 'ioredis' : 'redis',
  fn: async () => {
    const { client } = current(library);
    await client.ping();
    return client.ping();
  },
});

const fleetCases = withNodeRedisTwin((library) => ({
  name: 'breakwater bulkhead() + redisStore',
  library: BREAKWATER,
  fn: () => current(library).fleet.execute(readValue),
  get note() {
    const perCall = fixtures[library]?.roundTripsPerCall;
    return perCall === undefined
      ? undefined
      : `${perCall.toFixed(2)} script round trips per call (1 acquire + 1 release; ` +
          'the release runs after the call resolves, overlapping the next acquire)';
  },
}));

const quotaCases = withNodeRedisTwin(
  (library) => ({
    name: `breakwater bulkhead() + redisStore + permitQuota ${QUOTA}`,
    library: BREAKWATER,
    fn: () => current(library).quota.execute(readValue),
    get note() {
      const perCall = fixtures[library]?.quotaRoundTripsPerCall;
      if (perCall === undefined) return undefined;
      return (
        `${perCall.toFixed(3)} script round trips per call at a steady load (2 replicas × 8 ` +
        'callers); calls served from a block of permits held in one lease'
      );
    },
    counts: () => {
      const perCall = fixtures[library]?.quotaRoundTripsPerCall;
      return perCall === undefined ? undefined : { [ROUND_TRIPS]: perCall };
    },
    targets: [{ metric: 'count', count: ROUND_TRIPS, atMost: QUOTA_TARGET, issue: 18 }],
  }),
  { keepTargets: true },
);

/** A fleet permit per call through a local Redis. */
export const bulkheadFleetRedis: Suite = {
  id: 'bulkhead/fleet-redis',
  title: 'Fleet bulkhead: one permit per call through Redis, or a quota of permits',
  description:
    'Calls run one after another through a bulkhead whose 10 permits live in Redis (one Lua ' +
    'script to acquire, one to release). The baseline is two bare PINGs on the same connection: ' +
    'the floor for any design that takes and gives back a permit in the store. The ' +
    '`permitQuota` rows hold a block of permits in one lease and serve calls from it, renewing ' +
    'the block in the background (issue #18: ≤ 0.10 store round trips per call). The ' +
    '`(node-redis)` rows run the same on a node-redis client; compare them with ' +
    '`2 × PING (node-redis)`.',
  baseline: twoPings('ioredis'),
  cases: [nodeRedisTwinOf(twoPings), ...fleetCases, ...quotaCases],
  setup: fleetSetup,
  teardown: fleetTeardown,
};

/** Every bulkhead suite, in the order they run. */
export const bulkheadSuites: readonly Suite[] = [bulkheadLocal, bulkheadFleetRedis];
