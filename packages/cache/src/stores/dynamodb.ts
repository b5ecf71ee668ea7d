/**
 * The DynamoDB L2 store: one table (string partition key `pk`, numeric TTL attribute `ttl`),
 * conditional writes with a bounded compare-and-set loop, the client's clock for expiry.
 *
 * Item shapes (`pk` is `<prefix>:cache:<name>:<part>:<key>`):
 *
 * | part | attributes                                                                       |
 * | ---- | -------------------------------------------------------------------------------- |
 * | `e`  | `v` version (N), `r` record (S, absent after a delete), `x` expiry in epoch ms (N, |
 * |      | absent = never), `lt` lease token (S), `lx` lease expiry in epoch ms (N), `ttl` (N) |
 * | `t`  | `v` tag version (N)                                                              |
 *
 * The record and its lease share one item, so "take the lease unless the version moved" is one
 * conditional UpdateItem. A delete keeps the item as a tombstone (version only, `ttl` a day
 * later), so versions keep growing across deletes even when replicas' clocks disagree.
 *
 * Cost per operation: a read is one strongly consistent GetItem; a write or delete is a GetItem
 * plus a conditional UpdateItem (retried, up to {@link MAX_CAS_ATTEMPTS} times, only under
 * contention on the same key); a lease attempt is one conditional UpdateItem (a failed condition
 * still consumes a write unit); a tag read is one BatchGetItem per 100 tags; a tag bump is one
 * UpdateItem per tag. There is no bus: L1 copies of other replicas converge within
 * `l1.maxStaleMs`, and waiters poll the lease with backoff.
 *
 * Clock: expiries (records, leases) are compared with each replica's clock; skew between replicas
 * shortens or lengthens a lease by the skew, so keep skew well below `lease.ttlMs`.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
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
} from '@breakwater/core';
import type {
  CacheStore,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  StoreNamespace,
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

/** Compare-and-set attempts of one write before it fails with a store error. */
export const MAX_CAS_ATTEMPTS = 5;

/** How long a tombstone is kept after a delete, in seconds (for the `ttl` attribute). */
const TOMBSTONE_SECONDS = 86_400;

/**
 * A DynamoDB store for {@link cache}.
 *
 * @example
 * const store = dynamoStore({ client: new DynamoDBClient({}), tableName: 'breakwater' });
 * const c = cache({ name: 'profiles', store, ttlMs: 60_000, l1: { maxStaleMs: 5_000 } });
 */
