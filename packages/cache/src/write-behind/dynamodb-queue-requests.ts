/**
 * How the DynamoDB write-behind queue talks to DynamoDB: attribute values, entry ids, and the
 * requests themselves. A condition failure passes as is, anything else becomes a `StoreError`;
 * a transaction is retried while concurrent transactions cancel it.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { type Clock, toStoreError } from '@breakwater/core';
import { isAwsError, StoreConflictError } from '@breakwater/core/dynamodb';

/** The validated options shared by every namespace of one queue. */
export interface QueueConfig {
  client: DynamoDBClient;
  tableName: string;
  clock: Clock;
  maxConflictAttempts: number;
  versionRetentionMs: number;
}

export type Item = Record<string, AttributeValue>;

const STORE = 'dynamodb';
/** The constant sort key of the single items (counter, versions). */
export const SINGLE = '#';
/** Parallel single-item requests of one claim, touch or dead-letter deletion. */
const REQUEST_CONCURRENCY = 32;

export const n = (value: number): AttributeValue => ({ N: String(value) });
export const s = (value: string): AttributeValue => ({ S: value });
export const num = (value: AttributeValue | undefined): number =>
  value?.N === undefined ? 0 : Number(value.N);
export const pad = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(15, '0');

let idSequence = 0;
/** Sorts by creation time, then by creation order in this process; unique across processes. */
export function newId(nowMs: number): string {
  idSequence = (idSequence + 1) % 36 ** 6;
  const random = Math.floor(Math.random() * 36 ** 6).toString(36);
  return `${pad(nowMs)}${idSequence.toString(36).padStart(6, '0')}${random.padStart(6, '0')}`;
}

export type Cancellation = { code: string | undefined }[];

/** The requests of one namespace of the queue. */
export class QueueRequests {
  constructor(private readonly config: QueueConfig) {}

  /**
   * Runs one transaction, retrying it (rebuilt by `build`) while it is cancelled by conflicts
   * with concurrent transactions. Resolves `undefined` when it committed, or the cancellation
   * reasons when a condition failed.
   */
  async transact(
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

  async read(operation: string, key: Item): Promise<Item | undefined> {
    const answer = await this.send(operation, () =>
      this.config.client.send(
        new GetItemCommand({ TableName: this.config.tableName, Key: key, ConsistentRead: true }),
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

  conflict(operation: string, attempts: number): StoreConflictError {
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

  unexpected(operation: string, reasons: Cancellation): Error {
    return toStoreError(
      new Error(`transaction cancelled: ${reasons.map((r) => r.code ?? 'None').join(', ')}`),
      STORE,
      `write-behind.${operation}`,
    );
  }
}

export function isConditionFailure(error: unknown): boolean {
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
export async function mapLimited<T, R>(
  items: readonly T[],
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
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
