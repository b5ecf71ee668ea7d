/**
 * The DynamoDB L2 store: one table (string partition key `pk`, numeric TTL attribute `ttl`),
 * compare-and-set writes through core's `conditionalUpdate`, the client's clock for expiry.
 *
 * Item shapes (`pk` is `<prefix>:cache:<name>:<part>:<key>`):
 *
 * | part | attributes                                                                        |
 * | ---- | --------------------------------------------------------------------------------- |
 * | `e`  | `v` version (N), `r` record (S, absent after a delete), `x` expiry in epoch ms (N, |
 * |      | absent = never), `lt` lease token (S), `lx` lease expiry in epoch ms (N), `rev`     |
 * |      | revision (N, bumped by every write and lease grant: the compare-and-set check),   |
 * |      | `ttl` (N)                                                                         |
 * | `t`  | `v` tag version (N)                                                               |
 *
 * The record and its lease share one item, so "take the lease unless the version moved" is one
 * conditional UpdateItem, and a write or delete ends the key's lease in the UpdateItem that
 * changes the record. A delete keeps the item as a tombstone (version only, `ttl` a day
 * later), so versions keep growing across deletes even when replicas' clocks disagree. The record
 * version `v` is `max(previous + 1, now in µs)`; `rev` only counts writes of the item, so that a
 * write computed from a stale read — a lease granted to another holder meanwhile included — is
 * never applied.
 *
 * Cost per operation: a read is one strongly consistent GetItem; a write or delete is a GetItem
 * plus a conditional UpdateItem (retried with jittered backoff, up to {@link MAX_CAS_ATTEMPTS}
 * times, only under contention on the same key; giving up is a `StoreConflictError`, which does
 * not degrade the store); a lease attempt is one conditional UpdateItem (a failed condition still
 * consumes a write unit); a tag read is one BatchGetItem per 100 tags; a tag bump is one
 * UpdateItem per tag. There is no bus: L1 copies of other replicas converge within
 * `l1.maxStaleMs`, and waiters poll the lease with backoff.
 *
 * Clock: expiries (records, leases) are compared with each replica's clock; skew between replicas
 * shortens or lengthens a lease by the skew, so keep skew well below `lease.ttlMs`.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  type Clock,
  expectNonEmptyString,
  expectObject,
  type KeyBuilder,
  keyBuilder,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  conditionalUpdate,
  dynamoProbe,
  isAwsError,
  type UpdatePlan,
} from '@breakwater/core/dynamodb';
import { DYNAMO_STORE_OPTIONS } from '../known-options.js';
import type {
  CacheScope,
  CacheStore,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  WriteResult,
} from '../store.js';

/** Options of {@link dynamoStore}. */
export interface DynamoStoreOptions {
  /** Your DynamoDB client. The store never destroys it. */
  client: DynamoDBClient;
  /** The table: string partition key `pk`; enable TTL on the numeric attribute `ttl`. */
  tableName: string;
  /**
   * First segment of every partition key; one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string | undefined;
  /**
   * The clock that expires records and leases.
   * @default systemClock
   */
  clock?: Clock | undefined;
}

/**
 * Compare-and-set attempts of one write or delete before it fails with core's
 * `StoreConflictError` (the `maxAttempts` it gives `conditionalUpdate`).
 */
export const MAX_CAS_ATTEMPTS = 5;

/** Rounds of BatchGetItem for the keys DynamoDB left unprocessed, before a tag read fails. */
const MAX_BATCH_ROUNDS = 5;

/** The attribute `conditionalUpdate` compares and bumps; lease grants bump it too. */
const REVISION = 'rev';

/** How long a tombstone is kept after a delete, in seconds (for the `ttl` attribute). */
const TOMBSTONE_SECONDS = 86_400;

/** The lease's attributes, removed by a write that lands (which ends the lease) and by a delete. */
const LEASE_ATTRIBUTES: readonly string[] = ['lt', 'lx'];

/**
 * A DynamoDB store for {@link "@breakwater/cache"!cache}. It opens nothing of its own: `close()`
 * resolves at once, and the client stays yours.
 *
 * @example
 * const store = dynamoStore({ client: new DynamoDBClient({}), tableName: 'breakwater' });
 * const c = cache({ name: 'profiles', store, ttlMs: 60_000, l1: { maxStaleMs: 5_000 } });
 */
export function dynamoStore(options: DynamoStoreOptions): CacheStore {
  expectObject('options', options);
  warnUnknownOptions('dynamoStore() (@breakwater/cache)', options, { known: DYNAMO_STORE_OPTIONS });
  expectObject('client', options.client);
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const clock = options.clock ?? systemClock;
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'dynamodb',
    scope: (cacheName) =>
      new DynamoScope(
        options.client,
        tableName,
        keyBuilder({ prefix: options.prefix, pattern: 'cache', name: cacheName }),
        clock,
      ),
    close,
    [Symbol.asyncDispose]: close,
  };
}

