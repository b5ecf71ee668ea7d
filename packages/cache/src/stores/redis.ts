/**
 * The Redis L2 store, for a single node or a Cluster: an ioredis or iovalkey `Redis` or `Cluster`,
 * or a node-redis client from `createClient()` or `createCluster()`. Every command goes through
 * core's client adapter (`redisConnection`), so this file never asks which library it has.
 *
 * Keys (`<prefix>:cache:{<name>:<key>}:<part>`): `e` holds the record as `<version>\n<record>`,
 * `l` the lease token; tags live at `<prefix>:cache:{<name>:<tag>}:t`. The bus channel is
 * `<prefix>:cache:{<name>:}:bus`.
 *
 * Round trips: an L2 hit is one plain GET (no script, so it costs what a raw GET costs); a write,
 * a delete, a lease acquisition and a release are one EVALSHA each, and writes publish their
 * invalidation from inside the script. Tag operations cost one command per tag.
 *
 * The bus listens on one subscriber connection per store, through core's `PubSubRouter`: opened
 * from the client (`duplicate()`) and owned by the store unless you pass one (see
 * {@link RedisStoreOptions.subscriber}).
 */
import { expectObject, warnUnknownOptions } from '@breakwater/core';
import {
  type KeyBuilder,
  keyBuilder,
  PubSubRouter,
  type RedisClient,
  type RedisConnection,
  redisConnection,
  redisProbe,
} from '@breakwater/core/redis';
import { REDIS_STORE_OPTIONS, REDIS_STORE_RENAMES } from '../known-options.js';
import { DEFAULTS } from '../options.js';
import type {
  CacheScope,
  CacheStore,
  InvalidationListener,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  WriteResult,
} from '../store.js';
import { busListener, encodeTagsMessage } from './redis-bus.js';
import {
  ACQUIRE_LEASE_SCRIPT,
  DELETE_SCRIPT,
  EXTEND_LEASE_SCRIPT,
  RELEASE_LEASE_SCRIPT,
  SET_SCRIPT,
} from './redis-scripts.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * Your client, connected: an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client
   * from `createClient()` or `createCluster()` (RESP2 or RESP3). The store never closes it.
   */
  client: RedisClient;
  /**
   * The connection the invalidation bus listens on (a subscribed connection cannot run other
   * commands), shared by every cache of the store:
   *
   * - omitted: the store opens its own with `client.duplicate()` when the first cache is built,
   *   and closes it on `close()` at once (it never waits on the server);
   * - a client of yours: the store subscribes on it and unsubscribes on `close()`, but never
   *   closes it — it stays yours;
   * - `false`: no bus; other replicas' writes reach this replica's L1 only after
   *   `l1.maxStaleMs`.
   *
   * @default a duplicate of `client`, owned by the store
   */
  subscriber?: RedisClient | false | undefined;
  /**
   * First segment of every key; one per tenant or environment isolates their caches.
   * @default 'bw'
   */
  prefix?: string | undefined;
}

/**
 * A Redis store for {@link "@breakwater/cache"!cache}. Close it with `store.close()` after closing
 * its caches: it closes the subscriber connection it opened, never your client.
 *
 * @example
 * const client = new Redis(process.env.REDIS_URL); // or: await createClient({ url }).connect()
 * const store = redisStore({ client });
 * const c = cache({ name: 'profiles', store, ttlMs: 60_000 });
 * // on shutdown
 * await c.close();
 * await store.close();
 * client.disconnect(); // node-redis: await client.close()
 *
 * @throws {TypeError} naming the option, for a `client` or `subscriber` that is not a Redis client
 *   (the message lists the accepted clients).
 */
export function redisStore(options: RedisStoreOptions): CacheStore {
  expectObject('options', options);
  warnUnknownOptions('redisStore() (@breakwater/cache)', options, {
    known: REDIS_STORE_OPTIONS,
    renames: REDIS_STORE_RENAMES,
  });
  const connection = redisConnection(options.client, 'client');
  // Validates `subscriber` (core's `expectSubscriber`): a named TypeError for anything else.
  const router = new PubSubRouter({
    client: connection,
    subscriber: options.subscriber,
    // Unsubscribing a connection of yours on close() waits at most the cache's default deadline.
    closeDeadlineMs: DEFAULTS.storeDeadlineMs,
  });
  const close = (): Promise<void> => router.close();
  return {
    kind: 'redis',
    scope: (cacheName) =>
      new RedisScope(
        connection,
        router,
        keyBuilder({ prefix: options.prefix, pattern: 'cache', name: cacheName }),
      ),
    close,
    [Symbol.asyncDispose]: close,
  };
}

