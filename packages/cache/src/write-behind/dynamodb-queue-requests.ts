/**
 * How the DynamoDB write-behind queue talks to DynamoDB: attribute values, entry ids, and the
 * requests themselves. A condition failure passes as is, anything else becomes a `StoreError`;
 * transactions go through core's `transactWrite` (retried while concurrent transactions cancel
 * them). Every request honours the signal the write-behind's store call path gives it, which
 * aborts at the store deadline.
 */
import { setMaxListeners } from 'node:events';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { type Clock, toStoreError } from '@breakwater/core';
import { type CancellationReason, isAwsError, transactWrite } from '@breakwater/core/dynamodb';

/** The validated options shared by every scope of one queue. */
export interface QueueConfig {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
  maxConflictAttempts: number;
  versionRetentionMs: number;
}

/** A DynamoDB item (or key) in its wire form. */
export type Item = Record<string, AttributeValue>;

const STORE = 'dynamodb';
/** The constant sort key of the single items (counter, versions). */
export const SINGLE = '#';
/** Parallel single-item requests of one claim, touch or dead-letter deletion. */
const REQUEST_CONCURRENCY = 32;

/** A number attribute. */
export const n = (value: number): AttributeValue => ({ N: String(value) });
/** A string attribute. */
export const s = (value: string): AttributeValue => ({ S: value });
/** The number in a number attribute; 0 when it is absent. */
export const num = (value: AttributeValue | undefined): number =>
  value?.N === undefined ? 0 : Number(value.N);
/** Milliseconds as 15 digits, so that they sort as strings. */
export const pad = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(15, '0');

let idSequence = 0;
/** Sorts by creation time, then by creation order in this process; unique across processes. */
export function newId(nowMs: number): string {
  idSequence = (idSequence + 1) % 36 ** 6;
  const random = Math.floor(Math.random() * 36 ** 6).toString(36);
  return `${pad(nowMs)}${idSequence.toString(36).padStart(6, '0')}${random.padStart(6, '0')}`;
}

/** Why DynamoDB cancelled each action of a transaction, in order. */
export type Cancellation = readonly CancellationReason[];

/** The requests of one scope of the queue. */
export class QueueRequests {
  constructor(private readonly config: QueueConfig) {}

  /**
   * Runs one transaction (core's `transactWrite`: retried, rebuilt by `build`, while concurrent
   * transactions cancel it, at most `maxConflictAttempts` times, then a `StoreConflictError`).
   * Resolves `undefined` when it committed, or the cancellation reasons when a condition failed.
   */
  async transact(
    operation: string,
    build: () => TransactWriteItem[],
    signal: AbortSignal | undefined,
  ): Promise<Cancellation | undefined> {
    const result = await transactWrite({
      client: this.config.client,
      tableName: this.config.tableName,
      build,
      operation: `write-behind.${operation}`,
      maxAttempts: this.config.maxConflictAttempts,
      signal,
      clock: this.config.clock,
    });
    return result.committed ? undefined : result.reasons;
  }

  /** A strongly consistent GetItem. */
  async read(
    operation: string,
    key: Item,
    signal: AbortSignal | undefined,
  ): Promise<Item | undefined> {
    const answer = await this.send(operation, () =>
      this.config.client.send(
        new GetItemCommand({ TableName: this.config.tableName, Key: key, ConsistentRead: true }),
        { abortSignal: signal },
      ),
    );
    return answer.Item;
  }

  /** Sends a request; a condition failure passes as is, anything else becomes a StoreError. */
  async send<T>(operation: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (isConditionFailure(error)) throw error;
      throw toStoreError(error, STORE, `write-behind.${operation}`);
    }
  }

  /** A transaction cancelled for a reason the operation does not expect. */
  unexpected(operation: string, reasons: Cancellation): Error {
    return toStoreError(
      new Error(`transaction cancelled: ${reasons.map((r) => r.code ?? 'None').join(', ')}`),
      STORE,
      `write-behind.${operation}`,
    );
  }
}

/** Whether `error` is DynamoDB's answer that a request's condition did not hold. */
export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    isAwsError(error, 'ConditionalCheckFailedException')
  );
}

/**
 * `Promise.all(items.map(fn))` with at most {@link REQUEST_CONCURRENCY} requests in flight, all
 * on `signal` (each request listens to it: more than Node's default of 10 listeners is expected,
 * not a leak).
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  signal: AbortSignal | undefined,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  if (signal !== undefined && items.length > 1) setMaxListeners(REQUEST_CONCURRENCY + 10, signal);
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
