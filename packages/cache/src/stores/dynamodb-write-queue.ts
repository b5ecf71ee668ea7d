/**
 * The DynamoDB write-behind queue: an outbox in a table with the queue layout (string partition
 * key `pk`, string sort key `sk`, keys-only local secondary index `lsk` on the string attribute
 * `lsk`; `createTable(client, name, { layout: 'queue' })`), TTL on the numeric attribute `ttl`.
 *
 * Item shapes (`<ns>` is `<prefix>:write-behind:<name>`):
 *
 * | pk                | sk        | attributes                                                    |
 * | ----------------- | --------- | ------------------------------------------------------------- |
 * | `<ns>:q:`         | entry id  | `k` key, `p` payload, `v` version, `t` enqueued (epoch ms),   |
 * |                   |           | `a` failed attempts (absent = 0), `lsk` claim order, `c` holder |
 * | `<ns>:n:`         | `#`       | `n` pending entries                                           |
 * | `<ns>:v:<key>`    | `#`       | `v` last version of the key, `ttl`                            |
 * | `<ns>:d:`         | letter id | `k`, `p`, `v`, `a`, `e` error, `t` failed at (epoch ms)       |
 *
 * An entry's `lsk` is `f<id>` until it is first delivered, then `h<delivered at, ms, 15 digits><id>`
 * (every delivery and `touch` rewrites it). So one strongly consistent Query on the index finds the
 * entries left idle for `claimIdleMs` (an `lsk` range below `h<now - claimIdleMs>`), oldest
 * delivery first, and another the never-delivered ones in append order; each is then taken with a
 * conditional UpdateItem (`lsk` unchanged since the Query), so two consumers never hold one entry.
 *
 * Atomicity: the pending counter changes in the same TransactWriteItems as the entry it counts
 * (append: counter `n < maxPending` + entry; complete: the deletes + the counter; dead-lettering:
 * entry delete + dead letter + counter). A transaction that loses a race (`TransactionConflict`)
 * is retried with jittered backoff, at most `maxConflictAttempts` times, then fails with a
 * `StoreConflictError`. Versions come from the key's version item through two single-item atomic
 * updates (`SET v = :nowµs IF v < :nowµs`, else `SET v = v + 1`), so concurrent appends of one key
 * never race: a version taken by an append that is then refused is simply never used.
 *
 * Clock: enqueue, delivery and failure times are the client's clock. A consumer whose clock is
 * ahead by `s` ms takes idle entries `s` ms early, so keep the skew between replicas well below
 * `claimIdleMs`. Version items expire (`ttl`) `versionRetentionMs` after their last write; versions
 * keep growing across that as long as replicas' clocks agree within `versionRetentionMs`.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type Clock,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectPositive,
  systemClock,
  toStoreError,
} from '@breakwater/core';
import {
  createTable,
  isAwsError,
  type KeyBuilder,
  keyBuilder,
  QUEUE_INDEX,
  StoreConflictError,
} from '@breakwater/core/dynamodb';
import { WriteBehindBacklogError } from '../write-behind/errors.js';
import type {
  AppendOptions,
  DeadLetter,
  FailOutcome,
  QueuedWrite,
  WriteBehindQueue,
  WriteQueueNamespace,
} from '../write-behind/queue.js';

/** Options of {@link dynamoWriteBehindQueue}. */
export interface DynamoWriteBehindQueueOptions {
  /** Your DynamoDB client. The queue never destroys it. */
  client: DynamoDBClient;
  /**
   * A table with the queue layout: string partition key `pk`, string sort key `sk`, keys-only
   * local secondary index `lsk` on the string attribute `lsk`; TTL on the numeric attribute `ttl`.
   * Create it with `createWriteQueueTable()` in tests, in infrastructure code in production.
   */
  tableName: string;
  /**
   * First segment of every partition key; one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string | undefined;
  /**
   * The clock of enqueue, delivery and failure times and of generated versions.
   * @default systemClock
   */
  clock?: Clock | undefined;
  /**
   * Transactions attempted per operation when concurrent transactions on the same items
   * (the pending counter, mostly) cancel each other; then the operation fails with a
   * `StoreConflictError`.
   * @default 8
   */
  maxConflictAttempts?: number | undefined;
  /**
   * How long a key's version item is kept after its last write (its `ttl`). Versions keep
   * growing per key as long as replicas' clocks differ by less than this.
   * @default 86400000 (one day)
   */
  versionRetentionMs?: number | undefined;
}

