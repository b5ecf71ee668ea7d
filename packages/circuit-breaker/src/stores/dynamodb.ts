/**
 * The DynamoDB store: one item per breaker, changed only by a conditional write on its `version`
 * (read, apply the state machine of machine.ts, write if the version is unchanged, retry a bounded
 * number of times on conflict). DynamoDB cannot push changes, so breakers on it re-read the item
 * every `syncIntervalMs`.
 *
 * Item shape (table with string partition key `pk` and TTL attribute `ttl`):
 *
 * | attribute | type | content |
 * |-----------|------|---------|
 * | `pk`      | S    | `<prefix>:circuit-breaker:<name>:state:` |
 * | `version` | N    | compare-and-swap counter, bumped by every write |
 * | `state`   | S    | the breaker state, for people reading the table |
 * | `rec`     | S    | the record as JSON (record.ts: state, window, probe leases, quorum) |
 * | `ttl`     | N    | epoch seconds after which DynamoDB may delete an abandoned breaker |
 *
 * Time comes from the replicas' clocks (the `now` of each operation), so replicas should agree
 * within a fraction of the shortest duration they use (window bucket, break, probe lease); with
 * NTP-synchronised hosts (milliseconds of skew) that holds for any sensible configuration.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { expectNonEmptyString, expectObject, warnUnknownOptions } from '@breakwater/core';
import {
  conditionalUpdate,
  type DynamoItem,
  dynamoProbe,
  keyBuilder,
} from '@breakwater/core/dynamodb';
import { DYNAMO_STORE_OPTIONS } from '../known-options.js';
import {
  acquireProbe,
  applyCommand,
  recordBatch,
  releaseProbe,
  seedRecord,
  settle,
} from '../machine.js';
import { type BreakerRecord, freshRecord, parseRecord, viewOf } from '../record.js';
import type {
  BreakerCommand,
  BreakerRules,
  BreakerScope,
  BreakerSeed,
  BreakerStore,
  BreakerView,
  OutcomeBatch,
  ProbeAnswer,
  ProbeDecision,
  ProbeResult,
} from '../store.js';

const PATTERN = 'circuit-breaker';

/** Options of {@link dynamoStore}. */
export interface DynamoStoreOptions {
  /** Your DynamoDB client. The store never closes it. */
  client: DynamoDBClient;
  /** The table: string partition key `pk`, TTL on the numeric attribute `ttl` (see `createTable`). */
  tableName: string;
  /**
   * First segment of every partition key; use one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string;
  /**
   * Conditional writes attempted per operation before it fails with a conflict.
   * @default 5
   */
  maxAttempts?: number;
}

/** A circuit-breaker store on DynamoDB. */
export interface DynamoBreakerStore extends BreakerStore {
  readonly kind: 'dynamodb';
  /** The table in use. */
  readonly tableName: string;
}

/**
 * Creates a store that shares breaker state through one DynamoDB table.
 *
 * @example
 * import { dynamoStore } from '@breakwater/circuit-breaker/dynamodb';
 * const store = dynamoStore({ client: new DynamoDBClient({}), tableName: 'breakwater' });
 * const breaker = circuitBreaker({ name: 'payments', store });
 */
