/**
 * The DynamoDB stores of the patterns the nemesis runs on DynamoDB, loaded by a variable specifier
 * at run time like the rest of the patterns (see patterns.ts: the testkit does not depend on them).
 */

/** What the replicas pass a DynamoDB store factory. */
export interface NemesisDynamoStoreOptions {
  client: unknown;
  tableName: string;
  prefix: string;
}

/** A pattern's `dynamoStore` factory, as far as the nemesis uses it. */
export type NemesisDynamoStoreFactory = (options: NemesisDynamoStoreOptions) => {
  close(): Promise<void>;
};

async function load<T>(specifier: string): Promise<T> {
  // A variable specifier keeps TypeScript from resolving a package the testkit does not depend on.
  const name = specifier;
  return (await import(name)) as T;
}

/** Loads `dynamoStore` of `@breakwater/rate-limit/dynamodb`. */
export async function loadRateLimitDynamoStore(): Promise<NemesisDynamoStoreFactory> {
  return (await load<{ dynamoStore: NemesisDynamoStoreFactory }>('@breakwater/rate-limit/dynamodb'))
    .dynamoStore;
}

/** Loads `dynamoStore` of `@breakwater/circuit-breaker/dynamodb`. */
export async function loadBreakerDynamoStore(): Promise<NemesisDynamoStoreFactory> {
  return (
    await load<{ dynamoStore: NemesisDynamoStoreFactory }>('@breakwater/circuit-breaker/dynamodb')
  ).dynamoStore;
}
