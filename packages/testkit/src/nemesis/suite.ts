/**
 * The nemesis suite: every scenario, once per fault of its fault set and once with all of them
 * mixed, each judged by its invariants; and the table docs/RELIABILITY.md shows.
 */
import { CLUSTER_FAULTS } from './cluster-faults.js';
import { type FaultName, REPLICATION_FAULTS } from './faults.js';
import type { RunScenarioOptions, Scenario, ScenarioReport } from './scenario.js';
import { runScenario } from './scenario.js';
import { BREAKER_FAULTS, breakerScenario } from './scenarios/breaker.js';
import { BREAKER_DYNAMODB_FAULTS, breakerDynamoScenario } from './scenarios/breaker-dynamodb.js';
import { BREAKER_FLEET_FAULTS, breakerFleetScenario } from './scenarios/breaker-fleet.js';
import {
  BULKHEAD_FAULTS,
  BULKHEAD_QUOTA_FAULTS,
  bulkheadQuotaScenario,
  bulkheadQuotaTopologyScenario,
  bulkheadScenario,
} from './scenarios/bulkhead.js';
import { CACHE_FAULTS, cacheScenario } from './scenarios/cache.js';
import {
  RATE_LIMIT_FAULTS,
  RATE_LIMIT_RESERVE_BATCH,
  rateLimitScenario,
} from './scenarios/rate-limit.js';
import {
  RATE_LIMIT_DYNAMODB_FAULTS,
  rateLimitDynamoScenario,
} from './scenarios/rate-limit-dynamodb.js';
import { RETRY_BUDGET_FAULTS, retryBudgetScenario } from './scenarios/retry-budget.js';
import {
  WRITE_BEHIND_FAULTS,
  WRITE_BEHIND_WAIT_FAULTS,
  writeBehindScenario,
} from './scenarios/write-behind.js';

/** A pattern's scenario factory and its fault set. */
export interface SuiteEntry {
  /** The pattern, e.g. `rate-limit`. */
  pattern: string;
  /** Its fault set. */
  faults: readonly FaultName[];
  /** Builds the scenario for a subset of the faults. */
  scenario(faults: readonly FaultName[]): Scenario<unknown>;
}

/** The fault set of a scenario run under Redis Sentinel: its failover, alone. */
const SENTINEL_FAULTS: readonly FaultName[] = ['sentinel-failover'];

/**
 * `entry`, then the same scenario on the two other topologies: `<pattern>-cluster` on a Redis
 * Cluster with replicas (the policy's slot moved and its master failed over,
 * {@link CLUSTER_FAULTS}), and `<pattern>-sentinel`, whose clients find the primary through Redis
 * Sentinel while it promotes the replica of a SIGKILLed primary. The scenario's checkers judge those faults by what their
 * fault entries say: the Cluster's keep the store's state, Sentinel's loses what the replica had
 * not received.
 */
function withTopologies(entry: SuiteEntry): SuiteEntry[] {
  return [entry, ...topologyVariants(entry)];
}

/** `entry` on a Redis Cluster and under Sentinel, with their faults (not `entry` itself). */
function topologyVariants(entry: SuiteEntry): SuiteEntry[] {
  return [
    { ...entry, pattern: `${entry.pattern}-cluster`, faults: CLUSTER_FAULTS },
    { ...entry, pattern: `${entry.pattern}-sentinel`, faults: SENTINEL_FAULTS },
  ];
}

/** Every scenario of the suite. */
export const NEMESIS_SUITE: readonly SuiteEntry[] = [
  ...withTopologies({
    pattern: 'rate-limit',
    faults: RATE_LIMIT_FAULTS,
    scenario: (faults) => rateLimitScenario(faults) as Scenario<unknown>,
  }),
  {
    // Reservation mode: batches of 5 permits spent locally, through the outages and restarts too.
    pattern: 'rate-limit-reserve',
    faults: RATE_LIMIT_FAULTS,
    scenario: (faults) =>
      rateLimitScenario(faults, 3, 'local', {
        reserve: { batch: RATE_LIMIT_RESERVE_BATCH },
      }) as Scenario<unknown>,
  },
  {
    // On DynamoDB (dynalite in a process of its own): its pause, crashes and links, and clock
    // jumps, which DynamoDB decisions feel (they use the replicas' clocks).
    pattern: 'rate-limit-dynamodb',
    faults: RATE_LIMIT_DYNAMODB_FAULTS,
    scenario: (faults) => rateLimitDynamoScenario(faults) as Scenario<unknown>,
  },
  {
    pattern: 'bulkhead',
    faults: BULKHEAD_FAULTS,
    scenario: (faults) => bulkheadScenario(faults) as Scenario<unknown>,
  },
  {
    // The fleet's permits on a Redis Cluster while their slot moves and their master fails over.
    pattern: 'bulkhead-cluster',
    faults: CLUSTER_FAULTS,
    scenario: (faults) => bulkheadScenario(faults) as Scenario<unknown>,
  },
  {
    // `permitQuota`: calls served from blocks of permits, per call under contention.
    pattern: 'bulkhead-quota',
    faults: BULKHEAD_QUOTA_FAULTS,
    scenario: (faults) => bulkheadQuotaScenario(faults) as Scenario<unknown>,
  },
  // Blocks of permits while their slot moves and their master fails over (the forced failover
  // losing what the lagging replica missed) and through Sentinel failovers, holders paused past
  // their leases meanwhile.
  ...topologyVariants({
    pattern: 'bulkhead-quota',
    faults: BULKHEAD_QUOTA_FAULTS,
    scenario: (faults) => bulkheadQuotaTopologyScenario(faults) as Scenario<unknown>,
  }),
  ...withTopologies({
    pattern: 'breaker',
    faults: BREAKER_FAULTS,
    scenario: (faults) => breakerScenario(faults) as Scenario<unknown>,
  }),
  ...withTopologies({
    pattern: 'retry-budget',
    faults: RETRY_BUDGET_FAULTS,
    scenario: (faults) => retryBudgetScenario(faults) as Scenario<unknown>,
  }),
  ...withTopologies({
    pattern: 'breaker-fleet',
    faults: BREAKER_FLEET_FAULTS,
    scenario: (faults) => breakerFleetScenario(faults) as Scenario<unknown>,
  }),
  {
    // On DynamoDB (dynalite in a process of its own): its pause, crashes and links.
    pattern: 'breaker-dynamodb',
    faults: BREAKER_DYNAMODB_FAULTS,
    scenario: (faults) => breakerDynamoScenario(faults) as Scenario<unknown>,
  },
  {
    // A prober paused past its probe lease (the lease shorter than the pause).
    pattern: 'breaker-fleet-lease',
    faults: ['replica-pause'],
    scenario: (faults) => breakerFleetScenario(faults, 3, true) as Scenario<unknown>,
  },
  ...withTopologies({
    pattern: 'cache',
    faults: CACHE_FAULTS,
    scenario: (faults) => cacheScenario(faults) as Scenario<unknown>,
  }),
  // Under Sentinel, `'primary'` may lose the acknowledged writes the replica had not received when
  // the primary died (excused); on a Cluster, whose failover is graceful, nothing.
  ...withTopologies({
    pattern: 'write-behind',
    faults: WRITE_BEHIND_FAULTS,
    scenario: (faults) => writeBehindScenario(faults, 'primary') as Scenario<unknown>,
  }),
  // `'wait'` loses no acknowledged write on either: 0 lost, nothing excused.
  ...withTopologies({
    pattern: 'write-behind-wait',
    faults: WRITE_BEHIND_WAIT_FAULTS,
    scenario: (faults) => writeBehindScenario(faults, 'wait') as Scenario<unknown>,
  }),
];

