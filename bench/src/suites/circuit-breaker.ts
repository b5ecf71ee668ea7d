/**
 * What `@breakwater/circuit-breaker` adds to a call while the breaker is closed, against the
 * breakers users would pick instead: cockatiel's `circuitBreaker()` and opossum (without and with
 * its per-call timeout). Two paths: the call succeeds, and the call fails (the breaker is set up
 * never to trip, so every operation takes the failure path of a closed breaker). The Redis-store
 * case shows that a fleet-shared breaker costs what a local one does on the closed path: it counts
 * locally and flushes every `syncIntervalMs`, with no round trip per call. It runs on an ioredis
 * client and, as its `(node-redis)` twin, on a node-redis one.
 */
import { type CircuitBreaker, circuitBreaker } from '@breakwater/circuit-breaker';
import { type RedisBreakerStore, redisStore } from '@breakwater/circuit-breaker/redis';
import { type Attributes, metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { circuitBreaker as cockatielBreaker, handleAll, SamplingBreaker } from 'cockatiel';
import Opossum from 'opossum';
import type { BenchCase, Suite } from '../harness.js';
import {
  type BenchRedis,
  openRedis,
  type RedisClientLibrary,
  withNodeRedisTwin,
} from '../redis-clients.js';

const BREAKWATER = '@breakwater/circuit-breaker';
const COCKATIEL = 'cockatiel';
const OPOSSUM = 'opossum';

/** The protected call: an async function that does no I/O, so any wrapper cost is visible. */
async function readValue(): Promise<number> {
  return 42;
}

const failure = new Error('upstream failed');

/** A protected call that always fails. */
async function failValue(): Promise<number> {
  throw failure;
}

const swallow = (): void => {};

/** Thresholds no benchmark run can reach, so the failure path never opens a breaker. */
const NEVER_TRIPS = { failureRatio: 1, minimumThroughput: 1_000_000_000 } as const;

interface Breakers {
  memory: CircuitBreaker;
  memoryTimeout: CircuitBreaker;
  /** A breaker on a Redis store per client library; missing when that client could not connect. */
  redis: Partial<Record<RedisClientLibrary, CircuitBreaker>>;
  cockatiel: ReturnType<typeof cockatielBreaker>;
  opossumNoTimeout: Opossum<[], number>;
  opossumTimeout: Opossum<[], number>;
}

/**
 * Builds the breakers of one suite around `fn`. opossum binds its action at construction and
 * keeps a bucket timer, so everything is created in `setup` and shut down in `teardown`.
 */
function breakersAround(fn: () => Promise<number>) {
  let built: Breakers | undefined;
  const opened: { redis: BenchRedis; store: RedisBreakerStore }[] = [];
  const get = (): Breakers => {
    if (built === undefined) throw new Error('suite setup did not run');
    return built;
  };
  return {
    get,
    async setup(): Promise<void> {
      const redis: Breakers['redis'] = {};
      for (const library of ['ioredis', 'node-redis'] as const) {
        let client: BenchRedis | undefined;
        let store: RedisBreakerStore | undefined;
        let breaker: CircuitBreaker | undefined;
        try {
          client = await openRedis(library);
          store = redisStore({ client: client.client, prefix: `bench:${process.pid}:${library}` });
          breaker = circuitBreaker({ name: 'bench-redis', store, ...NEVER_TRIPS });
          // The first call waits for the breaker's first read; make it before measuring.
          await breaker.execute(readValue);
          redis[library] = breaker;
          opened.push({ redis: client, store });
        } catch {
          // The case then reports that Redis is not available.
          await breaker?.close().catch(() => {});
          await store?.close().catch(() => {});
          client?.closeNow();
        }
      }
      built = {
        memory: circuitBreaker({ name: 'bench', ...NEVER_TRIPS }),
        memoryTimeout: circuitBreaker({ name: 'bench-timeout', timeoutMs: 10_000, ...NEVER_TRIPS }),
        redis,
        cockatiel: cockatielBreaker(handleAll, {
          halfOpenAfter: 10_000,
          breaker: new SamplingBreaker({
            threshold: 0.99,
            duration: 10_000,
            minimumRps: 1_000_000_000,
          }),
        }),
        opossumNoTimeout: new Opossum(fn, { timeout: false, volumeThreshold: 1_000_000_000 }),
        opossumTimeout: new Opossum(fn, { timeout: 10_000, volumeThreshold: 1_000_000_000 }),
      };
    },
    async teardown(): Promise<void> {
      if (built !== undefined) {
        await built.memory.close();
        await built.memoryTimeout.close();
        for (const breaker of Object.values(built.redis)) await breaker.close();
        built.opossumNoTimeout.shutdown();
        built.opossumTimeout.shutdown();
      }
      for (const { redis, store } of opened.splice(0)) {
        await store.close();
        await redis.close();
      }
    },
  };
}

const success = breakersAround(readValue);
const failing = breakersAround(failValue);

/**
 * The Redis-store row and its node-redis twin. The target compares with the breaker without a
 * store, so both clients are held to it.
 */
const redisCases = (breakers: () => Breakers, fn: () => Promise<number>, settle: boolean) =>
  withNodeRedisTwin(
    (library): BenchCase => ({
      name: 'breakwater circuitBreaker() + Redis store',
      library: BREAKWATER,
      note: `closed path: outcomes counted locally, flushed every 100 ms; ${library} client`,
      targets: [
        { metric: 'overhead', versus: 'breakwater circuitBreaker()', atMost: 1.5, issue: 3 },
      ],
      fn: () => {
        const redis = breakers().redis[library];
        if (redis === undefined) throw new Error(`Redis is not available (${library})`);
        const call = redis.execute(fn);
        return settle ? call.catch(swallow) : call;
      },
    }),
    { keepTargets: true },
  );

/** The success path of a closed breaker. */
export const circuitBreakerSuccess: Suite = {
  id: 'circuit-breaker/success',
  title: 'Circuit breaker around an async call that succeeds',
  description:
    'An async function returning a number, awaited bare (baseline) and through each breaker. ' +
    'The breaker stays closed: this is the per-call overhead every caller pays.',
  setup: () => success.setup(),
  teardown: () => success.teardown(),
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'breakwater circuitBreaker()',
      library: BREAKWATER,
      fn: () => success.get().memory.execute(readValue),
      role: 'ours',
      targets: [
        { metric: 'overhead', versus: 'cockatiel circuitBreaker()', atMost: 1, issue: 3 },
        { metric: 'overhead', versus: 'opossum (timeout: false)', atMost: 0.25, issue: 3 },
      ],
    },
    {
      name: 'breakwater circuitBreaker() timeoutMs',
      library: BREAKWATER,
      fn: () => success.get().memoryTimeout.execute(readValue),
      role: 'ours',
      // Like for like: only opossum times its calls out as this case does.
      pairsWith: ['opossum (timeout)'],
      targets: [{ metric: 'overhead', versus: 'opossum (timeout)', atMost: 0.25, issue: 3 }],
    },
    ...redisCases(success.get, readValue, false),
    {
      name: 'cockatiel circuitBreaker()',
      library: COCKATIEL,
      fn: () => success.get().cockatiel.execute(readValue),
      role: 'competitor',
    },
    {
      name: 'opossum (timeout: false)',
      library: OPOSSUM,
      fn: () => success.get().opossumNoTimeout.fire(),
      role: 'competitor',
    },
    {
      name: 'opossum (timeout)',
      library: OPOSSUM,
      fn: () => success.get().opossumTimeout.fire(),
      role: 'competitor',
    },
  ],
};