/**
 * A DynamoDB queue for {@link writeBehind}: durable, shared by every replica using the table.
 *
 * @example
 * const queue = dynamoWriteBehindQueue({ client: new DynamoDBClient({}), tableName: 'bw-queue' });
 * const wb = writeBehind({ name: 'profiles', queue, persist });
 */
export function dynamoWriteBehindQueue(options: DynamoWriteBehindQueueOptions): WriteBehindQueue {
  expectObject('options', options);
  expectObject('client', options.client);
  if (typeof (options.client as { send?: unknown }).send !== 'function') {
    throw new TypeError('Expected `client` to be a DynamoDBClient, got an object without send()');
  }
  const config: QueueConfig = {
    client: options.client,
    tableName: expectNonEmptyString('tableName', options.tableName),
    clock: options.clock ?? systemClock,
    maxConflictAttempts: expectInteger('maxConflictAttempts', options.maxConflictAttempts ?? 8),
    versionRetentionMs: expectPositive(
      'versionRetentionMs',
      options.versionRetentionMs ?? 86_400_000,
    ),
  };
  if (options.clock !== undefined) expectObject('clock', options.clock);
  // Validate the prefix now, not at the first namespace.
  keyBuilder({ prefix: options.prefix, pattern: 'write-behind', name: 'x' });
  return {
    kind: 'dynamodb',
    namespace: (name) =>
      new DynamoWriteQueue(
        name,
        keyBuilder({ prefix: options.prefix, pattern: 'write-behind', name }),
        config,
      ),
  };
}

/**
 * Creates a table with the queue layout (idempotent; for tests and local development). Same as
 * `createTable(client, tableName, { layout: 'queue' })` of `@breakwater/core/dynamodb`.
 */
export function createWriteQueueTable(
  client: DynamoDBClient,
  tableName: string,
  options: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined } = {},
) {
  return createTable(client, tableName, { ...options, layout: 'queue' });
}

interface QueueConfig {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
  maxConflictAttempts: number;
  versionRetentionMs: number;
}

type Item = Record<string, AttributeValue>;

const STORE = 'dynamodb';
/** The constant sort key of the single items (counter, versions). */
const SINGLE = '#';
/** TransactWriteItems takes at most 100 actions; one is the counter. */
const MAX_DELETES_PER_TRANSACTION = 99;
/** Parallel single-item requests of one claim, touch or dead-letter deletion. */
const REQUEST_CONCURRENCY = 32;

const n = (value: number): AttributeValue => ({ N: String(value) });
const s = (value: string): AttributeValue => ({ S: value });
const num = (value: AttributeValue | undefined): number =>
  value?.N === undefined ? 0 : Number(value.N);
const pad = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(15, '0');

let idSequence = 0;
/** Sorts by creation time, then by creation order in this process; unique across processes. */
function newId(nowMs: number): string {
  idSequence = (idSequence + 1) % 36 ** 6;
  const random = Math.floor(Math.random() * 36 ** 6).toString(36);
  return `${pad(nowMs)}${idSequence.toString(36).padStart(6, '0')}${random.padStart(6, '0')}`;
}

type Cancellation = { code: string | undefined }[];

class DynamoWriteQueue implements WriteQueueNamespace {
  private readonly queuePk: string;
  private readonly counterKey: Item;
  private readonly deadPk: string;

  constructor(
    private readonly name: string,
    private readonly keys: KeyBuilder,
    private readonly config: QueueConfig,
  ) {
    this.queuePk = keys.dynamoPk('', 'q');
    this.counterKey = { pk: s(keys.dynamoPk('', 'n')), sk: s(SINGLE) };
    this.deadPk = keys.dynamoPk('', 'd');
  }

