/**
 * The Redis L2 store, for a single node or a Cluster (ioredis `Redis` or `Cluster`).
 *
 * Keys (`<prefix>:cache:{<name>:<key>}:<part>`): `e` holds the record as `<version>\n<record>`,
 * `l` the lease token; tags live at `<prefix>:cache:{<name>:<tag>}:t`. The bus channel is
 * `<prefix>:cache:{<name>:}:bus`.
 *
 * Round trips: an L2 hit is one plain GET (no script, so it costs what a raw GET costs); a write,
 * a delete, a lease acquisition and a release are one EVALSHA each, and writes publish their
 * invalidation from inside the script. Tag operations cost one command per tag.
 */
import { expectObject } from '@breakwater/core';
import { type KeyBuilder, keyBuilder } from '@breakwater/core/redis';
import type { Cluster, Redis } from 'ioredis';
import type {
  CacheStore,
  InvalidationListener,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  StoreNamespace,
  WriteResult,
} from '../store.js';
import { encodeTagsMessage, RedisBus } from './redis-bus.js';
import {
  ACQUIRE_LEASE_SCRIPT,
  DELETE_SCRIPT,
  EXTEND_LEASE_SCRIPT,
  RELEASE_LEASE_SCRIPT,
  SET_SCRIPT,
} from './redis-scripts.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** Your ioredis client (`Redis` or `Cluster`). The store never closes it. */
  client: Redis | Cluster;
  /**
   * A second connection of the same Redis, used only to subscribe to the invalidation bus (a
   * subscribed connection cannot run other commands): `client.duplicate()` will do. Without it
   * there is no bus, and other replicas' writes reach this replica's L1 only after
   * `l1.maxStaleMs`. The store never closes it.
   */
  subscriber?: Redis | Cluster | undefined;
  /**
   * First segment of every key; one per tenant or environment isolates their caches.
   * @default 'bw'
   */
  prefix?: string | undefined;
}

/**
 * A Redis store for {@link cache}.
 *
 * @example
 * const client = new Redis(process.env.REDIS_URL);
 * const store = redisStore({ client, subscriber: client.duplicate() });
 * const c = cache({ name: 'profiles', store, ttlMs: 60_000 });
 */
export function redisStore(options: RedisStoreOptions): CacheStore {
  expectObject('options', options);
  const client = options.client;
  expectObject('client', client);
  const bus = options.subscriber === undefined ? undefined : new RedisBus(options.subscriber);
  return {
    kind: 'redis',
    namespace: (cacheName) =>
      new RedisNamespace(
        client,
        bus,
        keyBuilder({ prefix: options.prefix, pattern: 'cache', name: cacheName }),
      ),
  };
}

const RECORD = 'e';
const LEASE = 'l';
const TAG = 't';
const RECORD_AND_LEASE = [RECORD, LEASE] as const;

class RedisNamespace implements StoreNamespace {
  private readonly channel: string;
  readonly subscribe: ((listener: InvalidationListener) => () => void) | undefined;

  constructor(
    private readonly client: Redis | Cluster,
    bus: RedisBus | undefined,
    private readonly keys: KeyBuilder,
  ) {
    this.channel = keys.redisKey('', 'bus');
    this.subscribe =
      bus === undefined ? undefined : (listener) => bus.listen(this.channel, listener);
  }

  get(key: string): Promise<StoredRecord | undefined> {
    // The L2 hit path: a plain GET, and no async frame of our own around it.
    return this.client.get(this.keys.redisKey(key, RECORD)).then(parseStoredOrMiss);
  }

  async set(key: string, write: RecordWrite): Promise<WriteResult> {
    const [written, version] = await SET_SCRIPT.run(
      this.client,
      this.keys.redisKeys(key, RECORD_AND_LEASE),
      [
        write.record,
        write.ttlMs === undefined ? '' : String(write.ttlMs),
        write.expectVersion === undefined ? '' : String(write.expectVersion),
        write.leaseToken ?? '',
        this.channel,
        write.origin,
        key,
      ],
    );
    return { written: written === 1, version: Number(version) };
  }

  async delete(key: string, origin: string): Promise<number> {
    const version = await DELETE_SCRIPT.run(
      this.client,
      [this.keys.redisKey(key, RECORD)],
      [this.channel, origin, key],
    );
    return Number(version);
  }

  async getTagVersions(tags: readonly string[]): Promise<number[]> {
    // One GET per tag, sent back to back: tags live in different Cluster slots, so MGET would not do.
    const values = await Promise.all(
      tags.map((tag) => this.client.get(this.keys.redisKey(tag, TAG))),
    );
    return values.map((value) => (value === null ? 0 : Number(value)));
  }

  async bumpTags(tags: readonly string[], origin: string): Promise<number[]> {
    const versions = await Promise.all(
      tags.map((tag) => this.client.incr(this.keys.redisKey(tag, TAG))),
    );
    await this.client.publish(this.channel, encodeTagsMessage(origin, tags, versions));
    return versions;
  }

  async acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
  ): Promise<LeaseResult> {
    const [status, detail] = await ACQUIRE_LEASE_SCRIPT.run(
      this.client,
      this.keys.redisKeys(key, RECORD_AND_LEASE),
      [token, String(ttlMs), String(seenVersion)],
    );
    if (status === 'acquired') return { status };
    if (status === 'held') return { status, ttlMs: Math.max(1, Number(detail)) };
    const raw = String(detail ?? '');
    return { status: 'changed', current: raw === '' ? undefined : parseStored(raw) };
  }

  async extendLease(key: string, token: string, ttlMs: number): Promise<boolean> {
    const extended = await EXTEND_LEASE_SCRIPT.run(
      this.client,
      [this.keys.redisKey(key, LEASE)],
      [token, String(ttlMs)],
    );
    return extended === 1;
  }

  async releaseLease(key: string, token: string): Promise<boolean> {
    return (
      (await RELEASE_LEASE_SCRIPT.run(this.client, [this.keys.redisKey(key, LEASE)], [token])) === 1
    );
  }
}

function parseStoredOrMiss(raw: string | null): StoredRecord | undefined {
  return raw === null ? undefined : parseStored(raw);
}

/** Splits `<version>\n<record>`; anything else is returned as version 0, which the cache rejects as corrupt. */
function parseStored(raw: string): StoredRecord {
  const end = raw.indexOf('\n');
  const version = end > 0 ? Number(raw.slice(0, end)) : Number.NaN;
  if (!Number.isSafeInteger(version)) return { version: 0, record: raw };
  return { version, record: raw.slice(end + 1) };
}
