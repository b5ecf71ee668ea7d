/**
 * Dead letters in DynamoDB, in a table with the queue layout (string partition key `pk`, string
 * sort key `sk`; `createTable(client, name, { layout: 'queue' })`, the table of the write-behind
 * queue), TTL on the numeric attribute `ttl`.
 *
 * Item shapes (`<ns>` is `<prefix>:retry-dead-letters`; a stream name is escaped as key names are):
 *
 * | pk                          | sk          | attributes                                          |
 * | --------------------------- | ----------- | --------------------------------------------------- |
 * | `<ns>:<stream>:entries:`    | entry id    | `f` fields (map of strings), `r` failed replays,    |
 * |                             |             | `e` last replay error, `c` claim token, `cu` claim  |
 * |                             |             | until (epoch ms), `ttl` (epoch s)                   |
 * | `<ns>:registry:streams:`    | stream name | `s` the stream name                                 |
 *
 * An entry id is `<epoch ms, 16 digits>-<sequence, 6 digits>-<replica, 8 hex>`: one partition per
 * stream, ordered by `sk`, so a page is one strongly consistent Query from the last id seen.
 * A replay is claimed by a conditional UpdateItem (no unexpired claim) and completed by a
 * DeleteItem conditional on its claim token, so one replica only replays an entry at a time.
 *
 * Clock: ids and claim leases use the client's clock. Replicas whose clocks differ by `s` ms can
 * append out of order by up to `s` ms (paging never lists an entry twice, but an entry appended
 * behind a page already read waits for the next listing); keep skew well below `claimMs`, which a
 * replica ahead by `s` ms shortens by `s`.
 */
import { randomBytes } from 'node:crypto';
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type Clock,
  describeValue,
  expectNonEmptyString,
  expectObject,
  expectPositive,
  resolveStoreOptions,
  StoreCalls,
  type StoreOp,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  createTable,
  DEFAULT_KEY_PREFIX,
  dynamoProbe,
  isAwsError,
  keyBuilder,
  PARTITION_KEY,
  SORT_KEY,
  TTL_ATTRIBUTE,
} from '@breakwater/core/dynamodb';
import type { DeadLetterQueue, DeadLetterQueueOptions } from '../dead-letter-queue.js';
import type { ClaimResult, DeadLetterBackend } from '../dead-letters/backend.js';
import type { EntryFields, StoredDeadLetter } from '../dead-letters/entry-fields.js';
import { deadLetterQueue, resolveQueueOptions } from '../dead-letters/queue.js';
import { DYNAMO_DEAD_LETTERS_OPTIONS } from '../known-options.js';
import { retryTelemetry } from '../telemetry.js';

/** Options of {@link dynamoDeadLetters}. */
export interface DynamoDeadLettersOptions extends DeadLetterQueueOptions {
  /** Your DynamoDB client. The queue never creates or destroys it. */
  client: DynamoDBClient;
  /**
   * A table with the queue layout (string partition key `pk`, string sort key `sk`, TTL on
   * `ttl`): the write-behind queue's table serves. `createTable(client, name, { layout: 'queue' })`
   * in tests; infrastructure code (infra/) in production.
   */
  tableName: string;
  /**
   * First segment of every partition key; use one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string | undefined;
  /**
   * How long an entry is kept, in milliseconds: its `ttl` is set this far after its append, and
   * an expired entry is never listed nor replayed (DynamoDB deletes it within days).
   * @default 1209600000 (14 days)
   */
  retentionMs?: number | undefined;
  /**
   * The clock of entry ids, expiry and replay claims (see the module notes on skew).
   * @default systemClock
   */
  clock?: Clock | undefined;
  /**
   * Deadline of each queue operation, in milliseconds (> 0, ≤ 2³¹−1): one that has not finished
   * by then fails with a `StoreTimeoutError`, its requests aborted.
   * @default 500 (core's `STORE_DEFAULTS.deadlineMs`)
   */
  storeDeadlineMs?: number | undefined;
  /**
   * After this many consecutive failed operations the store is `degraded`: every operation fails
   * at once with a `StoreError` until a background probe succeeds.
   * @default 3 (core's `STORE_DEFAULTS.failureThreshold`)
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the store is degraded, how often it is probed (a GetItem), in milliseconds.
   * @default 1_000 (core's `STORE_DEFAULTS.probeIntervalMs`)
   */
  storeProbeIntervalMs?: number | undefined;
}

type Item = Record<string, AttributeValue>;