/** The failure path of a closed breaker. */
export const circuitBreakerFailure: Suite = {
  id: 'circuit-breaker/failure',
  title: 'Circuit breaker around an async call that fails',
  description:
    'An async function that rejects, awaited bare (baseline) and through each breaker, the ' +
    'rejection caught. Thresholds are set so no breaker ever opens: this is the cost of counting ' +
    'a failure.',
  setup: () => failing.setup(),
  teardown: () => failing.teardown(),
  baseline: { name: 'await fn() (caught)', fn: () => failValue().catch(swallow) },
  cases: [
    {
      name: 'breakwater circuitBreaker()',
      library: BREAKWATER,
      fn: () => failing.get().memory.execute(failValue).catch(swallow),
      role: 'ours',
      targets: [
        { metric: 'overhead', versus: 'cockatiel circuitBreaker()', atMost: 1, issue: 3 },
        { metric: 'overhead', versus: 'opossum (timeout: false)', atMost: 0.25, issue: 3 },
      ],
    },
    {
      name: 'breakwater circuitBreaker() timeoutMs',
      library: BREAKWATER,
      fn: () => failing.get().memoryTimeout.execute(failValue).catch(swallow),
    },
    ...redisCases(failing.get, failValue, true),
    {
      name: 'cockatiel circuitBreaker()',
      library: COCKATIEL,
      fn: () => failing.get().cockatiel.execute(failValue).catch(swallow),
      role: 'competitor',
    },
    {
      name: 'opossum (timeout: false)',
      library: OPOSSUM,
      fn: () => failing.get().opossumNoTimeout.fire().catch(swallow),
      role: 'competitor',
    },
    {
      name: 'opossum (timeout)',
      library: OPOSSUM,
      fn: () => failing.get().opossumTimeout.fire().catch(swallow),
      role: 'competitor',
    },
  ],
};