/** One run of the suite: which faults, and what came out. */
export interface SuiteRun {
  /** The pattern. */
  pattern: string;
  /** `mixed` for all of the pattern's faults, else the one fault. */
  fault: FaultName | 'mixed';
  /** What the run found. */
  report: ScenarioReport;
}

/** Options of {@link runSuite}. */
export interface RunSuiteOptions extends RunScenarioOptions {
  /** Only these patterns. @default all */
  patterns?: string[];
  /** Only these faults (`mixed` for the mixed run). @default every fault and `mixed` */
  faults?: (FaultName | 'mixed')[];
  /** Called after each run, e.g. to print it. */
  onRun?(run: SuiteRun): void;
}

/** Runs the suite's scenarios one after the other. */
export async function runSuite(options: RunSuiteOptions): Promise<SuiteRun[]> {
  const patterns = NEMESIS_SUITE.map((entry) => entry.pattern);
  for (const pattern of options.patterns ?? []) {
    if (!patterns.includes(pattern)) {
      throw new RangeError(
        `Expected \`patterns\` to name ${patterns.join(', ')}; got ${JSON.stringify(pattern)}`,
      );
    }
  }
  const faults = [...new Set(NEMESIS_SUITE.flatMap((entry) => entry.faults)), 'mixed'];
  for (const fault of options.faults ?? []) {
    if (!faults.includes(fault)) {
      throw new RangeError(
        `Expected \`faults\` to name ${faults.join(', ')}; got ${JSON.stringify(fault)}`,
      );
    }
  }
  const runs: SuiteRun[] = [];
  for (const entry of NEMESIS_SUITE) {
    if (options.patterns !== undefined && !options.patterns.includes(entry.pattern)) continue;
    const plan: (FaultName | 'mixed')[] = [...entry.faults, 'mixed'];
    for (const fault of plan) {
      if (options.faults !== undefined && !options.faults.includes(fault)) continue;
      // The mixed run leaves out the failover: it needs a replicated store of its own.
      const mixed = entry.faults.filter((name) => !REPLICATION_FAULTS.includes(name));
      // Nothing to mix when the set holds one fault (or only the failover): no mixed run.
      if (fault === 'mixed' && mixed.length < 2) continue;
      const scenario = entry.scenario(fault === 'mixed' ? mixed : [fault]);
      const report = await runScenario(scenario, options);
      const run = { pattern: entry.pattern, fault, report };
      runs.push(run);
      options.onRun?.(run);
    }
  }
  return runs;
}

/**
 * The markdown table of a suite's runs: fault × pattern × invariant, with the operations recorded,
 * how many the invariant judged, the worst value against its bound, the violations, and the
 * command that reproduces the row.
 */
export function reliabilityTable(runs: SuiteRun[], seconds: number): string {
  const lines = [
    '| Fault | Pattern | Invariant | Runs | Operations | Judged | Worst / bound | Violations | Reproduce |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const { pattern, fault, report } of runs) {
    for (const result of report.results) {
      const worst = result.worst === undefined ? '—' : `${result.worst} / ${result.bound ?? '—'}`;
      const command =
        `\`NEMESIS_SECONDS=${seconds} NEMESIS_SEED=${report.seed} NEMESIS_PATTERNS=${pattern} ` +
        `NEMESIS_FAULTS=${fault} pnpm nemesis\``;
      lines.push(
        `| ${fault} | ${pattern} | ${result.invariant} | 1 | ${report.operations} | ` +
          `${result.checked} | ${worst} | ` +
          `${result.violations.length} | ${command} |`,
      );
    }
  }
  return lines.join('\n');
}