const ID = /^\d{16}-\d{6}-[0-9a-f]{8}$/;
const DEFAULT_RETENTION_MS = 14 * 86_400_000;
/** The largest page DynamoDB is asked for; a caller's larger page takes several Queries. */
const QUERY_LIMIT = 1000;

/** Entry ids of this replica: time, then a sequence that orders ids of one millisecond. */
function idMaker(clock: Clock): () => string {
  const replica = randomBytes(4).toString('hex');
  let lastMs = 0;
  let sequence = 0;
  return () => {
    const now = Math.max(clock.now(), lastMs);
    sequence = now === lastMs ? sequence + 1 : 0;
    lastMs = now;
    return `${String(now).padStart(16, '0')}-${String(sequence).padStart(6, '0')}-${replica}`;
  };
}

/**
 * A {@link DeadLetterQueue} in DynamoDB, shared by every replica using the table and prefix.
 *
 * @example
 * import { dynamoDeadLetters } from '@breakwater/retry/dynamodb';
 * const queue = dynamoDeadLetters({ client: new DynamoDBClient({}), tableName: 'breakwater-queue' });
 * const r = retry({ name: 'charge', maxAttempts: 5, deadLetter: queue.append });
 * // later, once the dependency is back:
 * await queue.replayAll((entry) => charge(entry.input as Order), { concurrency: 4 });
 */