const RECORD = 'e';
const LEASE = 'l';
const TAG = 't';
const RECORD_AND_LEASE = [RECORD, LEASE] as const;
/**
 * Spelled in lower case, as ioredis's own `get` method (the raw GET of the benchmark) spells it:
 * ioredis lower-cases a command's name on each of the four flag lookups of a GET, and an
 * upper-case name gives it a new string each time, which V8 looks up in its string table before
 * using it as a key. Counted with callgrind on Node 20, those lookups (about 900 instructions per
 * L2 hit) are gone with `'get'`; the whole hit costs about 95,000 instructions, within a run-to-run
 * spread of a few thousand. Redis and node-redis take either spelling.
 */
const GET = 'get';

class RedisScope implements CacheScope {
  private readonly channel: string;
  readonly subscribe: ((listener: InvalidationListener) => () => void) | undefined;
  /**
   * A `return 1` script on the record key of the empty user key (which no cache call can use): a
   * key of the cache's own, in the slot of its bus channel, so a Cluster runs it on that node.
   */
  readonly probe: () => Promise<number>;

  constructor(
    private readonly redis: RedisConnection,
    router: PubSubRouter,
    private readonly keys: KeyBuilder,
  ) {
    const channel = keys.redisKey('', 'bus');
    this.channel = channel;
    this.subscribe = router.enabled
      ? (listener) => router.listen(channel, busListener(listener))
      : undefined;
    this.probe = redisProbe(redis, keys.redisKey('', RECORD));
  }

  get(key: string): Promise<StoredRecord | undefined> {
    // The L2 hit path: a plain GET, and no async frame of our own around it.
    const recordKey = this.keys.redisKey(key, RECORD);
    return this.redis.send(GET, [recordKey], recordKey).then(parseStoredOrMiss);
  }

  async set(key: string, write: RecordWrite): Promise<WriteResult> {
    const [written, version] = await SET_SCRIPT.run(
      this.redis,
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
      this.redis,
      this.keys.redisKeys(key, RECORD_AND_LEASE),
      [this.channel, origin, key],
    );
    return Number(version);
  }

  async getTagVersions(tags: readonly string[]): Promise<number[]> {
    // One GET per tag, sent back to back: tags live in different Cluster slots, so MGET would not do.
    const values = await Promise.all(
      tags.map((tag) => {
        const tagKey = this.keys.redisKey(tag, TAG);
        return this.redis.send(GET, [tagKey], tagKey);
      }),
    );
    return values.map((value) => (value === null || value === undefined ? 0 : Number(value)));
  }

  async bumpTags(tags: readonly string[], origin: string): Promise<number[]> {
    const versions = await Promise.all(
      tags.map(async (tag) => {
        const tagKey = this.keys.redisKey(tag, TAG);
        return Number(await this.redis.send('INCR', [tagKey], tagKey));
      }),
    );
    // PUBLISH has no key: a Cluster forwards it to every node, whichever master gets it.
    await this.redis.send('PUBLISH', [this.channel, encodeTagsMessage(origin, tags, versions)]);
    return versions;
  }

  async acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
  ): Promise<LeaseResult> {
    const [status, detail] = await ACQUIRE_LEASE_SCRIPT.run(
      this.redis,
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
      this.redis,
      [this.keys.redisKey(key, LEASE)],
      [token, String(ttlMs)],
    );
    return extended === 1;
  }

  async releaseLease(key: string, token: string): Promise<boolean> {
    return (
      (await RELEASE_LEASE_SCRIPT.run(this.redis, [this.keys.redisKey(key, LEASE)], [token])) === 1
    );
  }
}

/** A GET reply: a string (both libraries decode bulk strings as strings), or nil for a miss. */
function parseStoredOrMiss(raw: unknown): StoredRecord | undefined {
  return raw === null || raw === undefined ? undefined : parseStored(String(raw));
}

/** Splits `<version>\n<record>`; anything else is returned as version 0, which the cache rejects as corrupt. */
function parseStored(raw: string): StoredRecord {
  const end = raw.indexOf('\n');
  const version = end > 0 ? Number(raw.slice(0, end)) : Number.NaN;
  if (!Number.isSafeInteger(version)) return { version: 0, record: raw };
  return { version, record: raw.slice(end + 1) };
}
