/**
 * `@breakwater/testkit/nemesis`: the fault-injection harness (fault proxies per replica, Redis
 * process faults, client pauses), the history every replica records, the checkers of the
 * invariants, and the scenarios of the suite `pnpm nemesis` runs.
 *
 * @module @breakwater/testkit/nemesis
 */
export { type CheckResult, describeEvent, formatViolations, type Violation } from './checker.js';
export {
  CLUSTER_FAULTS,
  type ClusterFaultName,
  injectClusterFault,
  isClusterFault,
} from './cluster-faults.js';
export {
  type ForcedFailover,
  type ForceFailoverOptions,
  type NemesisCluster,
  type NemesisClusterOptions,
  type SlotMigration,
  startNemesisCluster,
} from './cluster-process.js';
export {
  type DynaliteRestartOptions,
  type NemesisDynalite,
  type NemesisDynaliteOptions,
  startNemesisDynalite,
} from './dynalite-process.js';
export {
  loadBreakerDynamoStore,
  loadRateLimitDynamoStore,
  type NemesisDynamoStoreFactory,
  type NemesisDynamoStoreOptions,
} from './dynamo-patterns.js';
export {
  DYNAMO_STORE_ENV,
  type NemesisStoreKind,
  type ReplicaDynamo,
  replicaDynamo,
} from './dynamo-replica.js';
export {
  type FaultEntry,
  type FaultInterval,
  faultIntervals,
  hits,
  lossWithin,
  lostWith,
  recordFault,
  type StateLoss,
  stateLosses,
} from './fault-log.js';
export {
  type ActiveFault,
  ALL_FAULT_NAMES,
  AOF_FAULTS,
  type FaultName,
  type FaultTargets,
  injectFault,
  REDIS_ONLY_FAULTS,
  REPLICATION_FAULTS,
  seededRandom,
} from './faults.js';
export {
  HISTORY_FILE_ENV,
  type HistoryEvent,
  type HistoryEventType,
  type HistoryRecorder,
  type Operation,
  openHistory,
  operations,
  readHistory,
  replicaHistory,
  sharedMonotonicNow,
} from './history.js';
export { checkHalfOpenProbes } from './invariants/breaker.js';
export {
  type ConvergenceBound,
  checkFleetConverges,
  checkFleetRejects,
  type FleetRejectBound,
} from './invariants/breaker-fleet.js';
export { checkStaleProbeOutcomes, type ProbeLeaseBound } from './invariants/breaker-lease.js';
export {
  blockCoverage,
  checkBulkheadConcurrency,
  checkNoStaleActions,
} from './invariants/bulkhead.js';
export {
  type CacheLoadBound,
  checkMonotonicReads,
  checkOneLoaderPerKey,
  checkStaleLoadWrites,
  type StaleWriteBound,
} from './invariants/cache.js';
export { type HolderPause, holderPauses } from './invariants/lease-pauses.js';
export {
  checkNoSilentFailOpen,
  checkRateLimitWindows,
  type RateLimitBound,
} from './invariants/rate-limit.js';
export { checkRetryBudget, type RetryBudgetBound } from './invariants/retry-budget.js';
export { checkWritesPersisted, type WriteBehindBound } from './invariants/write-behind.js';
export {
  type LinkFaults,
  type ProxyFaults,
  ShapedLink,
  validateLinkFaults,
} from './link-faults.js';
export {
  type NemesisRedis,
  type NemesisRedisOptions,
  type RestartOptions,
  startNemesisRedis,
} from './redis-process.js';
export {
  CLUSTER_NODES_ENV,
  type ReplicaRun,
  replicaRun,
  SCENARIO_PARAMS_ENV,
  SENTINEL_ENV,
} from './replica-run.js';
export {
  connectSharedResource,
  RESOURCE_PORT_ENV,
  type ResourceAction,
  type ResourceClient,
  type SharedResource,
  startSharedResource,
} from './resource.js';
export {
  type RunScenarioOptions,
  runScenario,
  type Scenario,
  type ScenarioReport,
} from './scenario.js';
export { BREAKER_FAULTS, breakerScenario } from './scenarios/breaker.js';
export { BREAKER_DYNAMODB_FAULTS, breakerDynamoScenario } from './scenarios/breaker-dynamodb.js';
export {
  BREAKER_CONVERGENCE_MS,
  BREAKER_FLEET_FAULTS,
  breakerFleetScenario,
  SHORT_PROBE_LEASE_MS,
} from './scenarios/breaker-fleet.js';
export {
  BULKHEAD_FAULTS,
  BULKHEAD_QUOTA_FAULTS,
  bulkheadQuotaScenario,
  bulkheadScenario,
  STALE_ACTIONS_AFTER_PAUSE,
} from './scenarios/bulkhead.js';
export { CACHE_FAULTS, CACHE_LOCAL_TAIL_MS, cacheScenario } from './scenarios/cache.js';
export {
  RATE_LIMIT_FAULTS,
  RATE_LIMIT_RESERVE_BATCH,
  type RateLimitScenarioOptions,
  rateLimitScenario,
} from './scenarios/rate-limit.js';
export {
  DYNAMODB_CLOCK_JUMP_MS,
  RATE_LIMIT_DYNAMODB_FAULTS,
  rateLimitDynamoScenario,
} from './scenarios/rate-limit-dynamodb.js';
export { RETRY_BUDGET_FAULTS, retryBudgetScenario } from './scenarios/retry-budget.js';
export {
  WRITE_BEHIND_DRAIN_MS,
  WRITE_BEHIND_FAULTS,
  WRITE_BEHIND_WAIT_FAULTS,
  writeBehindScenario,
} from './scenarios/write-behind.js';
export {
  type NemesisSentinel,
  type NemesisSentinelOptions,
  SENTINEL_MASTER_NAME,
  startNemesisSentinel,
} from './sentinel-process.js';
export {
  NEMESIS_SUITE,
  type RunSuiteOptions,
  reliabilityTable,
  runSuite,
  type SuiteEntry,
  type SuiteRun,
} from './suite.js';
