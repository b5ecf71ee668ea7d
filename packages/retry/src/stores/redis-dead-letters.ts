/**
 * Dead letters in Redis Streams, one stream key per dead-letter stream: the retry policy appends
 * every call it gives up on; operators list them and replay them through a function, and an entry
 * is removed only once its replay succeeded. Replays are claimed (`SET NX PX` per entry, in the
 * same script that checks the entry exists), so two replicas never replay one entry at once.
 * Every key of one stream shares a hash tag, so it works on Redis Cluster as is.
 *
 * Every Redis command of the queue goes through core's store call path (`StoreCalls`, pattern
 * `'retry'`, store `'redis'`): each is bounded by `storeDeadlineMs`, fails with a `StoreError`
 * (a `StoreTimeoutError` when the deadline passed) naming the operation, and while the store is
 * degraded fails at once without waiting on Redis.
 */
import {
  expectInteger,
  expectObject,
  resolveStoreOptions,
  StoreCalls,
  type StoreOp,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  DEFAULT_KEY_PREFIX,
  keyBuilder,
  type RedisClient,
  type RedisConnection,
  redisConnection,
  redisProbe,
} from '@breakwater/core/redis';
import type { DeadLetterQueue, DeadLetterQueueOptions } from '../dead-letter-queue.js';
import type { ClaimResult, DeadLetterBackend } from '../dead-letters/backend.js';
import {
  type EntryFields,
  fieldsToList,
  listToFields,
  type StoredDeadLetter,
} from '../dead-letters/entry-fields.js';
import { deadLetterQueue, resolveQueueOptions } from '../dead-letters/queue.js';
import {
  appendScript,
  claimScript,
  completeScript,
  pageScript,
  releaseScript,
  removeScript,
  trimScript,
} from '../dead-letters/redis-scripts.js';
import { REDIS_DEAD_LETTERS_OPTIONS } from '../known-options.js';
import { retryTelemetry } from '../telemetry.js';

/** Options of {@link redisDeadLetters}. */
export interface RedisDeadLettersOptions extends DeadLetterQueueOptions {
  /**
   * Your Redis client: an ioredis or iovalkey `Redis` or `Cluster`, or a connected node-redis
   * client from `createClient()` or `createCluster()`. Never connected or closed by this module.
   */
  client: RedisClient;
  /**
   * First segment of every key; use one per tenant or environment. A stream's key is
   * `<prefix>:retry:{<stream>:}:dead-letters`.
   * @default 'bw'
   */
  prefix?: string | undefined;
  /**
   * Keep at most this many entries per stream, dropping the oldest at append. Without it nothing
   * is dropped, and a long outage grows the stream without bound.
   * @default no limit
   */
  maxLength?: number | undefined;
  /**
   * Deadline of each Redis command of the queue, in milliseconds (> 0, ≤ 2³¹−1): a command that
   * has not answered by then fails with a `StoreTimeoutError`.
   * @default 500 (core's `STORE_DEFAULTS.deadlineMs`)
   */
  storeDeadlineMs?: number | undefined;
  /**
   * After this many consecutive failed commands the store is `degraded`: every operation fails
   * at once with a `StoreError`, without waiting on Redis, until a background probe succeeds.
   * @default 3 (core's `STORE_DEFAULTS.failureThreshold`)
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the store is degraded, how often it is probed, in milliseconds.
   * @default 1_000 (core's `STORE_DEFAULTS.probeIntervalMs`)
   */
  storeProbeIntervalMs?: number | undefined;
}

/**
 * The plain (non-script) commands of the queue, each sent through the adapter and routed by its
 * one key. Integer replies are numbers with every library; a set reply is an array, or a `Set`
 * when a node-redis client maps RESP3 sets to one.
 */