type Item = Record<string, AttributeValue>;

const n = (value: number): AttributeValue => ({ N: String(value) });
const s = (value: string): AttributeValue => ({ S: value });
const num = (value: AttributeValue | undefined): number | undefined =>
  value?.N === undefined ? undefined : Number(value.N);

/** The record item's state as the cache sees it. */
interface RecordState {
  /** The stored version, live or not (0 without an item). */
  storedVersion: number;
  /** The live record, if any. */
  live: StoredRecord | undefined;
  leaseToken: string | undefined;
}

class DynamoScope implements CacheScope {
  /** Every request honours the signal the store layer aborts at the deadline. */
  readonly abortable = true;
  /** An eventually consistent GetItem of the empty user key's record item (never written). */
  readonly probe: (signal: AbortSignal) => Promise<unknown>;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly keys: KeyBuilder,
    private readonly clock: Clock,
  ) {
    this.probe = dynamoProbe(client, tableName, this.recordPk(''));
  }

  async get(key: string, signal?: AbortSignal): Promise<StoredRecord | undefined> {
    return this.state(await this.read(this.recordPk(key), signal)).live;
  }

  async set(key: string, write: RecordWrite, signal?: AbortSignal): Promise<WriteResult> {
    const { result } = await conditionalUpdate<WriteResult>({
      client: this.client,
      tableName: this.tableName,
      key: { pk: s(this.recordPk(key)) },
      versionAttribute: REVISION,
      maxAttempts: MAX_CAS_ATTEMPTS,
      operation: 'set',
      signal,
      build: (item) => this.planSet(this.state(item), write),
    });
    return result!;
  }

  async delete(key: string, _origin: string, signal?: AbortSignal): Promise<number> {
    const { result } = await conditionalUpdate<number>({
      client: this.client,
      tableName: this.tableName,
      key: { pk: s(this.recordPk(key)) },
      versionAttribute: REVISION,
      maxAttempts: MAX_CAS_ATTEMPTS,
      operation: 'delete',
      signal,
      build: (item) => {
        const version = this.nextVersion(this.state(item).storedVersion);
        const tombstoneTtl = Math.ceil(this.clock.now() / 1000) + TOMBSTONE_SECONDS;
        // The lease goes with the record: a load running now may have read what this delete
        // invalidates. A lease granted after this read bumped `rev`, so the update retries.
        return {
          set: { v: n(version), ttl: n(tombstoneTtl) },
          remove: ['r', 'x', ...LEASE_ATTRIBUTES],
          result: version,
        };
      },
    });
    return result!;
  }

  async getTagVersions(tags: readonly string[], signal?: AbortSignal): Promise<number[]> {
    const pks = tags.map((tag) => this.keys.dynamoPk(tag, 't'));
    const found = new Map<string, number>();
    for (let start = 0; start < pks.length; start += 100) {
      let pending: Item[] = [...new Set(pks.slice(start, start + 100))].map((pk) => ({
        pk: s(pk),
      }));
      // BatchGetItem may return part of the keys as unprocessed; ask again for those.
      for (let round = 0; pending.length > 0; round++) {
        if (round >= MAX_BATCH_ROUNDS) {
          throw new Error(`DynamoDB left tag reads unprocessed ${MAX_BATCH_ROUNDS} times in a row`);
        }
        const answer = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
          }),
          { abortSignal: signal },
        );
        for (const item of answer.Responses?.[this.tableName] ?? []) {
          found.set(item.pk?.S ?? '', num(item.v) ?? 0);
        }
        pending = answer.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return pks.map((pk) => found.get(pk) ?? 0);
  }

  async bumpTags(
    tags: readonly string[],
    _origin: string,
    signal?: AbortSignal,
  ): Promise<number[]> {
    return Promise.all(
      tags.map(async (tag) => {
        const answer = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { pk: s(this.keys.dynamoPk(tag, 't')) },
            UpdateExpression: 'ADD v :one',
            ExpressionAttributeValues: { ':one': n(1) },
            ReturnValues: 'UPDATED_NEW',
          }),
          { abortSignal: signal },
        );
        return num(answer.Attributes?.v) ?? 0;
      }),
    );
  }

  async acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
    signal?: AbortSignal,
  ): Promise<LeaseResult> {
    const pk = this.recordPk(key);
    const now = this.clock.now();
    const values: Item = { ':t': s(token), ':lx': n(now + ttlMs), ':now': n(now), ':one': n(1) };
    // The lease is free, and the live version is the one the caller saw.
    let condition = '(attribute_not_exists(lt) OR lx <= :now) AND ';
    if (seenVersion === 0) {
      condition += '(attribute_not_exists(r) OR (attribute_exists(x) AND x <= :now))';
    } else {
      condition += 'v = :seen AND attribute_exists(r) AND (attribute_not_exists(x) OR x > :now)';
      values[':seen'] = n(seenVersion);
    }
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: s(pk) },
          // A new holder bumps the revision: a write that read the previous holder's lease (and
          // would release it with its token) must not release this one.
          UpdateExpression: 'SET lt = :t, lx = :lx ADD #rev :one',
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#rev': REVISION },
          ExpressionAttributeValues: values,
        }),
        { abortSignal: signal },
      );
      return { status: 'acquired' };
    } catch (error) {
      if (!isAwsError(error, 'ConditionalCheckFailedException')) throw error;
    }
    const item = await this.read(pk, signal);
    const state = this.state(item);
    const version = state.live?.version ?? 0;
    if (version !== seenVersion) return { status: 'changed', current: state.live };
    const leaseExpiry = num(item?.lx) ?? now;
    return { status: 'held', ttlMs: Math.max(1, leaseExpiry - this.clock.now()) };
  }

  async extendLease(
    key: string,
    token: string,
    ttlMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const now = this.clock.now();
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: s(this.recordPk(key)) },
          UpdateExpression: 'SET lx = :lx',
          ConditionExpression: 'lt = :t AND lx > :now',
          ExpressionAttributeValues: { ':t': s(token), ':lx': n(now + ttlMs), ':now': n(now) },
        }),
        { abortSignal: signal },
      );
      return true;
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) return false;
      throw error;
    }
  }

  async releaseLease(key: string, token: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: s(this.recordPk(key)) },
          UpdateExpression: 'REMOVE lt, lx',
          ConditionExpression: 'lt = :t',
          ExpressionAttributeValues: { ':t': s(token) },
        }),
        { abortSignal: signal },
      );
      return true;
    } catch (error) {
      if (isAwsError(error, 'ConditionalCheckFailedException')) return false;
      throw error;
    }
  }

  /**
   * What `set` writes over the item as read: the record, ending the key's lease with it (the
   * writer's own, or — for a `set` — a running load's, whose value would be older); or — when the
   * version is not the one expected — only the release of the writer's lease, or nothing (a write
   * under a lease it no longer holds, as for a holder paused past its lease).
   */
  private planSet(state: RecordState, write: RecordWrite): UpdatePlan<WriteResult> {
    const current = state.live?.version ?? 0;
    const releases = write.leaseToken !== undefined && state.leaseToken === write.leaseToken;
    // A load's write lands only under its live lease (see RecordWrite.leaseToken).
    if (write.leaseToken !== undefined && !releases)
      return { result: { written: false, version: current } };
    if (write.expectVersion !== undefined && write.expectVersion !== current) {
      const result = { written: false, version: current };
      return releases ? { remove: LEASE_ATTRIBUTES, result } : { result };
    }
    const version = this.nextVersion(state.storedVersion);
    const expiresAt = write.ttlMs === undefined ? undefined : this.clock.now() + write.ttlMs;
    const set: Item = { v: n(version), r: s(write.record) };
    const remove: string[] = [];
    if (expiresAt === undefined) remove.push('x', 'ttl');
    else {
      set.x = n(expiresAt);
      set.ttl = n(Math.ceil(expiresAt / 1000));
    }
    // A lease granted after this read bumped `rev`, so the update retries and ends that one too.
    remove.push(...LEASE_ATTRIBUTES);
    return { set, remove, result: { written: true, version } };
  }

  private recordPk(key: string): string {
    return this.keys.dynamoPk(key, 'e');
  }

  private async read(pk: string, signal: AbortSignal | undefined): Promise<Item | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: s(pk) }, ConsistentRead: true }),
      { abortSignal: signal },
    );
    return answer.Item;
  }

  private state(item: Item | undefined): RecordState {
    if (item === undefined) return { storedVersion: 0, live: undefined, leaseToken: undefined };
    const storedVersion = num(item.v) ?? 0;
    const now = this.clock.now();
    const lease = item.lt?.S;
    const leaseLive = lease !== undefined && (num(item.lx) ?? 0) > now;
    const record = item.r?.S;
    const expiresAt = num(item.x);
    const live =
      record !== undefined && (expiresAt === undefined || expiresAt > now)
        ? { version: storedVersion, record }
        : undefined;
    return { storedVersion, live, leaseToken: leaseLive ? lease : undefined };
  }

  private nextVersion(previous: number): number {
    return Math.max(previous + 1, Math.floor(this.clock.now() * 1000));
  }
}
