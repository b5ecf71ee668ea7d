/**
 * `@breakwater/retry/dynamodb`: the DynamoDB retry-budget store, shared by the fleet, and dead
 * letters in DynamoDB.
 *
 * @module @breakwater/retry/dynamodb
 */

export type {
  DeadLetterQueue,
  ListDeadLettersOptions,
  ReplayAllOptions,
  ReplayAllResult,
} from './dead-letter-queue.js';
export { type DynamoBudgetStoreOptions, dynamoBudgetStore } from './stores/dynamodb.js';
export {
  createDeadLetterTable,
  type DynamoDeadLettersOptions,
  dynamoDeadLetters,
} from './stores/dynamodb-dead-letters.js';
