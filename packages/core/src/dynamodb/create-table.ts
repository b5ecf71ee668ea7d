/**
 * Creates the one table every Breakwater DynamoDB store uses (Principle 9): string partition key
 * `pk`, on-demand billing, expiry on the numeric attribute `ttl` (epoch seconds). Meant for tests
 * and local development; production tables belong in infrastructure code.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { systemClock } from '../clock.js';
import { StoreError, StoreTimeoutError } from '../errors.js';
import { toStoreError } from '../store/calls.js';
import { expectNonEmptyString, expectOneOf, expectPositive } from '../validate.js';
import { isAwsError } from './error-name.js';

/** The partition key attribute of Breakwater tables. */
export const PARTITION_KEY = 'pk';

/** The expiry attribute of Breakwater tables (epoch seconds). */
export const TTL_ATTRIBUTE = 'ttl';

/** The sort key attribute of Breakwater queue tables (`layout: 'queue'`). */
export const SORT_KEY = 'sk';

/**
 * The local secondary index of Breakwater queue tables, and its string sort key attribute: it
 * orders a partition's items by what a queue needs next (keys only, strongly consistent).
 */
export const QUEUE_INDEX = 'lsk';

/** The sort key attribute of {@link QUEUE_INDEX}. */
export const QUEUE_INDEX_SORT_KEY = 'lsk';

/**
 * The key layouts {@link createTable} knows: `'store'`, the one table of every Breakwater store
 * (string partition key `pk`); `'queue'`, the table of the DynamoDB write-behind queue (string
 * partition key `pk`, string sort key `sk`, and the keys-only local secondary index `lsk` on the
 * string attribute `lsk`).
 */
export type TableLayout = 'store' | 'queue';

const STORE = 'dynamodb';
const OPERATION = 'createTable';

/** Options of {@link createTable}. */
export interface CreateTableOptions {
  /**
   * How long to wait for the table to become ACTIVE, in milliseconds.
   * @default 60000
   */
  timeoutMs?: number | undefined;
  /** Aborts the wait; the call then rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /**
   * The key layout: `'store'` for the stores, `'queue'` for the write-behind queue.
   * @default 'store'
   */
  layout?: TableLayout | undefined;
}

/** What {@link createTable} found and did. */
export interface CreateTableResult {
  /** `false` when the table already existed (the call is idempotent). */
  created: boolean;
  /**
   * `'enabled'` when expiry on `ttl` is on; `'unsupported'` when the backend has no TTL API
   * (dynalite, some local emulators), where expired items stay until a store removes them.
   */
  timeToLive: 'enabled' | 'unsupported';
}

/**
 * Creates the Breakwater table if it does not exist, waits until it is ACTIVE and enables TTL on
 * `ttl`. Safe to call again, and from concurrent processes.
 *
 * @throws {StoreError} when DynamoDB fails, or the existing table has another key schema or
 *   another TTL attribute.
 * @throws {StoreTimeoutError} when the table is not ACTIVE within `timeoutMs`.
 */
export async function createTable(
  client: DynamoDBClient,
  tableName: string,
  options: CreateTableOptions = {},
): Promise<CreateTableResult> {
  expectNonEmptyString('tableName', tableName);
  const timeoutMs = expectPositive('timeoutMs', options.timeoutMs ?? 60_000);
  const layout = expectOneOf('layout', options.layout ?? 'store', ['store', 'queue']);
  const signal = options.signal;
  try {
    const created = await createIfMissing(client, tableName, layout, signal);
    const table = await waitUntilActive(client, tableName, timeoutMs, signal);
    if (layout === 'store') expectBreakwaterKeySchema(tableName, table);
    else expectQueueKeySchema(tableName, table);
    const timeToLive = await enableTimeToLive(client, tableName, signal);
    return { created, timeToLive };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw toStoreError(error, STORE, OPERATION);
  }
}

async function createIfMissing(
  client: DynamoDBClient,
  tableName: string,
  layout: TableLayout,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    await client.send(
      new CreateTableCommand(
        layout === 'store'
          ? {
              TableName: tableName,
              AttributeDefinitions: [{ AttributeName: PARTITION_KEY, AttributeType: 'S' }],
              KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }],
              BillingMode: 'PAY_PER_REQUEST',
            }
          : {
              TableName: tableName,
              AttributeDefinitions: [
                { AttributeName: PARTITION_KEY, AttributeType: 'S' },
                { AttributeName: SORT_KEY, AttributeType: 'S' },
                { AttributeName: QUEUE_INDEX_SORT_KEY, AttributeType: 'S' },
              ],
              KeySchema: [
                { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
                { AttributeName: SORT_KEY, KeyType: 'RANGE' },
              ],
              LocalSecondaryIndexes: [
                {
                  IndexName: QUEUE_INDEX,
                  KeySchema: [
                    { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
                    { AttributeName: QUEUE_INDEX_SORT_KEY, KeyType: 'RANGE' },
                  ],
                  Projection: { ProjectionType: 'KEYS_ONLY' },
                },
              ],
              BillingMode: 'PAY_PER_REQUEST',
            },
      ),
      { abortSignal: signal },
    );
    return true;
  } catch (error) {
    if (isAwsError(error, 'ResourceInUseException')) return false;
    throw error;
  }
}

