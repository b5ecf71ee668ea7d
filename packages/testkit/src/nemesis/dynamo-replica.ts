/**
 * The DynamoDB side of a nemesis replica: where the store is (through this replica's fault proxy)
 * and a client configured as a service facing a failing network would configure it.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DYNALITE_CLIENT_CONFIG } from '../default-clients.js';

/**
 * Environment variable carrying a DynamoDB scenario's store to its replicas (JSON
 * `{ endpoint, tableName }`, the endpoint being the replica's fault proxy).
 */
export const DYNAMO_STORE_ENV = 'BREAKWATER_NEMESIS_DYNAMO';

/** Which store a replica's policy keeps its state in (a scenario parameter). */
export type NemesisStoreKind = 'redis' | 'dynamodb';

/** A replica's DynamoDB client and table. */
export interface ReplicaDynamo {
  client: DynamoDBClient;
  tableName: string;
}

/**
 * How long the SDK waits for a connection and for a response, in ms. The policies abort every
 * request at their store deadline (each store call passes its `abortSignal`), so these only bound
 * requests nobody aborts; they mirror the Redis replicas' `connectTimeout` / `socketTimeout`.
 */
const CONNECTION_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 1_000;

/**
 * The replica's DynamoDB client, on the endpoint {@link DYNAMO_STORE_ENV} names: one attempt per
 * request (`maxAttempts: 1`: the SDK's own retries back off for 100 ms and more, past any store
 * deadline, and the stores retry their conditional writes themselves), and connection and request
 * timeouts so that a blackholed link cannot hold a request forever. Resolves once one request
 * went through (DescribeTable): the SDK loads lazily and connects on first use, which on a busy
 * machine takes longer than a store deadline, and a service's client is warm anyway. (Cold, the
 * fleet's first store calls all missed their deadline, before any fault.)
 */
export async function replicaDynamo(): Promise<ReplicaDynamo> {
  const raw = process.env[DYNAMO_STORE_ENV];
  if (raw === undefined) {
    throw new Error(
      `Missing ${DYNAMO_STORE_ENV}: a replica with params.store 'dynamodb' runs in a scenario with store 'dynamodb'`,
    );
  }
  const { endpoint, tableName } = JSON.parse(raw) as { endpoint: string; tableName: string };
  // The SDK warns once per process that it will soon need Node 22: noise in the replica's stderr.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new DynamoDBClient({
    ...DYNALITE_CLIENT_CONFIG,
    endpoint,
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
    },
  });
  await client.send(new DescribeTableCommand({ TableName: tableName }));
  return { client, tableName };
}
