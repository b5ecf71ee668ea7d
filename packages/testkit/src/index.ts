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
  createTestTable,
  DYNALITE_CLIENT_CONFIG,
  type DynamoFixture,
  dynaliteClient,
  dynamoFixture,
  startDynalite,
} from './dynamo-fixture.js';
export { type FakeClock, fakeClock } from './fake-clock.js';
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
export { SERVICES_KEY, type ServiceAvailability } from './service-availability.js';
export {
  describeWithDynamo,
  describeWithPostgres,
  describeWithRedis,
  describeWithRedisCluster,
  services,
} from './services.js';
export { sourceNodeArgs } from './source-node-args.js';
export { workspaceSources } from './workspace-sources.js';