async function waitUntilActive(
  client: DynamoDBClient,
  tableName: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<TableDescription> {
  const giveUpAt = systemClock.now() + timeoutMs;
  // Local backends turn ACTIVE within a second, real tables within seconds: start fast, back off.
  let pollMs = 25;
  for (;;) {
    const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }), {
      abortSignal: signal,
    });
    if (table?.TableStatus === 'ACTIVE') return table;
    const remainingMs = giveUpAt - systemClock.now();
    if (remainingMs <= 0) {
      throw new StoreTimeoutError(
        `${STORE} table ${JSON.stringify(tableName)} was not ACTIVE within ${timeoutMs} ms ` +
          `(status ${table?.TableStatus ?? 'unknown'})`,
        { store: STORE, operation: OPERATION, deadlineMs: timeoutMs },
      );
    }
    await systemClock.sleep(Math.min(pollMs, remainingMs), signal);
    pollMs = Math.min(pollMs * 2, 1000);
  }
}

function expectBreakwaterKeySchema(tableName: string, table: TableDescription): void {
  const keySchema = table.KeySchema ?? [];
  const partitionKey = keySchema[0];
  const type = table.AttributeDefinitions?.find(
    (definition) => definition.AttributeName === PARTITION_KEY,
  )?.AttributeType;
  if (
    keySchema.length !== 1 ||
    partitionKey?.AttributeName !== PARTITION_KEY ||
    partitionKey.KeyType !== 'HASH' ||
    type !== 'S'
  ) {
    throw new StoreError(
      `${STORE} table ${JSON.stringify(tableName)} exists with another key schema; Breakwater ` +
        `needs a string partition key "${PARTITION_KEY}" and no sort key`,
      { store: STORE, operation: OPERATION },
    );
  }
}

function expectQueueKeySchema(tableName: string, table: TableDescription): void {
  const typeOf = (name: string) =>
    table.AttributeDefinitions?.find((definition) => definition.AttributeName === name)
      ?.AttributeType;
  const keys = table.KeySchema ?? [];
  const index = table.LocalSecondaryIndexes?.find((i) => i.IndexName === QUEUE_INDEX);
  const indexKeys = index?.KeySchema ?? [];
  const ok =
    keys.length === 2 &&
    keys[0]?.AttributeName === PARTITION_KEY &&
    keys[0].KeyType === 'HASH' &&
    keys[1]?.AttributeName === SORT_KEY &&
    keys[1].KeyType === 'RANGE' &&
    typeOf(PARTITION_KEY) === 'S' &&
    typeOf(SORT_KEY) === 'S' &&
    indexKeys.length === 2 &&
    indexKeys[1]?.AttributeName === QUEUE_INDEX_SORT_KEY &&
    typeOf(QUEUE_INDEX_SORT_KEY) === 'S';
  if (!ok) {
    throw new StoreError(
      `${STORE} table ${JSON.stringify(tableName)} exists with another key schema; a Breakwater ` +
        `queue table needs a string partition key "${PARTITION_KEY}", a string sort key ` +
        `"${SORT_KEY}" and a local secondary index "${QUEUE_INDEX}" on the string attribute ` +
        `"${QUEUE_INDEX_SORT_KEY}"`,
      { store: STORE, operation: OPERATION },
    );
  }
}

async function enableTimeToLive(
  client: DynamoDBClient,
  tableName: string,
  signal: AbortSignal | undefined,
): Promise<CreateTableResult['timeToLive']> {
  try {
    const { TimeToLiveDescription: ttl } = await client.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
      { abortSignal: signal },
    );
    const status = ttl?.TimeToLiveStatus;
    if (status === 'ENABLED' || status === 'ENABLING') {
      if (ttl?.AttributeName === TTL_ATTRIBUTE) return 'enabled';
      throw new StoreError(
        `${STORE} table ${JSON.stringify(tableName)} expires items on ` +
          `${JSON.stringify(ttl?.AttributeName)}; Breakwater needs "${TTL_ATTRIBUTE}"`,
        { store: STORE, operation: OPERATION },
      );
    }
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      }),
      { abortSignal: signal },
    );
    return 'enabled';
  } catch (error) {
    // dynalite and some emulators do not implement the TTL API at all.
    if (isAwsError(error, 'UnknownOperationException')) return 'unsupported';
    // A concurrent createTable enabled it between our describe and update.
    if (isAwsError(error, 'ValidationException') && /already enabled/i.test(String(error))) {
      return 'enabled';
    }
    throw error;
  }
}