function plainCommands(redis: RedisConnection) {
  return {
    sadd: (key: string, member: string) => redis.send('SADD', [key, member], key),
    smembers: async (key: string): Promise<string[]> =>
      Array.from((await redis.send('SMEMBERS', [key], key)) as Iterable<string>),
    /** The newest entry's id, if any. */
    lastId: async (key: string): Promise<string | undefined> => {
      const rows = (await redis.send('XREVRANGE', [key, '+', '-', 'COUNT', 1], key)) as
        | [string, unknown][]
        | null;
      return rows?.[0]?.[0];
    },
    xlen: async (key: string) => Number(await redis.send('XLEN', [key], key)),
    exists: async (key: string) => Number(await redis.send('EXISTS', [key], key)),
  };
}

type RawEntry = [id: string, fields: string[], replays: string, error: string];

const ID = /^\d{1,16}-\d{1,16}$/;

function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(Number) as [number, number];
  const [bMs, bSeq] = b.split('-').map(Number) as [number, number];
  return aMs - bMs || aSeq - bSeq;
}

const toStored = ([id, fields, replays, error]: RawEntry): StoredDeadLetter => ({
  id,
  fields: listToFields(fields),
  replays: Number(replays),
  lastReplayError: error,
});

/**
 * A {@link DeadLetterQueue} in Redis Streams.
 *
 * When Redis is down, `append` rejects with a `StoreError` within `storeDeadlineMs` (at once
 * while degraded); a retry policy whose `deadLetter` it is then still rejects with the call's own
 * error, and reports the `StoreError` as `deadLetterError` to `onGiveUp`.
 *
 * @example
 * import { redisDeadLetters } from '@breakwater/retry/redis';
 * const queue = redisDeadLetters({ client: redis });
 * const r = retry({ name: 'charge', maxAttempts: 5, deadLetter: queue.append });
 * await r.execute(() => charge(order), { input: order });
 * // later, once the dependency is back:
 * await queue.replayAll((entry) => charge(entry.input as Order), { stream: 'charge' });
 */