export function dynamoDeadLetters(options: DynamoDeadLettersOptions): DeadLetterQueue {
  expectObject('options', options);
  warnUnknownOptions('dynamoDeadLetters()', options, { known: DYNAMO_DEAD_LETTERS_OPTIONS });
  const client = options.client;
  if (typeof (client as { send?: unknown } | undefined)?.send !== 'function') {
    throw new TypeError(`Expected \`client\` to be a DynamoDBClient, got ${describeValue(client)}`);
  }
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const resolved = resolveQueueOptions(options);
  const retentionMs = expectPositive('retentionMs', options.retentionMs ?? DEFAULT_RETENTION_MS);
  if (options.clock !== undefined) expectObject('clock', options.clock);
  const clock = options.clock ?? systemClock;
  const prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
  const settings = resolveStoreOptions(
    {
      storeDeadlineMs: options.storeDeadlineMs,
      storeFailureThreshold: options.storeFailureThreshold,
      storeProbeIntervalMs: options.storeProbeIntervalMs,
    },
    // A queue has no answer of its own to give when DynamoDB fails: every operation rejects.
    { onStoreError: 'fail-closed' },
  );
  const pattern = 'retry-dead-letters';
  const registryPk = keyBuilder({ prefix, pattern, name: 'registry' }).dynamoPk('', 'streams');
  const pkOf = (stream: string) =>
    keyBuilder({ prefix, pattern, name: stream }).dynamoPk('', 'entries');
  const keyOf = (stream: string, id: string): Item => ({
    [PARTITION_KEY]: { S: pkOf(stream) },
    [SORT_KEY]: { S: id },
  });
  const nextId = idMaker(clock);
  const calls = new StoreCalls({
    pattern: 'retry',
    policy: options.stream ?? 'dead-letters',
    store: 'dynamodb',
    settings,
    telemetry: retryTelemetry(),
    probe: dynamoProbe(client, tableName, {
      [PARTITION_KEY]: { S: registryPk },
      [SORT_KEY]: { S: '#' },
    }),
  });
  const op = <T, A>(
    name: string,
    invoke: (arg: A, signal: AbortSignal | undefined) => Promise<T>,
  ) => calls.operation<T, A>(name, invoke, { abortable: true });
  const live = (item: Item | undefined): item is Item =>
    item !== undefined && Number(item[TTL_ATTRIBUTE]?.N ?? Infinity) * 1000 > clock.now();
  const stored = (item: Item): StoredDeadLetter => ({
    id: item[SORT_KEY]!.S!,
    fields: Object.fromEntries(Object.entries(item.f?.M ?? {}).map(([k, v]) => [k, v.S ?? ''])),
    replays: Number(item.r?.N ?? 0),
    lastReplayError: item.e?.S ?? '',
  });

  /** Runs a Query page by page until `want` live items were seen or the partition ends. */
  const query = async (
    input: Omit<QueryCommandInput, 'TableName'>,
    want: number,
    signal: AbortSignal | undefined,
  ): Promise<Item[]> => {
    const found: Item[] = [];
    let start: Item | undefined;
    do {
      const answer = await client.send(
        new QueryCommand({
          ...input,
          TableName: tableName,
          ConsistentRead: true,
          Limit: Math.min(QUERY_LIMIT, want - found.length),
          ...(start !== undefined && { ExclusiveStartKey: start }),
        }),
        { abortSignal: signal },
      );
      for (const item of answer.Items ?? []) if (live(item)) found.push(item);
      start = answer.LastEvaluatedKey;
    } while (start !== undefined && found.length < want);
    return found;
  };
  /** Entries of `stream` after `after`, oldest first (newest first with `newestFirst`). */
  const entries = (
    stream: string,
    after: string | undefined,
    want: number,
    signal: AbortSignal | undefined,
    newestFirst = false,
  ) =>
    query(
      {
        KeyConditionExpression: after === undefined ? '#pk = :pk' : '#pk = :pk AND #sk > :after',
        ExpressionAttributeNames: {
          '#pk': PARTITION_KEY,
          ...(after !== undefined && { '#sk': SORT_KEY }),
        },
        ExpressionAttributeValues: {
          ':pk': { S: pkOf(stream) },
          ...(after !== undefined && { ':after': { S: after } }),
        },
        ScanIndexForward: !newestFirst,
      },
      want,
      signal,
    );
  const conditionFailed = (error: unknown) => isAwsError(error, 'ConditionalCheckFailedException');

  const appendOp: StoreOp<string, [string, EntryFields]> = op(
    'append',
    async ([stream, fields], signal) => {
      // The stream is registered first: a registered stream without its entry lists empty, while
      // an entry of an unregistered stream would be invisible to `streams()`.
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { [PARTITION_KEY]: { S: registryPk }, [SORT_KEY]: { S: stream }, s: { S: stream } },
        }),
        { abortSignal: signal },
      );
      const id = nextId();
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            ...keyOf(stream, id),
            f: { M: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { S: v }])) },
            r: { N: '0' },
            [TTL_ATTRIBUTE]: { N: String(Math.ceil((clock.now() + retentionMs) / 1000)) },
          },
          // Never overwrite: ids are unique per replica, and this proves it.
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
        { abortSignal: signal },
      );
      return id;
    },
  );
  const listOp: StoreOp<Item[], [string, string | undefined, number]> = op(
    'list',
    ([stream, after, count], signal) => entries(stream, after, count, signal),
  );
  const lastOp: StoreOp<Item[], string> = op('last', (stream, signal) =>
    entries(stream, undefined, 1, signal, true),
  );
  const getItem = async (stream: string, id: string, signal: AbortSignal | undefined) => {
    const { Item: item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: keyOf(stream, id), ConsistentRead: true }),
      { abortSignal: signal },
    );
    return live(item) ? item : undefined;
  };
  const getOp: StoreOp<Item | undefined, [string, string]> = op('get', ([stream, id], signal) =>
    getItem(stream, id, signal),
  );
  const claimOp: StoreOp<ClaimResult, [string, string, string, number]> = op(
    'claim',
    async ([stream, id, token, leaseMs], signal) => {
      const now = clock.now();
      try {
        const { Attributes: item } = await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: keyOf(stream, id),
            UpdateExpression: 'SET c = :token, cu = :until',
            ConditionExpression:
              'attribute_exists(#pk) AND #ttl > :nowS AND (attribute_not_exists(cu) OR cu <= :now)',
            ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: {
              ':token': { S: token },
              ':until': { N: String(now + leaseMs) },
              ':now': { N: String(now) },
              ':nowS': { N: String(Math.floor(now / 1000)) },
            },
            ReturnValues: 'ALL_NEW',
          }),
          { abortSignal: signal },
        );
        return stored(item!);
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        // Missing (replayed, removed, expired) or held by another replica: tell which.
        return (await getItem(stream, id, signal)) === undefined ? 'missing' : 'claimed';
      }
    },
  );
  /** A write conditional on our claim; a lost claim (expired, taken over) is not an error. */
  const withClaim = async (send: () => Promise<unknown>): Promise<void> => {
    try {
      await send();
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  };
  const completeOp: StoreOp<void, [string, string, string]> = op(
    'complete',
    ([stream, id, token], signal) =>
      withClaim(() =>
        client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: keyOf(stream, id),
            ConditionExpression: 'c = :token',
            ExpressionAttributeValues: { ':token': { S: token } },
          }),
          { abortSignal: signal },
        ),
      ),
  );
  const releaseOp: StoreOp<void, [string, string, string, string]> = op(
    'release',
    ([stream, id, token, errorJson], signal) =>
      withClaim(() =>
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: keyOf(stream, id),
            UpdateExpression: 'SET e = :error ADD r :one REMOVE c, cu',
            ConditionExpression: 'c = :token',
            ExpressionAttributeValues: {
              ':token': { S: token },
              ':error': { S: errorJson },
              ':one': { N: '1' },
            },
          }),
          { abortSignal: signal },
        ),
      ),
  );
  const deleteItem = async (stream: string, id: string, signal: AbortSignal | undefined) => {
    const { Attributes: old } = await client.send(
      new DeleteItemCommand({
        TableName: tableName,
        Key: keyOf(stream, id),
        ReturnValues: 'ALL_OLD',
      }),
      { abortSignal: signal },
    );
    return live(old);
  };
  const removeOp: StoreOp<boolean, [string, string]> = op('remove', ([stream, id], signal) =>
    deleteItem(stream, id, signal),
  );
  const keysOnly = (stream: string, signal: AbortSignal | undefined) =>
    query(
      {
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY, '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':pk': { S: pkOf(stream) } },
        ProjectionExpression: '#pk, #sk, #ttl',
      },
      Number.POSITIVE_INFINITY,
      signal,
    );
  const sizeOp: StoreOp<number, string> = op(
    'size',
    async (stream, signal) => (await keysOnly(stream, signal)).length,
  );
  const trimOp: StoreOp<number, [string, number]> = op('trim', async ([stream, keep], signal) => {
    const all = await keysOnly(stream, signal);
    const drop = all.slice(0, Math.max(0, all.length - keep));
    let dropped = 0;
    // In batches, so a long trim stays within the deadline where the table allows.
    for (let i = 0; i < drop.length; i += 25) {
      const batch = drop.slice(i, i + 25);
      const removed = await Promise.all(
        batch.map((item) => deleteItem(stream, item[SORT_KEY]!.S!, signal)),
      );
      dropped += removed.filter(Boolean).length;
    }
    return dropped;
  });
  const hasStreamOp: StoreOp<boolean, string> = op('hasStream', async (stream, signal) => {
    const { Item: item } = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { [PARTITION_KEY]: { S: registryPk }, [SORT_KEY]: { S: stream } },
        ConsistentRead: true,
      }),
      { abortSignal: signal },
    );
    return item !== undefined;
  });
  const streamsOp: StoreOp<Item[], void> = op('streams', (_, signal) =>
    query(
      {
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        ExpressionAttributeValues: { ':pk': { S: registryPk } },
      },
      Number.POSITIVE_INFINITY,
      signal,
    ),
  );

  const backend: DeadLetterBackend = {
    append: async (stream, fields) => appendOp.run([stream, fields]),
    page: async (stream, after, count, signal) =>
      (await listOp.run([stream, after, count], signal)).map(stored),
    last: async (stream, signal) => (await lastOp.run(stream, signal))[0]?.[SORT_KEY]?.S,
    compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    isId: (id) => ID.test(id),
    async get(stream, id) {
      const item = await getOp.run([stream, id]);
      return item === undefined ? undefined : stored(item);
    },
    claim: async (stream, id, token, leaseMs) => claimOp.run([stream, id, token, leaseMs]),
    complete: async (stream, id, token) => completeOp.run([stream, id, token]),
    release: async (stream, id, token, errorJson) => releaseOp.run([stream, id, token, errorJson]),
    remove: async (stream, id) => removeOp.run([stream, id]),
    size: async (stream) => sizeOp.run(stream),
    trim: async (stream, keep) => trimOp.run([stream, keep]),
    hasStream: async (stream) => hasStreamOp.run(stream),
    streams: async () => (await streamsOp.run(undefined)).map((item) => item.s?.S ?? '').sort(),
    get status() {
      return calls.status;
    },
    onStatusChange: (listener) => calls.onStatusChange(listener),
    close: () => calls.close(),
  };
  return deadLetterQueue(backend, resolved);
}

/**
 * Creates a table with the queue layout for {@link dynamoDeadLetters} (idempotent; for tests and
 * local development). Same as `createTable(client, tableName, { layout: 'queue' })` of
 * `@breakwater/core/dynamodb`.
 */
export function createDeadLetterTable(
  client: DynamoDBClient,
  tableName: string,
  options: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined } = {},
) {
  return createTable(client, tableName, { ...options, layout: 'queue' });
}
