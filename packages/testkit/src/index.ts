export {
  type AbortMarkLayersOptions,
  abortingAt,
  abortingCaller,
  abortMarkLayers,
  logOutcome,
  type MarkablePolicy,
  type MarkedOutcome,
  type MarkedRunOptions,
  markedRun,
  slowCall,
} from './abort-marks.js';
export {
  ALL_BACKENDS,
  type Backend,
  type ContractContext,
  type ContractSuiteOptions,
  type DynamoStoreContext,
  type RedisStoreContext,
  runContractSuite,
  type StoreFactories,
} from './contract.js';
export {
  type ClientOf,
  closeClientNow,
  connectWithDefaults,
  FAULTY_BACKENDS,
  type FaultyBackend,
  isNodeRedisClient,
  type NodeRedisClient,
  type NodeRedisCluster,
  REDIS_CLIENT_LIBRARIES,
  type RedisClientLibrary,
  type StoreAddress,
  type StoreClient,
} from './default-clients.js';
export {
  clientReady,
  expectAnsweredWithin,
  expectCompletesWithin,
  expectStatusEvent,
  expectStoreErrorCause,
  type PendingOutcome,
  type RecordedEvent,
  StatusRecorder,
  timedCall,
} from './degradation-checks.js';
export {
  type ChildCallReport,
  type ChildStatusReport,
  DEGRADATION_CHILD_ENV,
  DEGRADATION_CHILD_STEPS,
  type DegradationChildConfig,
  type DegradationChildReport,
  runDegradationChild,
} from './degradation-child.js';
export {
  DEGRADATION_SETTINGS,
  DYNAMODB_DEADLINE_MS,
  EXIT_WITHIN_MS,
  IMMEDIATE_SLACK_MS,
  runDegradationScenario,
  runExitScenario,
  SCHEDULING_SLACK_MS,
  type ScenarioOptions,
  settingsFor,
} from './degradation-scenario.js';
export {
  DEFAULT_DEGRADATION_CLIENTS,
  DEGRADATION_CLIENTS_ENV,
  degradationClients,
  runDegradationSuite,
} from './degradation-suite.js';
export {
  ALL_STORE_ERROR_MODES,
  type AnswerContext,
  type BuildSubject,
  type CallOutcome,
  type DegradationBuildContext,
  type DegradationSettings,
  type DegradationSubject,
  type DegradationTarget,
  type StoreErrorMode,
  type StoreStatusEvent,
  type SubjectConnection,
  subjectConnection,
} from './degradation-target.js';
export {
  createTestTable,
  DYNALITE_CLIENT_CONFIG,
  type DynamoFixture,
  dynaliteClient,
  dynamoFixture,
  startDynalite,
} from './dynamo-fixture.js';
export {
  DEFAULT_EXIT_WITHIN_MS,
  type ExitCheckOptions,
  type ExitCheckResult,
  expectExitsByItself,
} from './exit-check.js';
export {
  ACTIVE_RESOURCES_PREFIX,
  activeResources,
  CLOSED_LINE,
  reportClosed,
  waitForParent,
} from './exit-child.js';
export { type FakeClock, fakeClock } from './fake-clock.js';
export { type FaultProxy, type FaultProxyMode, startFaultProxy } from './fault-proxy.js';
export {
  ALL_FAULTS,
  type Fault,
  type FaultState,
  type FaultyDynamo,
  type FaultyRedis,
  type FaultyRedisCluster,
  type FaultyStore,
  type FaultyStoreBase,
  type FaultyStoreOf,
  type FaultyStoreOptions,
  startFaultyStore,
} from './faulty-store.js';
export {
  type FleetResult,
  type ReplicaHandle,
  type RunFleetOptions,
  runFleet,
  type SpawnReplicaOptions,
  spawnReplica,
} from './fleet.js';
export { type FindFreePortOptions, findFreePort } from './free-port.js';
export { START_REDIS_COMMAND } from './global-setup.js';
export { deleteKeysWithPrefix, TEST_PREFIX_ROOT, uniquePrefix } from './key-prefix.js';
export {
  type CollectedMetric,
  type CollectedPoint,
  installOtel,
  type OtelHarness,
} from './otel.js';
export { type ProcessWarnings, spyOnProcessWarnings } from './process-warnings.js';
export {
  closeRedisClient,
  connectRedisClient,
  connectRedisClusterClient,
  DEFAULT_REDIS_CLIENT_KINDS,
  DEFAULT_REDIS_CLUSTER_CLIENT_KINDS,
  isNodeRedisKind,
  REDIS_CLIENT_KINDS,
  REDIS_CLUSTER_CLIENT_KINDS,
  type RedisClient,
  type RedisClientKind,
  redisClientEnv,
  redisClientFromEnv,
  redisClientKinds,
  sendRedisCommand,
} from './redis-clients.js';
export {
  type ClusterNodeAddress,
  REDIS_CLI_BINARY,
  type RedisCluster,
  type StartRedisClusterOptions,
  startRedisCluster,
} from './redis-cluster.js';
export { type RedisClusterFixture, redisClusterFixture } from './redis-cluster-fixture.js';
export { type RedisFixture, redisFixture } from './redis-fixture.js';
export {
  type RedisReplication,
  type StartRedisReplicationOptions,
  startRedisReplication,
} from './redis-replication.js';
export {
  REDIS_SERVER_BINARY,
  type RedisServer,
  type StartRedisServerOptions,
  startRedisServer,
} from './redis-server.js';
export {
  REPLICA_COUNT_ENV,
  REPLICA_INDEX_ENV,
  RESULT_LINE_PREFIX,
  type ReplicaIdentity,
  replicaIdentity,
  reportMessage,
  reportResult,
} from './replica.js';
export {
  type FakeLambdaContext,
  type FreezeThaw,
  type FrozenContainer,
  freezeThaw,
  type InvokeOptions,
  type JumpClock,
  jumpClock,
  type SendingClient,
} from './serverless.js';
export { SERVICES_KEY, type ServiceAvailability } from './service-availability.js';
export {
  describeWithDynamo,
  describeWithPostgres,
  describeWithRedis,
  describeWithRedisCluster,
  services,
} from './services.js';
export { countSignalReads, type SignalReads } from './signal-reads.js';
export { sourceNodeArgs } from './source-node-args.js';
export {
  causeChain,
  describeCauseChain,
  errorKinds,
  isStoreErrorLike,
  isStoreTimeoutErrorLike,
} from './store-error-brand.js';
export { workspaceSources } from './workspace-sources.js';
