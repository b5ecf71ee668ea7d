/**
 * `@breakwater/cache/dynamodb`: the DynamoDB L2 store and a table helper. A separate entry point
 * so that users of the other stores never load the AWS SDK.
 *
 * @module @breakwater/cache/dynamodb
 */
export { createTable } from '@breakwater/core/dynamodb';
export {
  type DynamoStoreOptions,
  dynamoStore,
  MAX_CAS_ATTEMPTS,
} from './stores/dynamodb.js';
export {
  createWriteQueueTable,
  type DynamoWriteBehindQueueOptions,
  dynamoWriteBehindQueue,
} from './write-behind/dynamodb-queue.js';
