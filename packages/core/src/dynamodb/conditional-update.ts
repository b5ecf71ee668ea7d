/**
 * Optimistic compare-and-swap on one DynamoDB item, the way Breakwater's DynamoDB stores make
 * atomic state transitions: compute the new state from the item as last seen, write it only if
 * the item's `version` is still the one seen, and on a conflict start over from the fresh item.
 *
 * Cost: in the steady state (the caller's cached item is current) one UpdateItem. On a conflict,
 * DynamoDB returns the current item with the failure (`ReturnValuesOnConditionCheckFailure`), so a
 * retry costs one more UpdateItem; backends that omit it (dynalite) cost a consistent GetItem too.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
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
import {
  type DynamoItem,
  isEmptyPlan,
  readVersion,
  type UpdatePlan,
  versionedUpdate,
} from './update-expression.js';

const STORE = 'dynamodb';

/** Options of {@link conditionalUpdate}. */
export interface ConditionalUpdateOptions<R = undefined> {
  /** The user's DynamoDB client. */
  client: DynamoDBClient;
  /** The table holding the item. */
  tableName: string;
  /** The item's primary key, e.g. `{ pk: { S: keys.dynamoPk(userKey, 'state') } }`. */
  key: DynamoItem;
  /**
   * Computes the new state from the current item (`undefined`: there is none). Return `null`, or a
   * plan that sets and removes nothing, to write nothing. Called once per attempt, so it must be
   * pure apart from reading the clock.
   */
  build: (current: DynamoItem | undefined) => UpdatePlan<R> | null;
  /**
   * The item as the caller last saw it, e.g. cached from the previous call; `null` when the caller
   * believes there is no item. Omit it when unknown: the helper then reads the item first (a
   * consistent GetItem). A stale value costs one conflict, never a wrong write. A write skipped
   * because `build` returned no change is only as fresh as this item.
   */
  current?: DynamoItem | null | undefined;
  /**
   * How many conditional writes to attempt before giving up with a {@link StoreConflictError}.
   * @default 5
   */
  maxAttempts?: number | undefined;
  /**
   * The numeric attribute holding the item's version. Every writer of the item must use this
   * helper, or at least bump the version.
   * @default 'version'
   */
  versionAttribute?: string | undefined;
  /**
   * Backoff before the n-th retry: a random delay in [0, min(maxDelayMs, baseDelayMs × 2^(n-1))]
   * ("full jitter"), so writers that collided do not collide again in lockstep.
   * @default 10
   */
  baseDelayMs?: number | undefined;
  /**
   * Upper bound of the backoff between attempts, in milliseconds.
   * @default 200
   */
  maxDelayMs?: number | undefined;
  /**
   * Names the operation in errors (`'rate-limit.take'`); never a user key.
   * @default 'conditionalUpdate'
   */
  operation?: string | undefined;
  /** Aborts the requests and the backoff; the call then rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /**
   * Sleeps between attempts; tests inject a fake clock.
   * @default systemClock
   */
  clock?: Pick<Clock, 'sleep'> | undefined;
}

/** Outcome of {@link conditionalUpdate}. */
export interface ConditionalUpdateResult<R = undefined> {
  /** The item after the update (all attributes), or the unchanged item when nothing was written. */
  item: DynamoItem | undefined;
  /** Whether a write happened. */
  updated: boolean;
  /** How many UpdateItem requests were sent (0 when the first plan wrote nothing). */
  attempts: number;
  /** The `result` of the plan that was applied (or that wrote nothing). */
  result: R | undefined;
}

/**
 * Applies `build(current)` to one item with optimistic concurrency control on its version, with
 * bounded, jittered retries on conflict.
 *
 * @throws {StoreConflictError} after `maxAttempts` conflicting writes, naming the table, the
 *   operation and the attempts.
 * @throws {StoreError} when DynamoDB fails otherwise (the SDK error as `cause`).
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 * @throws the `signal`'s reason when it aborts, and whatever `build` throws, as is.
 */
export async function conditionalUpdate<R = undefined>(
  options: ConditionalUpdateOptions<R>,
): Promise<ConditionalUpdateResult<R>> {
  const client = expectObject('client', options.client) as unknown as DynamoDBClient;
  expectFunction('client.send', client.send);
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const key = expectObject('key', options.key) as DynamoItem;
  const build = expectFunction<ConditionalUpdateOptions<R>['build']>('build', options.build);
  const maxAttempts = expectInteger('maxAttempts', options.maxAttempts ?? 5);
  const versionAttribute = expectNonEmptyString(
    'versionAttribute',
    options.versionAttribute ?? 'version',
  );
  const baseDelayMs = expectNonNegative('baseDelayMs', options.baseDelayMs ?? 10);
  const maxDelayMs = expectNonNegative('maxDelayMs', options.maxDelayMs ?? 200);
  const operation = expectNonEmptyString('operation', options.operation ?? 'conditionalUpdate');
  const clock = options.clock ?? systemClock;
  const signal = options.signal;

  const failed = (error: unknown): unknown =>
    signal?.aborted ? signal.reason : toStoreError(error, STORE, operation);

  const read = async (): Promise<DynamoItem | undefined> => {
    try {
      const output = await client.send(
        new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }),
        { abortSignal: signal },
      );
      return output.Item;
    } catch (error) {
      throw failed(error);
    }
  };

  if (signal?.aborted) throw signal.reason;
  let current = options.current === undefined ? await read() : (options.current ?? undefined);

  for (let attempt = 1; ; attempt++) {
    const plan = build(current);
    if (plan === null || isEmptyPlan(plan)) {
      return { item: current, updated: false, attempts: attempt - 1, result: plan?.result };
    }
    const update = versionedUpdate(
      plan,
      readVersion(current, versionAttribute),
      versionAttribute,
      key,
    );
    try {
      const output = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: key,
          ...update,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
        { abortSignal: signal },
      );
      return { item: output.Attributes, updated: true, attempts: attempt, result: plan.result };
    } catch (error) {
      if (signal?.aborted || !isAwsError(error, 'ConditionalCheckFailedException')) {
        throw failed(error);
      }
      if (attempt >= maxAttempts) {
        throw new StoreConflictError(
          `${STORE} ${operation} on table ${JSON.stringify(tableName)} gave up after ` +
            `${attempt} attempts: the item changed before every conditional write`,
          { store: STORE, operation, tableName, attempts: attempt, cause: error },
        );
      }
      const returnedItem = (error as { Item?: DynamoItem }).Item;
      await backOff(attempt, { baseDelayMs, maxDelayMs }, clock, signal);
      // Real DynamoDB returns the conflicting item; without it (dynalite, or the item was
      // deleted) read it. After a backoff the returned item may be stale again: that only costs
      // one more conflict.
      current = returnedItem ?? (await read());
    }
  }
}
