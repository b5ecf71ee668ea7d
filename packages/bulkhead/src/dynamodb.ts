/**
 * `@breakwater/bulkhead/dynamodb`: the DynamoDB permit store for fleet-wide bulkheads (your
 * `DynamoDBClient`, one Breakwater table).
 */
export { type DynamoStoreOptions, dynamoStore } from './stores/dynamodb.js';
