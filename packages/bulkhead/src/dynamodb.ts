/**
 * `@breakwater/bulkhead/dynamodb`: the DynamoDB permit store for fleet-wide bulkheads (your
 * `DynamoDBClient`, one Breakwater table).
 *
 * @module @breakwater/bulkhead/dynamodb
 */
export { type DynamoStoreOptions, dynamoStore } from './stores/dynamodb.js';
