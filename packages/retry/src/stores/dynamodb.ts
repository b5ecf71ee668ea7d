/**
 * The DynamoDB retry-budget store: one item per budget, changed by a versioned conditional
 * UpdateItem (compare-and-swap with bounded, jittered retries on conflict).
 *
 * Item: `pk = <prefix>:retry:<name>:budget:` with numeric attributes `c_<slot>` (calls) and
 * `r_<slot>` (retries) per slot of the window, `version` (the CAS counter) and `ttl` (epoch
 * seconds, one window after the last write). `slot = floor(client time in ms / slotMs)`.
 *
 * Clock: DynamoDB has no server clock, so the slot comes from the writer's clock. Replicas whose
 * clocks differ by less than a slot (windowMs / slots: 1 s by default) see the same window up to
 * that one slot; a replica far ahead prunes the others' recent slots early (the budget shrinks),
 * one far behind counts into slots already pruned (its calls count a little less). Neither lets
 * retries exceed `ratio × calls + reserve` by more than one slot's worth.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type Clock,
  describeValue,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  conditionalUpdate,
  DEFAULT_KEY_PREFIX,
  type DynamoItem,
  dynamoProbe,
  keyBuilder,
  PARTITION_KEY,
  TTL_ATTRIBUTE,
  type UpdatePlan,
} from '@breakwater/core/dynamodb';
import { DYNAMO_BUDGET_STORE_OPTIONS } from '../known-options.js';
import type {
  BudgetRequest,
  BudgetResult,
  BudgetScope,
  BudgetScopeOptions,
  BudgetSpec,
  RetryBudgetStore,
} from '../store.js';

/** Options of {@link dynamoBudgetStore}. */
export interface DynamoBudgetStoreOptions {
  /** Your DynamoDB client. The store never creates or destroys it. */
  client: DynamoDBClient;
  /** The Breakwater table (string partition key `pk`, TTL on `ttl`; see `createTable`). */
  tableName: string;
  /**
   * First segment of every partition key; use one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string;
  /**
   * How many conditional writes one operation may attempt when other replicas keep changing the
   * item, before it fails with a `StoreConflictError` (then `onStoreError` decides).
   * @default 8
   */
  maxAttempts?: number;
  /**
   * The clock slots are computed from (see the module notes on skew).
   * @default systemClock
   */
  clock?: Clock;
}

const CALLS = 'c_';
const RETRIES = 'r_';

/**
 * A {@link RetryBudgetStore} in DynamoDB, shared by every replica that uses the same budget name,
 * table and prefix. An operation costs one UpdateItem when this process last saw the current
 * version of the item, plus one per conflict (and a consistent GetItem the first time, and
 * before a refusal that would otherwise rest on this process's cached copy of the item). The
 * scope's probe is an eventually consistent GetItem of the budget's item, projected to its key.
 *
 * @example
 * import { dynamoBudgetStore } from '@breakwater/retry/dynamodb';
 * const budget = retryBudget({ store: dynamoBudgetStore({ client, tableName: 'breakwater' }) });
 */
export function dynamoBudgetStore(options: DynamoBudgetStoreOptions): RetryBudgetStore {
  expectObject('options', options);
  warnUnknownOptions('dynamoBudgetStore()', options, { known: DYNAMO_BUDGET_STORE_OPTIONS });
  const client = options.client;
  if (typeof (client as { send?: unknown } | undefined)?.send !== 'function') {
    throw new TypeError(`Expected \`client\` to be a DynamoDBClient, got ${describeValue(client)}`);
  }
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
  // Built once here, so a bad prefix fails at construction rather than on the first retry.
  keyBuilder({ prefix, pattern: 'retry', name: 'retry' });
  const maxAttempts =
    options.maxAttempts === undefined ? 8 : expectInteger('maxAttempts', options.maxAttempts);
  const clock = options.clock ?? systemClock;
  // The client is the user's: there is nothing of ours to release.
  const close = (): Promise<void> => Promise.resolve();

  return {
    kind: 'dynamodb',
    scope({ name, spec }: BudgetScopeOptions): BudgetScope {
      expectObject('spec', spec);
      const pk = keyBuilder({ prefix, pattern: 'retry', name }).dynamoPk('', 'budget');
      const key: DynamoItem = { [PARTITION_KEY]: { S: pk } };
      // The item as this process last saw it: usually current, so a write needs no read.
      let lastSeen: DynamoItem | null | undefined;
      return {
        abortable: true,
        async record(request: BudgetRequest, signal?: AbortSignal): Promise<BudgetResult> {
          const cached = lastSeen;
          const update = (current: DynamoItem | null | undefined) =>
            conditionalUpdate<BudgetResult>({
              client,
              tableName,
              key,
              current,
              build: (item) => plan(item, spec, request, clock.now()),
              maxAttempts,
              operation: 'retry.budget.record',
              signal,
            });
          let outcome = await update(cached);
          // A refusal that wrote nothing was decided on the cached item alone, which other
          // replicas may have changed since (their calls earn retries): decide again on a fresh
          // read.
          if (request.withdraw && !outcome.updated && cached !== undefined)
            outcome = await update(undefined);
          lastSeen = outcome.item ?? null;
          return outcome.result!;
        },
        probe: dynamoProbe(client, tableName, pk),
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The new state of the item: prune, add calls, maybe withdraw; and the decision taken. */
function plan(
  current: DynamoItem | undefined,
  spec: BudgetSpec,
  request: BudgetRequest,
  nowMs: number,
): UpdatePlan<BudgetResult> {
  const slot = Math.floor(nowMs / spec.slotMs);
  const oldest = slot - Math.ceil(spec.windowMs / spec.slotMs) + 1;
  const remove: string[] = [];
  let calls = 0;
  let retries = 0;
  for (const attribute in current) {
    const isCalls = attribute.startsWith(CALLS);
    if (!isCalls && !attribute.startsWith(RETRIES)) continue;
    if (Number(attribute.slice(2)) < oldest) {
      remove.push(attribute);
      continue;
    }
    const value = Number(current[attribute]?.N ?? 0);
    if (isCalls) calls += value;
    else retries += value;
  }
  const set: Record<string, { N: string }> = {};
  if (request.calls > 0) {
    const attribute = CALLS + slot;
    set[attribute] = { N: String(Number(current?.[attribute]?.N ?? 0) + request.calls) };
    calls += request.calls;
  }
  let available = spec.ratio * calls + spec.reserve - retries;
  let granted = false;
  if (request.withdraw && available >= 1) {
    const attribute = RETRIES + slot;
    set[attribute] = { N: String(Number(current?.[attribute]?.N ?? 0) + 1) };
    available -= 1;
    granted = true;
  }
  const result = { granted, available };
  if (remove.length === 0 && Object.keys(set).length === 0) return { result };
  set[TTL_ATTRIBUTE] = { N: String(Math.ceil((nowMs + spec.windowMs + spec.slotMs) / 1000)) };
  return { set, remove, result };
}
