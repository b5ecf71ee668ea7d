/**
 * The DynamoDB store: one item per key, changed by an optimistic compare-and-swap on its version.
 *
 * Item: `pk` (S, `<prefix>:rate-limit:<name>:<layout>:<key>`, layout = the algorithm(s)), `version` (N), `state` (M: one N
 * per state number, named `<intervalMs>.<i>` like the Redis hash fields), `idleAt` (N, epoch ms
 * after which the state is as good as fresh) and `ttl` (N, epoch seconds, for DynamoDB's expiry).
 *
 * Cost: each replica remembers the item it last wrote, so in the steady state a decision is one
 * conditional UpdateItem (one write unit for items under 1 KB). When another replica wrote in
 * between, the write fails its condition, DynamoDB returns the current item, and the decision is
 * retried on it: one more UpdateItem per conflict, at most `maxAttempts` in all. A denial decided
 * from the remembered item costs no request at all; it can only be stale in the strict direction
 * (a reset by another replica is seen once this replica writes again).
 *
 * Clock: DynamoDB has no server clock a write can read, so decisions use the limiter's clock. With
 * replica clocks up to D ms apart, the fleet can admit up to `D / emissionMs` extra units in
 * total over any stretch of time (not per window): the one-off gap between the clocks.
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  expectInteger,
  expectNonEmptyString,
  expectObject,
  type ReplicaBackend,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  conditionalUpdate,
  type DynamoItem,
  dynamoProbe,
  dynamoReplicaBackend,
  type KeyBuilder,
  keyBuilder,
} from '@breakwater/core/dynamodb';
import {
  adjustAll,
  advanceAll,
  consumeAll,
  consumeBlocking,
  fitsAll,
  freshState,
  giveBackAll,
  idleAfterMs,
  isBlocked,
} from '../key-state.js';
import { DYNAMO_STORE_OPTIONS, STORE_RENAMES } from '../known-options.js';
import type { LimiterShape, RateLimitStore, StoreHandle, StoreResult } from '../store.js';
import { dynamoLimitsRecord } from './dynamodb-limits.js';

/** Options of {@link dynamoStore}. */
export interface DynamoStoreOptions {
  /** Your DynamoDB client. The store never creates one itself, and never destroys yours. */
  client: DynamoDBClient;
  /** The table: string partition key `pk`, TTL on `ttl` (see `createTable()` of `@breakwater/core/dynamodb`). */
  tableName: string;
  /**
   * First segment of every partition key; use one per tenant or environment sharing a table.
   * @default 'bw'
   */
  prefix?: string | undefined;
  /**
   * Conditional writes per decision before giving up (a store error, answered by `onStoreError`).
   * @default 8
   */
  maxAttempts?: number | undefined;
  /**
   * Items remembered per limiter, so the steady state needs no read before the write.
   * @default 10_000
   */
  cacheKeys?: number | undefined;
}

/**
 * A store in DynamoDB, shared by every replica using the same table, prefix and limiter name.
 *
 * @example
 * import { dynamoStore } from '@breakwater/rate-limit/dynamodb';
 * const store = dynamoStore({ client: new DynamoDBClient({}), tableName: 'breakwater' });
 */
