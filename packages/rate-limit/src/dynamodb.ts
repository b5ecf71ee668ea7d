/**
 * `@breakwater/rate-limit/dynamodb`: the DynamoDB store. Needs `@aws-sdk/client-dynamodb` (a peer
 * dependency you install).
 *
 * @module @breakwater/rate-limit/dynamodb
 */
export { type DynamoStoreOptions, dynamoStore } from './stores/dynamodb.js';
