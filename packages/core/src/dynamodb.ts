/**
 * `@breakwater/core/dynamodb`: the DynamoDB plumbing Breakwater's stores share — the versioned
 * conditional-update helper, the table helper and the key builder. The only module of core that
 * imports `@aws-sdk/client-dynamodb`; users pass their own client.
 *
 * @module @breakwater/core/dynamodb
 */

export {
  type ConditionalUpdateOptions,
  type ConditionalUpdateResult,
  conditionalUpdate,
} from './dynamodb/conditional-update.js';
export {
  type CreateTableOptions,
  type CreateTableResult,
  createTable,
  PARTITION_KEY,
  QUEUE_INDEX,
  QUEUE_INDEX_SORT_KEY,
  SORT_KEY,
  type TableLayout,
  TTL_ATTRIBUTE,
} from './dynamodb/create-table.js';
export { isAwsError } from './dynamodb/error-name.js';
export { dynamoProbe } from './dynamodb/probe.js';
export {
  isStoreConflictError,
  StoreConflictError,
  type StoreConflictErrorOptions,
} from './dynamodb/store-conflict-error.js';
export {
  type CancellationReason,
  type TransactWriteOptions,
  type TransactWriteResult,
  transactWrite,
} from './dynamodb/transact-write.js';
export type { DynamoItem, UpdatePlan } from './dynamodb/update-expression.js';
export {
  DEFAULT_KEY_PREFIX,
  type KeyBuilder,
  type KeyBuilderOptions,
  keyBuilder,
  MAX_USER_KEY_BYTES,
  normalizeUserKey,
} from './keys.js';
export { dynamoReplicaBackend } from './registry/dynamodb.js';