  async append(key: string, payload: string, options: AppendOptions): Promise<number> {
    const maxPending = options.maxPending;
    const version =
      options.version === undefined
        ? await this.nextVersion(key)
        : await this.raiseVersion(key, options.version);
    const now = this.config.clock.now();
    const id = newId(now);
    const outcome = await this.transact('append', () => [
      // The counter first: its condition is the one that fails in normal operation.
      {
        Update: {
          TableName: this.config.tableName,
          Key: this.counterKey,
          UpdateExpression: 'ADD n :one',
          ConditionExpression: 'attribute_not_exists(n) OR n < :max',
          ExpressionAttributeValues: { ':one': n(1), ':max': n(maxPending) },
        },
      },
      {
        Put: {
          TableName: this.config.tableName,
          Item: {
            pk: s(this.queuePk),
            sk: s(id),
            lsk: s(`f${id}`),
            k: s(key),
            p: s(payload),
            v: n(version),
            t: n(now),
          },
          ConditionExpression: 'attribute_not_exists(sk)',
        },
      },
    ]);
    if (outcome !== undefined) {
      if (outcome[0]?.code === 'ConditionalCheckFailed') {
        throw new WriteBehindBacklogError({ policyName: this.name, maxPending });
      }
      throw this.unexpected('append', outcome);
    }
    return version;
  }

  async claim(consumer: string, max: number, claimIdleMs: number): Promise<QueuedWrite[]> {
    const now = this.config.clock.now();
    const claimed: QueuedWrite[] = [];
    const seen = new Set<string>();
    // Stamped when each entry is taken, not when the claim started: a slow claim must not hand
    // out entries that already look idle.
    const lease = (id: string) => `h${pad(this.config.clock.now())}${id}`;
    // Entries left idle by their holder first, oldest delivery first; then never-delivered ones.
    const ranges = [
      {
        condition: 'pk = :pk AND lsk BETWEEN :lo AND :hi',
        lo: 'h',
        hi: `h${pad(now - claimIdleMs)}~`,
      },
      { condition: 'pk = :pk AND begins_with(lsk, :lo)', lo: 'f', hi: undefined },
    ];
    for (const range of ranges) {
      let start: Item | undefined;
      while (claimed.length < max) {
        const values: Item = { ':pk': s(this.queuePk), ':lo': s(range.lo) };
        if (range.hi !== undefined) values[':hi'] = s(range.hi);
        const page = await this.send('claim', () =>
          this.config.client.send(
            new QueryCommand({
              TableName: this.config.tableName,
              IndexName: QUEUE_INDEX,
              KeyConditionExpression: range.condition,
              ExpressionAttributeValues: values,
              ConsistentRead: true,
              Limit: max - claimed.length,
              ExclusiveStartKey: start,
            }),
          ),
        );
        const candidates = (page.Items ?? []).filter((item) => {
          const id = item.sk?.S;
          return id !== undefined && !seen.has(id);
        });
        const taken = await mapLimited(candidates, (item) =>
          this.take(item.sk!.S!, item.lsk!.S!, consumer, lease(item.sk!.S!)),
        );
        for (const entry of taken) {
          if (entry === undefined || claimed.length >= max) continue;
          seen.add(entry.id);
          claimed.push(entry);
        }
        start = page.LastEvaluatedKey;
        if (start === undefined) break;
      }
    }
    return claimed;
  }

