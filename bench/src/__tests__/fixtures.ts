/**
 * Hand-made suite results for the report tests: fixed numbers, nothing measured.
 */
import type { CaseRole, Target } from '../comparison.js';
import type { Environment } from '../environment.js';
import type { CaseFailure, CaseMeasurement, CaseResult, SuiteResult } from '../harness.js';

interface CaseSpec {
  readonly name: string;
  /** Mean time per operation, in nanoseconds. */
  readonly meanNs: number;
  /** Margin of error of the mean, in nanoseconds. @default 1 % of the mean */
  readonly moeNs?: number;
  readonly role?: CaseRole;
  readonly pairsWith?: readonly string[];
  readonly targets?: readonly Target[];
  readonly library?: string;
  readonly note?: string;
  readonly counts?: Readonly<Record<string, number>>;
}

/** A measured case, its ratios computed against `baseline` as the harness does. */
export function measured(
  spec: CaseSpec,
  baseline?: { meanNs: number; moeNs: number },
): CaseMeasurement {
  const moeNs = spec.moeNs ?? spec.meanNs / 100;
  const base = baseline ?? { meanNs: spec.meanNs, moeNs };
  return {
    ok: true,
    name: spec.name,
    library: spec.library,
    note: spec.note,
    isBaseline: baseline === undefined,
    role: spec.role,
    pairsWith: spec.pairsWith,
    targets: spec.targets,
    counts: spec.counts,
    mode: 'async',
    batch: 100,
    samples: 1000,
    operations: 100_000,
    opsPerSec: 1e9 / spec.meanNs,
    meanNs: spec.meanNs,
    medianNs: spec.meanNs,
    p99Ns: spec.meanNs * 2,
    rmePct: (moeNs / spec.meanNs) * 100,
    moeNs,
    timeVsBaseline: spec.meanNs / base.meanNs,
    overheadNs: spec.meanNs - base.meanNs,
    overheadMoeNs: baseline === undefined ? 0 : Math.hypot(moeNs, base.moeNs),
  };
}

/** A case that threw. */
export function failed(name: string, role?: CaseRole, targets?: readonly Target[]): CaseFailure {
  return {
    ok: false,
    name,
    library: undefined,
    isBaseline: false,
    role,
    targets,
    error: 'Error: Redis is not available',
  };
}

/** A suite result: the baseline first, then `cases` measured against it. */
export function suite(
  id: string,
  baseline: CaseSpec,
  cases: readonly (CaseSpec | CaseFailure)[],
): SuiteResult {
  const base = measured(baseline);
  const results: CaseResult[] = [
    base,
    ...cases.map((spec) => ('ok' in spec ? spec : measured(spec, base))),
  ];
  return {
    id,
    title: `Title of ${id}`,
    description: undefined,
    fixedBatch: undefined,
    targetSampleNs: 25_000,
    timeMs: 750,
    rounds: 3,
    warmupMs: 150,
    cases: results,
    durationMs: 1234,
    teardownError: undefined,
  };
}

export const environment: Environment = {
  date: '2026-11-22T18:04:09.530Z',
  cpu: 'Test CPU <fast> & cheap',
  cores: 2,
  memoryGiB: 8,
  os: 'linux 6.8.0 x64',
  node: 'v20.20.2',
  v8: '11.3.244.8-node.38',
  exposedGc: true,
};

/** A small run: a breaker suite, a rate-limit suite with two Breakwater cases, a core suite. */
export function sampleResults(): SuiteResult[] {
  return [
    suite('core/policies', { name: 'await fn()', meanNs: 50 }, [{ name: 'fallback', meanNs: 130 }]),
    suite('circuit-breaker/success', { name: 'await fn()', meanNs: 50 }, [
      {
        name: 'breakwater circuitBreaker()',
        meanNs: 250,
        role: 'ours',
        targets: [
          { metric: 'overhead', versus: 'cockatiel circuitBreaker()', atMost: 1, issue: 3 },
          { metric: 'overhead', versus: 'opossum (timeout: false)', atMost: 0.25, issue: 3 },
        ],
      },
      { name: 'breakwater circuitBreaker() timeoutMs', meanNs: 650 },
      { name: 'cockatiel circuitBreaker()', meanNs: 350, role: 'competitor' },
      { name: 'opossum (timeout: false)', meanNs: 650, role: 'competitor' },
    ]),
    suite('rate-limit/redis-64', { name: '64 × EVALSHA', meanNs: 400_000 }, [
      {
        name: 'breakwater limit()',
        meanNs: 900_000,
        role: 'ours',
        targets: [{ metric: 'speedup', versus: 'RateLimiterRedis.consume()', atLeast: 1.5 }],
      },
      {
        name: 'breakwater limit(), reserve: { batch: 100 }',
        meanNs: 32_000,
        role: 'ours',
        targets: [{ metric: 'speedup', versus: 'RateLimiterRedis.consume()', atLeast: 10 }],
      },
      { name: 'RateLimiterRedis.consume()', meanNs: 560_000, role: 'competitor' },
    ]),
    suite('rate-limit/redis-latency', { name: 'EVALSHA', meanNs: 94_000 }, [
      {
        name: 'breakwater limit()',
        meanNs: 120_000,
        role: 'ours',
        targets: [{ metric: 'time', atMost: 1.2, issue: 4 }],
      },
      { name: 'RateLimiterRedis.consume()', meanNs: 114_000, role: 'competitor' },
    ]),
  ];
}