export function dynamoStore(options: DynamoStoreOptions): RateLimitStore {
  expectObject('options', options);
  warnUnknownOptions('dynamoStore() (@breakwater/rate-limit)', options, {
    known: DYNAMO_STORE_OPTIONS,
    renames: STORE_RENAMES,
  });
  const client = expectObject('client', options.client) as unknown as DynamoDBClient;
  if (typeof client.send !== 'function') {
    throw new TypeError('Expected `client` to be a DynamoDBClient');
  }
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const maxAttempts = expectInteger('maxAttempts', options.maxAttempts ?? 8);
  const cacheKeys = expectInteger('cacheKeys', options.cacheKeys ?? 10_000);
  const prefix = options.prefix;
  // Nothing to close: the store opens no connection and owns no timer; the client is yours.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'dynamodb',
    ...dynamoLimitsRecord(client, tableName, prefix),
    scope(shape) {
      const keys = keyBuilder({ prefix, pattern: 'rate-limit', name: shape.name });
      return new DynamoHandle({ client, tableName, maxAttempts, cacheKeys, keys }, shape);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The state attribute holding the time a key is blocked until (`blockDurationMs`). */
const BLOCK_FIELD = 'block';

/** The last key part of the limiter's replica registry item (no algorithm has this name). */
const REPLICAS_KEY_PART = 'replicas';

/** The user key whose item the health probe reads: the limiter's policy-wide key. */
const PROBE_USER_KEY = '';

interface HandleConfig {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly maxAttempts: number;
  readonly cacheKeys: number;
  readonly keys: KeyBuilder;
}

/** What one attempt decided, carried out of `conditionalUpdate`'s build callback. */
interface Outcome {
  granted: number;
  state: number[];
}

class DynamoHandle implements StoreHandle {
  readonly remote = true;
  readonly abortable = true;
  private readonly limits;
  /** State attribute names, `<intervalMs>.<i>`, in state order, then `block` when blocking. */
  private readonly fields: string[] = [];
  /** `blockDurationMs` (0: none). */
  private readonly blockMs: number;
  /** The item each key had after this replica's last write (`null`: none). */
  private readonly lastSeen = new Map<string, DynamoItem | null>();
  /**
   * Per key, the end of the last operation in flight. Operations on one key from this replica run
   * one after another: concurrent ones would all write against the same remembered version, and
   * all but one would conflict, again and again. Contention is then between replicas only.
   */
  private readonly inFlight = new Map<string, Promise<void>>();
  /**
   * An eventually consistent GetItem of the limiter's policy-wide item, projected to its key
   * (half a read unit; the item need not exist): proves the table answers again.
   */
  readonly probe: (signal: AbortSignal) => Promise<unknown>;

  constructor(
    private readonly config: HandleConfig,
    private readonly shape: LimiterShape,
  ) {
    this.limits = shape.limits;
    this.probe = dynamoProbe(
      config.client,
      config.tableName,
      config.keys.dynamoPk(PROBE_USER_KEY, shape.layout),
    );
    for (const limit of shape.limits) {
      for (let i = 0; i < limit.impl.stateSize; i++) this.fields.push(`${limit.intervalMs}.${i}`);
    }
    this.blockMs = shape.blockDurationMs ?? 0;
    if (this.blockMs > 0) this.fields.push(BLOCK_FIELD);
  }

  /** One item (the `replicas` part of the policy-wide key), with one attribute per live replica. */
  replicaBackend(): ReplicaBackend {
    const { client, tableName, keys } = this.config;
    return dynamoReplicaBackend(
      client,
      tableName,
      keys.dynamoPk(PROBE_USER_KEY, REPLICAS_KEY_PART),
    );
  }

  async consume(
    key: string,
    cost: number,
    minCost: number,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<StoreResult> {
    const outcome = await this.update(key, 'rate-limit.consume', now, signal, (state) => {
      if (this.blockMs > 0) {
        const taken = consumeBlocking(this.limits, state, now, cost, minCost, this.blockMs);
        // −1: denied, and the block it started is written.
        return taken > 0 ? taken : taken < 0 ? 0 : undefined;
      }
      const granted = consumeAll(this.limits, state, now, cost, minCost);
      return granted > 0 ? granted : undefined;
    });
    return { allowed: outcome.granted > 0, granted: outcome.granted, now, state: outcome.state };
  }

  async peek(
    key: string,
    cost: number,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<StoreResult> {
    const output = await this.config.client.send(
      new GetItemCommand({
        TableName: this.config.tableName,
        Key: this.key(key),
        ConsistentRead: true,
      }),
      { abortSignal: signal },
    );
    const state = this.read(output.Item, now);
    advanceAll(this.limits, state, now);
    return {
      allowed: this.fits(state, now, cost),
      granted: 0,
      now,
      state,
    };
  }

  async refund(
    key: string,
    cost: number,
    takenAt: number,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await this.update(key, 'rate-limit.refund', now, signal, (state) => {
      giveBackAll(this.limits, state, now, cost, takenAt);
      return cost;
    });
  }

  async adjust(
    key: string,
    points: number,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<StoreResult> {
    // The same version-checked read-modify-write as a consume: atomic against every replica.
    const outcome = await this.update(key, 'rate-limit.adjust', now, signal, (state) => {
      adjustAll(this.limits, state, now, points);
      return 1;
    });
    return {
      allowed: this.fits(outcome.state, now, 1),
      granted: 0,
      now,
      state: outcome.state,
    };
  }

  async reset(key: string, signal: AbortSignal | undefined): Promise<void> {
    this.lastSeen.delete(key);
    await this.config.client.send(
      new DeleteItemCommand({ TableName: this.config.tableName, Key: this.key(key) }),
      { abortSignal: signal },
    );
  }

  /**
   * Reads the item's state, lets `change` alter it, and writes it back under the version check;
   * `change` returns `undefined` to write nothing (a denial).
   */
  private async update(
    key: string,
    operation: string,
    now: number,
    signal: AbortSignal | undefined,
    change: (state: number[]) => number | undefined,
  ): Promise<Outcome> {
    const previous = this.inFlight.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.inFlight.set(key, mine);
    try {
      if (previous !== undefined) await previous;
      signal?.throwIfAborted();
      return await this.updateNow(key, operation, now, signal, change);
    } finally {
      done();
      if (this.inFlight.get(key) === mine) this.inFlight.delete(key);
    }
  }

  private async updateNow(
    key: string,
    operation: string,
    now: number,
    signal: AbortSignal | undefined,
    change: (state: number[]) => number | undefined,
  ): Promise<Outcome> {
    const pk = this.key(key);
    const outcome: Outcome = { granted: 0, state: [] };
    const result = await conditionalUpdate({
      client: this.config.client,
      tableName: this.config.tableName,
      key: pk,
      current: this.lastSeen.has(key) ? this.lastSeen.get(key) : null,
      maxAttempts: this.config.maxAttempts,
      operation,
      signal,
      build: (current) => {
        const state = this.read(current, now);
        const granted = change(state);
        outcome.state = state;
        outcome.granted = granted ?? 0;
        if (granted === undefined) return null;
        let idle = idleAfterMs(this.limits, state, now);
        if (this.blockMs > 0) idle = Math.max(idle, state[state.length - 1]! - now);
        const stateMap: Record<string, AttributeValue> = {};
        for (let i = 0; i < this.fields.length; i++)
          stateMap[this.fields[i]!] = { N: String(state[i]) };
        return {
          set: {
            state: { M: stateMap },
            idleAt: { N: String(now + idle) },
            // DynamoDB deletes expired items lazily (within days); idleAt is what decisions trust.
            ttl: { N: String(Math.ceil((now + idle) / 1000) + 1) },
          },
        };
      },
    });
    this.remember(key, result.item ?? null);
    return outcome;
  }

  /** The state in `item`, or a fresh state when there is none or it has gone idle. */
  private read(item: DynamoItem | undefined, now: number): number[] {
    const idleAt = item?.idleAt?.N;
    const stored = item?.state?.M;
    const state = freshState(this.limits, now, new Array<number>(this.fields.length));
    if (this.blockMs > 0) state[state.length - 1] = Number(stored?.[BLOCK_FIELD]?.N ?? 0);
    if (stored === undefined || idleAt === undefined || Number(idleAt) <= now) {
      if (this.blockMs > 0) state[state.length - 1] = 0;
      return state;
    }
    for (let l = 0, offset = 0; l < this.limits.length; l++) {
      const size = this.limits[l]!.impl.stateSize;
      // A limit added since the item was written starts fresh; the others keep their state.
      if (stored[this.fields[offset]!]?.N !== undefined) {
        for (let i = offset; i < offset + size; i++) {
          state[i] = Number(stored[this.fields[i]!]?.N ?? state[i]);
        }
      }
      offset += size;
    }
    return state;
  }

  /** Whether `cost` fits an advanced state, and the key is not blocked. */
  private fits(state: number[], now: number, cost: number): boolean {
    if (this.blockMs > 0 && isBlocked(state, now)) return false;
    return fitsAll(this.limits, state, now, cost);
  }

  private remember(key: string, item: DynamoItem | null): void {
    this.lastSeen.delete(key);
    this.lastSeen.set(key, item);
    if (this.lastSeen.size > this.config.cacheKeys) {
      for (const oldest of this.lastSeen.keys()) {
        this.lastSeen.delete(oldest);
        break;
      }
    }
  }

  private key(userKey: string): DynamoItem {
    return { pk: { S: this.config.keys.dynamoPk(userKey, this.shape.layout) } };
  }
}
