/**
 * `@breakwater/circuit-breaker/dynamodb`: the DynamoDB store. Needs the optional peer
 * `@aws-sdk/client-dynamodb`. `createTable(client, tableName)` creates a table it can use (tests,
 * local development); production tables belong in your infrastructure code (see the README).
 *
 * @module @breakwater/circuit-breaker/dynamodb
 */
export { createTable } from '@breakwater/core/dynamodb';
export {
  type DynamoBreakerStore,
  type DynamoStoreOptions,
  dynamoStore,
} from './stores/dynamodb.js';