/**
 * A reader that collects only when asked, and nothing asks: the SDK aggregates every record in
 * memory, as it does between two exports of a periodic reader, and never exports.
 */
class NeverCollected extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** The breakers of the OpenTelemetry suite and the SDK one of them records into. */
interface RecordingBreakers {
  readonly provider: MeterProvider;
  readonly recording: CircuitBreaker;
  readonly plain: CircuitBreaker;
}

let recordingBreakers: RecordingBreakers | undefined;

const recordingGet = (): RecordingBreakers => {
  if (recordingBreakers === undefined) throw new Error('suite setup did not run');
  return recordingBreakers;
};

/**
 * What a recording OpenTelemetry SDK adds to a closed breaker's call (issue #18: ≤ 100 ns). Both
 * breakers run in one suite: the SDK is registered while the recording breaker makes its first
 * call (its instruments then come from the SDK's meter and stay with it) and unregistered before
 * the plain one is built, which therefore sees no SDK.
 */
export const circuitBreakerOtel: Suite = {
  id: 'circuit-breaker/otel',
  title: 'Circuit breaker with a recording OpenTelemetry SDK',
  description:
    'An async function returning a number, awaited bare (baseline), through a closed breaker ' +
    'with no SDK, and through one whose instruments record into an SDK MeterProvider with a ' +
    'reader that never exports, with the default telemetry: every call counted (an ' +
    'observable counter read at collection), the duration of one call in ' +
    '`durationSampleEvery` (64) read and recorded into the histogram.',
  async setup() {
    const reader = new NeverCollected({
      aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
    });
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    const recording = circuitBreaker({ name: 'bench-otel', ...NEVER_TRIPS });
    try {
      await recording.execute(readValue);
    } finally {
      metrics.disable();
    }
    const plain = circuitBreaker({ name: 'bench-plain', ...NEVER_TRIPS });
    await plain.execute(readValue);
    // The recording breaker must really record, and the plain one must not.
    const { resourceMetrics } = await reader.collect();
    const points = resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics.flatMap((metric): readonly { attributes: Attributes }[] => metric.dataPoints),
    );
    const names = new Set(points.map((point) => point.attributes['breakwater.policy.name']));
    if (!names.has('bench-otel') || names.has('bench-plain')) {
      throw new Error(`the SDK recorded calls of ${[...names].join(', ') || 'no breaker'}`);
    }
    recordingBreakers = { provider, recording, plain };
  },
  async teardown() {
    const built = recordingBreakers;
    recordingBreakers = undefined;
    if (built === undefined) return;
    await built.recording.close();
    await built.plain.close();
    await built.provider.shutdown();
  },
  baseline: { name: 'await fn()', fn: () => readValue() },
  cases: [
    {
      name: 'breakwater circuitBreaker()',
      library: BREAKWATER,
      fn: () => recordingGet().plain.execute(readValue),
    },
    {
      name: 'breakwater circuitBreaker(), recording SDK',
      library: '@opentelemetry/sdk-metrics',
      note: 'a MeterProvider with a reader that never exports',
      fn: () => recordingGet().recording.execute(readValue),
      targets: [{ metric: 'added', versus: 'breakwater circuitBreaker()', atMost: 100, issue: 18 }],
    },
  ],
};

/** Every circuit-breaker suite, registered in `suites/index.ts`. */
export const circuitBreakerSuites: readonly Suite[] = [
  circuitBreakerSuccess,
  circuitBreakerFailure,
  circuitBreakerOtel,
];