export function redisDeadLetters(options: RedisDeadLettersOptions): DeadLetterQueue {
  expectObject('options', options);
  warnUnknownOptions('redisDeadLetters()', options, { known: REDIS_DEAD_LETTERS_OPTIONS });
  // Every command goes through the one adapter, whichever library built the client.
  const redis = redisConnection(options.client, 'client');
  const client = plainCommands(redis);
  const resolved = resolveQueueOptions(options);
  const maxLength =
    options.maxLength === undefined ? 0 : expectInteger('maxLength', options.maxLength);
  const prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
  const settings = resolveStoreOptions(
    {
      storeDeadlineMs: options.storeDeadlineMs,
      storeFailureThreshold: options.storeFailureThreshold,
      storeProbeIntervalMs: options.storeProbeIntervalMs,
    },
    // A queue has no answer of its own to give when Redis fails: every operation rejects.
    { onStoreError: 'fail-closed' },
  );
  // The names of the streams, in a key of its own (its own slot on a Cluster).
  const registry = keyBuilder({ prefix, pattern: 'retry', name: 'dead-letters' }).redisKey(
    '',
    'streams',
  );
  const keysOf = (stream: string) => {
    const keys = keyBuilder({ prefix, pattern: 'retry', name: stream });
    return {
      stream: keys.redisKey('', 'dead-letters'),
      replays: keys.redisKey('', 'dead-letter-replays'),
      claim: (id: string) => keys.redisKey('', `dead-letter-claim:${id}`),
    };
  };
  const calls = new StoreCalls({
    pattern: 'retry',
    policy: options.stream ?? 'dead-letters',
    store: 'redis',
    settings,
    telemetry: retryTelemetry(),
    probe: redisProbe(redis, registry),
  });

  const appendOp: StoreOp<string, [string, EntryFields]> = calls.operation(
    'append',
    async ([stream, fields]) => {
      // The stream is registered first: a registered stream without its entry is harmless (it
      // lists empty), an entry in an unregistered stream would be invisible to `streams()`.
      await client.sadd(registry, stream);
      const keys = keysOf(stream);
      return appendScript.run(
        redis,
        [keys.stream, keys.replays],
        [maxLength, ...fieldsToList(fields)],
      );
    },
  );
  type Range = [stream: string, start: string, end: string, count: number];
  const range = ([stream, start, end, count]: Range) => {
    const keys = keysOf(stream);
    return pageScript.run(redis, [keys.stream, keys.replays], [start, end, count]);
  };
  const listOp: StoreOp<RawEntry[], Range> = calls.operation('list', range);
  const getOp: StoreOp<RawEntry[], Range> = calls.operation('get', range);
  const lastOp: StoreOp<string | undefined, string> = calls.operation('last', (stream) =>
    client.lastId(keysOf(stream).stream),
  );
  type Claim = [stream: string, id: string, token: string, arg: string | number];
  const claimOp: StoreOp<0 | null | RawEntry, Claim> = calls.operation(
    'claim',
    ([stream, id, token, leaseMs]) => {
      const keys = keysOf(stream);
      return claimScript.run(
        redis,
        [keys.stream, keys.replays, keys.claim(id)],
        [id, token, leaseMs],
      );
    },
  );
  const completeOp: StoreOp<number, Claim> = calls.operation('complete', ([stream, id, token]) => {
    const keys = keysOf(stream);
    return completeScript.run(redis, [keys.stream, keys.replays, keys.claim(id)], [id, token]);
  });
  const releaseOp: StoreOp<number, Claim> = calls.operation(
    'release',
    ([stream, id, token, error]) => {
      const keys = keysOf(stream);
      return releaseScript.run(
        redis,
        [keys.stream, keys.replays, keys.claim(id)],
        [id, token, error],
      );
    },
  );
  const removeOp: StoreOp<number, [string, string]> = calls.operation('remove', ([stream, id]) => {
    const keys = keysOf(stream);
    return removeScript.run(redis, [keys.stream, keys.replays], [id]);
  });
  const trimOp: StoreOp<number, [string, number]> = calls.operation('trim', ([stream, keep]) => {
    const keys = keysOf(stream);
    return trimScript.run(redis, [keys.stream, keys.replays], [keep]);
  });
  const sizeOp: StoreOp<number, string> = calls.operation('size', (stream) =>
    client.xlen(keysOf(stream).stream),
  );
  const hasStreamOp: StoreOp<number, string> = calls.operation('hasStream', (stream) =>
    client.exists(keysOf(stream).stream),
  );
  const streamsOp: StoreOp<string[]> = calls.operation('streams', () => client.smembers(registry));

  const backend: DeadLetterBackend = {
    append: async (stream, fields) => appendOp.run([stream, fields]),
    page: async (stream, after, count, signal) =>
      (await listOp.run([stream, after === undefined ? '-' : `(${after}`, '+', count], signal)).map(
        toStored,
      ),
    async last(stream, signal) {
      return lastOp.run(stream, signal);
    },
    compare: compareIds,
    isId: (id) => ID.test(id),
    async get(stream, id) {
      const [raw] = await getOp.run([stream, id, id, 1]);
      return raw === undefined ? undefined : toStored(raw);
    },
    async claim(stream, id, token, leaseMs): Promise<ClaimResult> {
      const raw = await claimOp.run([stream, id, token, Math.ceil(leaseMs)]);
      if (raw === null) return 'missing';
      if (raw === 0) return 'claimed';
      return toStored(raw);
    },
    async complete(stream, id, token) {
      await completeOp.run([stream, id, token, '']);
    },
    async release(stream, id, token, errorJson) {
      await releaseOp.run([stream, id, token, errorJson]);
    },
    remove: async (stream, id) => (await removeOp.run([stream, id])) === 1,
    size: async (stream) => sizeOp.run(stream),
    trim: async (stream, keep) => trimOp.run([stream, keep]),
    hasStream: async (stream) => (await hasStreamOp.run(stream)) === 1,
    streams: async () => (await streamsOp.run(undefined)).sort(),
    get status() {
      return calls.status;
    },
    onStatusChange: (listener) => calls.onStatusChange(listener),
    close: () => calls.close(),
  };
  return deadLetterQueue(backend, resolved);
}
