/**
 * One DynamoDB transaction (TransactWriteItems), the way Breakwater's DynamoDB stores write several
 * items atomically: retried with jittered backoff while concurrent transactions on the same items
 * cancel it (`TransactionConflict`), bounded in attempts, with a typed outcome when one of its
 * conditions fails and a typed error for everything else.
 *
 * Cost: one TransactWriteItems (two write units per item written) when nothing conflicts; each
 * retry one more.
 */
import {
  type DynamoDBClient,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { type Clock, systemClock } from '../clock.js';
import { toStoreError } from '../store/calls.js';
import {
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
} from '../validate.js';
import { backOff } from './backoff.js';
import { isAwsError } from './error-name.js';
import { StoreConflictError } from './store-conflict-error.js';

const STORE = 'dynamodb';

/** Options of {@link transactWrite}. */
export interface TransactWriteOptions {
  /** The user's DynamoDB client. */
  client: DynamoDBClient;
  /** The table the actions write (for errors). */
  tableName: string;
  /**
   * Builds the transaction's actions (at most 100). Called once per attempt, so a retry can read
   * fresh state the caller keeps.
   */
  build: () => TransactWriteItem[];
  /** Names the operation in errors (`'write-behind.complete'`); never a user key. */
  operation: string;
  /**
   * Attempts before giving up with a {@link StoreConflictError} while concurrent transactions keep
   * cancelling this one.
   * @default 5
   */
  maxAttempts?: number | undefined;
  /**
   * Ceiling of the first retry's random delay, in milliseconds (doubling per retry).
   * @default 10
   */
  baseDelayMs?: number | undefined;
  /**
   * Ceiling of every retry's delay, in milliseconds.
   * @default 200
   */
  maxDelayMs?: number | undefined;
  /** Aborts the request and the backoff; the call then rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /**
   * Sleeps between attempts; tests inject a fake clock.
   * @default systemClock
   */
  clock?: Pick<Clock, 'sleep'> | undefined;
}

/** Why DynamoDB cancelled one action of a transaction (`'ConditionalCheckFailed'`, `'None'`, …). */
export interface CancellationReason {
  /** DynamoDB's code for the action, `undefined` when it gave none. */
  readonly code: string | undefined;
}

/** Outcome of {@link transactWrite}. */
export type TransactWriteResult =
  | { readonly committed: true; readonly attempts: number }
  | {
      readonly committed: false;
      /** One reason per action, in order: the caller tells which condition failed. */
      readonly reasons: readonly CancellationReason[];
      readonly attempts: number;
    };

/**
 * Runs one transaction: resolves `{ committed: true }`, or `{ committed: false, reasons }` when a
 * condition of one of its actions failed (DynamoDB cancelled it; nothing was written).
 *
 * @throws {StoreConflictError} after `maxAttempts` attempts cancelled by concurrent transactions,
 *   naming the table, the operation and the attempts.
 * @throws {StoreError} when DynamoDB fails otherwise (the SDK error as `cause`).
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 * @throws the `signal`'s reason when it aborts.
 */
export async function transactWrite(options: TransactWriteOptions): Promise<TransactWriteResult> {
  const client = expectObject('client', options.client) as unknown as DynamoDBClient;
  expectFunction('client.send', client.send);
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const build = expectFunction<TransactWriteOptions['build']>('build', options.build);
  const operation = expectNonEmptyString('operation', options.operation);
  const maxAttempts = expectInteger('maxAttempts', options.maxAttempts ?? 5);
  const backoff = {
    baseDelayMs: expectNonNegative('baseDelayMs', options.baseDelayMs ?? 10),
    maxDelayMs: expectNonNegative('maxDelayMs', options.maxDelayMs ?? 200),
  };
  const clock = options.clock ?? systemClock;
  const signal = options.signal;

  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw signal.reason;
    try {
      await client.send(new TransactWriteItemsCommand({ TransactItems: build() }), {
        abortSignal: signal,
      });
      return { committed: true, attempts: attempt };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const reasons = cancellationReasons(error);
      const conflicted =
        isAwsError(error, 'TransactionConflictException') ||
        (reasons?.some((r) => r.code === 'TransactionConflict') === true &&
          !reasons.some((r) => r.code === 'ConditionalCheckFailed'));
      if (!conflicted) {
        if (reasons !== undefined) return { committed: false, reasons, attempts: attempt };
        throw toStoreError(error, STORE, operation);
      }
      if (attempt >= maxAttempts) {
        throw new StoreConflictError(
          `${STORE} ${operation} on table ${JSON.stringify(tableName)} gave up after ` +
            `${attempt} attempts: concurrent transactions kept cancelling it`,
          { store: STORE, operation, tableName, attempts: attempt, cause: error },
        );
      }
      await backOff(attempt, backoff, clock, signal);
    }
  }
}

/** The cancellation reasons of a `TransactionCanceledException`, or `undefined` for other errors. */
function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  if (!isAwsError(error, 'TransactionCanceledException')) return undefined;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return (reasons ?? []).map((reason) => ({ code: reason.Code }));
}