export function dynamoStore(options: DynamoStoreOptions): DynamoBreakerStore {
  expectObject('options', options);
  warnUnknownOptions('dynamoStore() (@breakwater/circuit-breaker)', options, {
    known: DYNAMO_STORE_OPTIONS,
  });
  const client = options.client;
  if (typeof (client as { send?: unknown } | undefined)?.send !== 'function') {
    throw new TypeError('Expected `client` to be a DynamoDBClient');
  }
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const prefix = keyBuilder({ prefix: options.prefix, pattern: PATTERN, name: 'x' }).prefix;
  // DynamoDB cannot push, so the store opens nothing of its own: closing it leaves your client to you.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'dynamodb',
    defaultSyncIntervalMs: 100,
    tableName,
    scope: (name, rules) =>
      scopeDynamo(client, tableName, prefix, name, rules, options.maxAttempts),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The outcome of applying one operation to the record. */
interface Applied {
  readonly decision: ProbeDecision | undefined;
}

/**
 * The store scoped to one breaker: its item, and the operations on it. Every request honours the
 * signal the breaker passes (aborted at the store deadline).
 */
function scopeDynamo(
  client: DynamoDBClient,
  tableName: string,
  prefix: string,
  name: string,
  rules: BreakerRules,
  maxAttempts: number | undefined,
): BreakerScope {
  const pk = keyBuilder({ prefix, pattern: PATTERN, name }).dynamoPk('', 'state');
  const key: DynamoItem = { pk: { S: pk } };

  /**
   * Reads the item, applies `change` to its record, and writes it back when it changed, under the
   * version condition; answers the view of the record that was stored.
   */
  const apply = async (
    operation: string,
    now: number,
    signal: AbortSignal | undefined,
    change: (record: BreakerRecord) => ProbeDecision | undefined,
  ): Promise<{ view: BreakerView; decision: ProbeDecision | undefined }> => {
    let record: BreakerRecord = freshRecord(now);
    let replaced = false;
    const outcome = await conditionalUpdate<Applied>({
      client,
      tableName,
      key,
      maxAttempts,
      operation: `circuit-breaker.${operation}`,
      signal,
      build: (current) => {
        const stored = current?.rec?.S;
        let parsed: unknown;
        try {
          parsed = stored === undefined ? undefined : JSON.parse(stored);
        } catch {
          parsed = null;
        }
        const valid = parseRecord(parsed, rules);
        replaced = current !== undefined && valid === undefined;
        record = valid ?? freshRecord(now);
        const decision = change(record);
        const json = JSON.stringify(record);
        if (json === stored) return { result: { decision } };
        return {
          set: {
            state: { S: record.state },
            rec: { S: json },
            ttl: { N: String(Math.ceil((now + rules.recordTtlMs) / 1000)) },
          },
          result: { decision },
        };
      },
    });
    return { view: viewOf(record, now, replaced), decision: outcome.result?.decision };
  };

  return {
    abortable: true,
    read: async (now: number, signal?: AbortSignal): Promise<BreakerView> =>
      (
        await apply('read', now, signal, (record) => {
          settle(record, rules, now);
          return undefined;
        })
      ).view,
    record: async (
      batch: OutcomeBatch,
      replica: string,
      now: number,
      signal?: AbortSignal,
    ): Promise<BreakerView> =>
      (
        await apply('record', now, signal, (record) => {
          recordBatch(record, rules, now, batch, replica);
          return undefined;
        })
      ).view,
    acquireProbe: async (
      token: string,
      now: number,
      signal?: AbortSignal,
    ): Promise<ProbeAnswer> => {
      const { view, decision } = await apply(
        'acquire_probe',
        now,
        signal,
        (record) => acquireProbe(record, rules, now, token).decision,
      );
      return { decision: decision ?? 'reject', view };
    },
    releaseProbe: async (
      token: string,
      result: ProbeResult,
      now: number,
      signal?: AbortSignal,
    ): Promise<BreakerView> =>
      (
        await apply('release_probe', now, signal, (record) => {
          releaseProbe(record, rules, now, token, result);
          return undefined;
        })
      ).view,
    command: async (
      command: BreakerCommand,
      now: number,
      signal?: AbortSignal,
    ): Promise<BreakerView> =>
      (
        await apply('command', now, signal, (record) => {
          applyCommand(record, rules, now, command);
          return undefined;
        })
      ).view,
    seed: async (seed: BreakerSeed, now: number, signal?: AbortSignal): Promise<BreakerView> =>
      (
        await apply('seed', now, signal, (record) => {
          if (record.ver === 0) seedRecord(record, rules, now, seed);
          return undefined;
        })
      ).view,
    // A GetItem of the breaker's own item, projected to its key: half a read unit.
    probe: dynamoProbe(client, tableName, pk),
  };
}
