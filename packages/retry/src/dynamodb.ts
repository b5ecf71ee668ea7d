/**
 * `@breakwater/retry/dynamodb`: the DynamoDB retry-budget store, shared by the fleet.
 */
export { type DynamoBudgetStoreOptions, dynamoBudgetStore } from './stores/dynamodb.js';
