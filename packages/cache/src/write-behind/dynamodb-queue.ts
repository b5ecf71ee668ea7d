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
 * entry delete + dead letter + counter), run by core's `transactWrite`: a transaction that loses a
 * race (`TransactionConflict`) is retried with jittered backoff, at most `maxConflictAttempts`
 * times, then fails with a `StoreConflictError`. Versions come from the key's version item through two single-item atomic
 * updates (`SET v = :nowµs IF v < :nowµs`, else `SET v = v + 1`), so concurrent appends of one key
 * never race: a version taken by an append that is then refused is simply never used.
 *
 * Clock: enqueue, delivery and failure times are the client's clock. A consumer whose clock is
 * ahead by `s` ms takes idle entries `s` ms early, so keep the skew between replicas well below
 * `claimIdleMs`. Version items expire (`ttl`) `versionRetentionMs` after their last write; versions
 * keep growing across that as long as replicas' clocks agree within `versionRetentionMs`.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type Clock,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectPositive,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import { createTable, keyBuilder } from '@breakwater/core/dynamodb';
import { DYNAMO_WRITE_BEHIND_QUEUE_OPTIONS } from '../known-options.js';
import type { QueueConfig } from './dynamodb-queue-requests.js';
import { DynamoWriteQueue } from './dynamodb-queue-scope.js';
import type { WriteBehindQueue } from './queue.js';

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
 * A DynamoDB queue for {@link "@breakwater/cache"!writeBehind}: durable, shared by every replica
 * using the table.
 *
 * @example
 * const queue = dynamoWriteBehindQueue({ client: new DynamoDBClient({}), tableName: 'bw-queue' });
 * const wb = writeBehind({ name: 'profiles', queue, persist });
 */
export function dynamoWriteBehindQueue(options: DynamoWriteBehindQueueOptions): WriteBehindQueue {
  expectObject('options', options);
  warnUnknownOptions('dynamoWriteBehindQueue()', options, {
    known: DYNAMO_WRITE_BEHIND_QUEUE_OPTIONS,
  });
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
  // Validate the prefix now, not at the first scope.
  keyBuilder({ prefix: options.prefix, pattern: 'write-behind', name: 'x' });
  // The client is yours and the queue keeps nothing running: nothing to release.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'dynamodb',
    scope: (name) =>
      new DynamoWriteQueue(
        name,
        keyBuilder({ prefix: options.prefix, pattern: 'write-behind', name }),
        config,
      ),
    close,
    [Symbol.asyncDispose]: close,
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