  async touch(consumer: string, ids: readonly string[]): Promise<void> {
    await mapLimited([...new Set(ids)], async (id) => {
      try {
        await this.send('touch', () =>
          this.config.client.send(
            new UpdateItemCommand({
              TableName: this.config.tableName,
              Key: this.entryKey(id),
              UpdateExpression: 'SET lsk = :lsk',
              ConditionExpression: 'c = :c AND begins_with(lsk, :held)',
              ExpressionAttributeValues: {
                ':lsk': s(`h${pad(this.config.clock.now())}${id}`),
                ':c': s(consumer),
                ':held': s('h'),
              },
            }),
          ),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    });
  }

  async complete(ids: readonly string[]): Promise<void> {
    const unique = [...new Set(ids)];
    for (let start = 0; start < unique.length; start += MAX_DELETES_PER_TRANSACTION) {
      let batch = unique.slice(start, start + MAX_DELETES_PER_TRANSACTION);
      // Each round drops the ids whose entries are already gone; bounded by the batch size.
      while (batch.length > 0) {
        const current = batch;
        const outcome = await this.transact('complete', () => [
          ...current.map(
            (id): TransactWriteItem => ({
              Delete: {
                TableName: this.config.tableName,
                Key: this.entryKey(id),
                ConditionExpression: 'attribute_exists(sk)',
              },
            }),
          ),
          {
            Update: {
              TableName: this.config.tableName,
              Key: this.counterKey,
              UpdateExpression: 'ADD n :minus',
              ExpressionAttributeValues: { ':minus': n(-current.length) },
            },
          },
        ]);
        if (outcome === undefined) break;
        const gone = new Set(
          current.filter((_, index) => outcome[index]?.code === 'ConditionalCheckFailed'),
        );
        if (gone.size === 0) throw this.unexpected('complete', outcome);
        batch = current.filter((id) => !gone.has(id));
      }
    }
  }

  async fail(entry: QueuedWrite, error: string, maxAttempts: number): Promise<FailOutcome> {
    const key = this.entryKey(entry.id);
    // Fast path: one conditional update counts the attempt while it stays below maxAttempts
    // (an absent `a` is 0 attempts, so the path needs maxAttempts > 1).
    if (maxAttempts > 1) {
      try {
        const answer = await this.send('fail', () =>
          this.config.client.send(
            new UpdateItemCommand({
              TableName: this.config.tableName,
              Key: key,
              UpdateExpression: 'ADD a :one',
              ConditionExpression:
                'attribute_exists(sk) AND (attribute_not_exists(a) OR a < :last)',
              ExpressionAttributeValues: { ':one': n(1), ':last': n(maxAttempts - 1) },
              ReturnValues: 'UPDATED_NEW',
            }),
          ),
        );
        return { status: 'retry', attempts: num(answer.Attributes?.a) };
      } catch (failure) {
        if (!isConditionFailure(failure)) throw failure;
      }
    }
    // Gone, or this attempt is the last: move the entry to the dead letters, atomically.
    for (let attempt = 1; ; attempt++) {
      const current = await this.read('fail', key);
      if (current === undefined) return { status: 'gone' };
      const seenAttempts = num(current.a);
      const attempts = seenAttempts + 1;
      if (attempts < maxAttempts) {
        // Another consumer's failure raced ours; count this one on the fresh item.
        const counted = await this.setAttempts(key, seenAttempts, attempts);
        if (counted) return { status: 'retry', attempts };
      } else {
        const failedAt = this.config.clock.now();
        const outcome = await this.transact('fail', () => [
          {
            Delete: {
              TableName: this.config.tableName,
              Key: key,
              // The entry must still be there: a consumer that completed it meanwhile wins.
              ConditionExpression:
                seenAttempts === 0
                  ? 'attribute_exists(sk) AND attribute_not_exists(a)'
                  : 'attribute_exists(sk) AND a = :seen',
              ...(seenAttempts === 0
                ? {}
                : { ExpressionAttributeValues: { ':seen': n(seenAttempts) } }),
            },
          },
          {
            Put: {
              TableName: this.config.tableName,
              Item: {
                pk: s(this.deadPk),
                sk: s(newId(failedAt)),
                k: current.k ?? s(entry.key),
                p: current.p ?? s(entry.payload),
                v: current.v ?? n(entry.version),
                a: n(attempts),
                e: s(error),
                t: n(failedAt),
              },
            },
          },
          {
            Update: {
              TableName: this.config.tableName,
              Key: this.counterKey,
              UpdateExpression: 'ADD n :minus',
              ExpressionAttributeValues: { ':minus': n(-1) },
            },
          },
        ]);
        if (outcome === undefined) return { status: 'dead', attempts };
        if (outcome[0]?.code !== 'ConditionalCheckFailed') throw this.unexpected('fail', outcome);
      }
      if (attempt >= this.config.maxConflictAttempts) throw this.conflict('fail', attempt);
    }
  }

  async pending(): Promise<number> {
    return Math.max(0, num((await this.read('pending', this.counterKey))?.n));
  }

  /** The pending count, and the oldest entry's append time: the first entry id sorts oldest. */
  async backlog(): Promise<{ pending: number; oldestEnqueuedAt: number | undefined }> {
    const [pending, oldest] = await Promise.all([
      this.pending(),
      this.send('backlog', () =>
        this.config.client.send(
          new QueryCommand({
            TableName: this.config.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': s(this.queuePk) },
            ProjectionExpression: 't',
            ConsistentRead: true,
            Limit: 1,
          }),
        ),
      ),
    ]);
    const first = oldest.Items?.[0];
    return { pending, oldestEnqueuedAt: first === undefined ? undefined : num(first.t) };
  }

  async listDeadLetters(limit: number, after?: string | undefined): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    let start: Item | undefined;
    while (letters.length < limit) {
      const values: Item = { ':pk': s(this.deadPk) };
      if (after !== undefined) values[':after'] = s(after);
      const page = await this.send('listDeadLetters', () =>
        this.config.client.send(
          new QueryCommand({
            TableName: this.config.tableName,
            KeyConditionExpression: after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
            ExpressionAttributeValues: values,
            ConsistentRead: true,
            Limit: limit - letters.length,
            ExclusiveStartKey: start,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        letters.push({
          id: item.sk?.S ?? '',
          key: item.k?.S ?? '',
          payload: item.p?.S ?? '',
          version: num(item.v),
          attempts: num(item.a),
          error: item.e?.S ?? '',
          failedAt: num(item.t),
        });
      }
      start = page.LastEvaluatedKey;
      if (start === undefined) break;
    }
    return letters.slice(0, limit);
  }

  async deleteDeadLetters(ids: readonly string[]): Promise<number> {
    const existed = await mapLimited([...new Set(ids)], async (id) => {
      const answer = await this.send('deleteDeadLetters', () =>
        this.config.client.send(
          new DeleteItemCommand({
            TableName: this.config.tableName,
            Key: { pk: s(this.deadPk), sk: s(id) },
            ReturnValues: 'ALL_OLD',
          }),
        ),
      );
      return answer.Attributes !== undefined;
    });
    return existed.filter(Boolean).length;
  }

  /** Delivers the entry to `consumer` if it is still where the Query saw it. */
  private async take(
    id: string,
    seenLsk: string,
    consumer: string,
    lsk: string,
  ): Promise<QueuedWrite | undefined> {
    try {
      const answer = await this.send('claim', () =>
        this.config.client.send(
          new UpdateItemCommand({
            TableName: this.config.tableName,
            Key: this.entryKey(id),
            UpdateExpression: 'SET lsk = :lsk, c = :c',
            ConditionExpression: 'lsk = :seen',
            ExpressionAttributeValues: { ':lsk': s(lsk), ':c': s(consumer), ':seen': s(seenLsk) },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      const item = answer.Attributes ?? {};
      return {
        id,
        key: item.k?.S ?? '',
        payload: item.p?.S ?? '',
        version: num(item.v),
        attempts: num(item.a),
        enqueuedAt: num(item.t),
      };
    } catch (error) {
      // Another consumer took it (or it completed) since the Query.
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  private async setAttempts(key: Item, seen: number, attempts: number): Promise<boolean> {
    try {
      await this.send('fail', () =>
        this.config.client.send(
          new UpdateItemCommand({
            TableName: this.config.tableName,
            Key: key,
            UpdateExpression: 'SET a = :a',
            ConditionExpression:
              seen === 0 ? 'attribute_exists(sk) AND attribute_not_exists(a)' : 'a = :seen',
            ExpressionAttributeValues:
              seen === 0 ? { ':a': n(attempts) } : { ':a': n(attempts), ':seen': n(seen) },
          }),
        ),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** `max(last + 1, now in µs)`, without a read-modify-write race. */
  private async nextVersion(key: string): Promise<number> {
    const versionKey = this.versionKey(key);
    const nowMicros = Math.floor(this.config.clock.now() * 1000);
    const values = { ':now': n(nowMicros), ':ttl': n(this.versionTtl()) };
    try {
      await this.send('append', () =>
        this.config.client.send(
          new UpdateItemCommand({
            TableName: this.config.tableName,
            Key: versionKey,
            UpdateExpression: 'SET v = :now, #ttl = :ttl',
            ConditionExpression: 'attribute_not_exists(v) OR v < :now',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: values,
          }),
        ),
      );
      return nowMicros;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // The key's last version is at or past the clock: the next one is last + 1, atomically.
    const answer = await this.send('append', () =>
      this.config.client.send(
        new UpdateItemCommand({
          TableName: this.config.tableName,
          Key: versionKey,
          UpdateExpression: 'SET v = v + :one, #ttl = :ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': n(1), ':ttl': n(this.versionTtl()) },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return num(answer.Attributes?.v);
  }

  /** Remembers a version the caller chose, so generated versions of the key stay above it. */
  private async raiseVersion(key: string, version: number): Promise<number> {
    try {
      await this.send('append', () =>
        this.config.client.send(
          new UpdateItemCommand({
            TableName: this.config.tableName,
            Key: this.versionKey(key),
            UpdateExpression: 'SET v = :v, #ttl = :ttl',
            ConditionExpression: 'attribute_not_exists(v) OR v < :v',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':v': n(version), ':ttl': n(this.versionTtl()) },
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    return version;
  }

  /**
   * Runs one transaction, retrying it (rebuilt by `build`) while it is cancelled by conflicts
   * with concurrent transactions. Resolves `undefined` when it committed, or the cancellation
   * reasons when a condition failed.
   */
  private async transact(
    operation: string,
    build: () => TransactWriteItem[],
  ): Promise<Cancellation | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.config.client.send(new TransactWriteItemsCommand({ TransactItems: build() }));
        return undefined;
      } catch (error) {
        const reasons = cancellationReasons(error);
        const conflicted =
          isAwsError(error, 'TransactionConflictException') ||
          (reasons?.some((r) => r.code === 'TransactionConflict') === true &&
            !reasons.some((r) => r.code === 'ConditionalCheckFailed'));
        if (!conflicted) {
          if (reasons !== undefined) return reasons;
          throw toStoreError(error, STORE, `write-behind.${operation}`);
        }
        if (attempt >= this.config.maxConflictAttempts) throw this.conflict(operation, attempt);
        // Full jitter, so the transactions that collided do not collide again in lockstep.
        await this.config.clock.sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
      }
    }
  }

  private async read(operation: string, key: Item): Promise<Item | undefined> {
    const answer = await this.send(operation, () =>
      this.config.client.send(
        new GetItemCommand({ TableName: this.config.tableName, Key: key, ConsistentRead: true }),
      ),
    );
    return answer.Item;
  }

  /** Sends a request; a condition failure passes as is, anything else becomes a StoreError. */
  private async send<T>(operation: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (isConditionFailure(error)) throw error;
      throw toStoreError(error, STORE, `write-behind.${operation}`);
    }
  }

  private conflict(operation: string, attempts: number): StoreConflictError {
    return new StoreConflictError(
      `${STORE} write-behind.${operation} on table ${JSON.stringify(this.config.tableName)} ` +
        `gave up after ${attempts} attempts: concurrent transactions kept cancelling it`,
      {
        store: STORE,
        operation: `write-behind.${operation}`,
        tableName: this.config.tableName,
        attempts,
      },
    );
  }

  private unexpected(operation: string, reasons: Cancellation): Error {
    return toStoreError(
      new Error(`transaction cancelled: ${reasons.map((r) => r.code ?? 'None').join(', ')}`),
      STORE,
      `write-behind.${operation}`,
    );
  }

  private entryKey(id: string): Item {
    return { pk: s(this.queuePk), sk: s(id) };
  }

  private versionKey(key: string): Item {
    return { pk: s(this.keys.dynamoPk(key, 'v')), sk: s(SINGLE) };
  }

  private versionTtl(): number {
    return Math.ceil((this.config.clock.now() + this.config.versionRetentionMs) / 1000);
  }
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    isAwsError(error, 'ConditionalCheckFailedException')
  );
}

function cancellationReasons(error: unknown): Cancellation | undefined {
  if (!isAwsError(error, 'TransactionCanceledException')) return undefined;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return (reasons ?? []).map((reason) => ({ code: reason.Code }));
}

/** `Promise.all(items.map(fn))` with at most {@link REQUEST_CONCURRENCY} requests in flight. */
async function mapLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(REQUEST_CONCURRENCY, items.length) }, () => worker()),
  );
  return results;
}