export function dynamoStore(options: DynamoStoreOptions): CacheStore {
  expectObject('options', options);
  expectObject('client', options.client);
  const tableName = expectNonEmptyString('tableName', options.tableName);
  const clock = options.clock ?? systemClock;
  return {
    kind: 'dynamodb',
    namespace: (cacheName) =>
      new DynamoNamespace(
        options.client,
        tableName,
        keyBuilder({ prefix: options.prefix, pattern: 'cache', name: cacheName }),
        clock,
      ),
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

class DynamoNamespace implements StoreNamespace {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly keys: KeyBuilder,
    private readonly clock: Clock,
  ) {}

  async get(key: string): Promise<StoredRecord | undefined> {
    return this.state(await this.read(this.recordPk(key))).live;
  }

  async set(key: string, write: RecordWrite): Promise<WriteResult> {
    const pk = this.recordPk(key);
    for (let attempt = 1; ; attempt++) {
      const state = this.state(await this.read(pk));
      const current = state.live?.version ?? 0;
      const releases = write.leaseToken !== undefined && state.leaseToken === write.leaseToken;
      if (write.expectVersion !== undefined && write.expectVersion !== current) {
        if (releases) await this.releaseLease(key, write.leaseToken!);
        return { written: false, version: current };
      }
      const version = this.nextVersion(state.storedVersion);
      const expiresAt = write.ttlMs === undefined ? undefined : this.clock.now() + write.ttlMs;
      const values: Item = { ':v': n(version), ':r': s(write.record) };
      let update = 'SET v = :v, r = :r';
      if (expiresAt === undefined) update += ' REMOVE x, #ttl';
      else {
        update += ', x = :x, #ttl = :ttl';
        values[':x'] = n(expiresAt);
        values[':ttl'] = n(Math.ceil(expiresAt / 1000));
      }
      let leaseCondition: string | undefined;
      if (releases) {
        update += expiresAt === undefined ? ', lt, lx' : ' REMOVE lt, lx';
        // The lease may have expired and passed to another holder since the read.
        leaseCondition = 'lt = :lt';
        values[':lt'] = s(write.leaseToken!);
      }
      if (await this.casUpdate(pk, update, values, state.storedVersion, leaseCondition)) {
        return { written: true, version };
      }
      if (attempt >= MAX_CAS_ATTEMPTS) throw casExhausted('set');
    }
  }

  async delete(key: string): Promise<number> {
    const pk = this.recordPk(key);
    for (let attempt = 1; ; attempt++) {
      const state = this.state(await this.read(pk));
      const version = this.nextVersion(state.storedVersion);
      const tombstoneTtl = Math.ceil(this.clock.now() / 1000) + TOMBSTONE_SECONDS;
      const updated = await this.casUpdate(
        pk,
        'SET v = :v, #ttl = :ttl REMOVE r, x',
        { ':v': n(version), ':ttl': n(tombstoneTtl) },
        state.storedVersion,
      );
      if (updated) return version;
      if (attempt >= MAX_CAS_ATTEMPTS) throw casExhausted('delete');
    }
  }

  async getTagVersions(tags: readonly string[]): Promise<number[]> {
    const pks = tags.map((tag) => this.keys.dynamoPk(tag, 't'));
    const found = new Map<string, number>();
    for (let start = 0; start < pks.length; start += 100) {
      let pending: Item[] = [...new Set(pks.slice(start, start + 100))].map((pk) => ({
        pk: s(pk),
      }));
      // BatchGetItem may return part of the keys as unprocessed; ask again for those.
      for (let round = 0; pending.length > 0; round++) {
        if (round >= MAX_CAS_ATTEMPTS) throw new Error('DynamoDB left tag reads unprocessed');
        const answer = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
          }),
        );
        for (const item of answer.Responses?.[this.tableName] ?? []) {
          found.set(item.pk?.S ?? '', num(item.v) ?? 0);
        }
        pending = answer.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return pks.map((pk) => found.get(pk) ?? 0);
  }

  async bumpTags(tags: readonly string[]): Promise<number[]> {
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
  ): Promise<LeaseResult> {
    const pk = this.recordPk(key);
    const now = this.clock.now();
    const values: Item = { ':t': s(token), ':lx': n(now + ttlMs), ':now': n(now) };
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
          UpdateExpression: 'SET lt = :t, lx = :lx',
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
      );
      return { status: 'acquired' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const item = await this.read(pk);
    const state = this.state(item);
    const version = state.live?.version ?? 0;
    if (version !== seenVersion) return { status: 'changed', current: state.live };
    const leaseExpiry = num(item?.lx) ?? now;
    return { status: 'held', ttlMs: Math.max(1, leaseExpiry - this.clock.now()) };
  }

  async extendLease(key: string, token: string, ttlMs: number): Promise<boolean> {
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
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async releaseLease(key: string, token: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: s(this.recordPk(key)) },
          UpdateExpression: 'REMOVE lt, lx',
          ConditionExpression: 'lt = :t',
          ExpressionAttributeValues: { ':t': s(token) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private recordPk(key: string): string {
    return this.keys.dynamoPk(key, 'e');
  }

  private async read(pk: string): Promise<Item | undefined> {
    const answer = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: s(pk) }, ConsistentRead: true }),
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

  /** Applies `update` if the item still has version `expected` (0: no version yet). */
  private async casUpdate(
    pk: string,
    update: string,
    values: Item,
    expected: number,
    extraCondition?: string,
  ): Promise<boolean> {
    const versionCondition = expected === 0 ? 'attribute_not_exists(v)' : 'v = :expected';
    const condition =
      extraCondition === undefined ? versionCondition : `${versionCondition} AND ${extraCondition}`;
    const attributeValues = expected === 0 ? values : { ...values, ':expected': n(expected) };
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: s(pk) },
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeValues: attributeValues,
          ...(update.includes('#ttl') ? { ExpressionAttributeNames: { '#ttl': 'ttl' } } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function casExhausted(operation: string): Error {
  return new Error(
    `DynamoDB ${operation} lost ${MAX_CAS_ATTEMPTS} compare-and-set races in a row on one key`,
  );
}
