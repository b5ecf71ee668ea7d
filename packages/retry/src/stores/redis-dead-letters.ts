/**
 * Dead letters in a Redis Stream: the retry policy appends every call it gives up on; operators
 * list them and replay them through a function, and an entry is removed only once its replay
 * succeeded. One stream key, so it works on Redis Cluster as is.
 *
 * Every Redis command of the queue goes through core's store call path (`StoreCalls`, pattern
 * `'retry'`, store `'redis'`): each is bounded by `storeDeadlineMs`, fails with a `StoreError`
 * (a `StoreTimeoutError` when the deadline passed) naming the operation, and while the store is
 * degraded fails at once without waiting on Redis.
 */
import {
  type Disposer,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectObject,
  resolveStoreOptions,
  StoreCalls,
  type StoreOp,
  type StoreStatus,
  type StoreStatusListener,
} from '@breakwater/core';
import {
  DEFAULT_KEY_PREFIX,
  keyBuilder,
  type RedisClient,
  redisProbe,
} from '@breakwater/core/redis';
import { type DeadLetterCodec, type DeadLetterEntry, jsonCodec } from '../dead-letter-entry.js';
import { failureToFields, fieldsToEntry } from '../dead-letters/entry-fields.js';
import type { RetryFailure } from '../events.js';
import { deadLetterReplayInstruments, retryTelemetry } from '../telemetry.js';
import { expectRedisClient } from './redis-client.js';

/** Options of {@link redisDeadLetters}. */
export interface RedisDeadLettersOptions {
  /** Your ioredis client: a `Redis` or a `Cluster`. Never connected or closed by this module. */
  client: RedisClient;
  /** The queue's name; the stream key is `<prefix>:retry:{<stream>:}:dead-letters`. */
  stream: string;
  /**
   * First segment of the key; use one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string;
  /**
   * Trim the stream to about this many entries (`XADD MAXLEN ~`), dropping the oldest. Without it
   * nothing is ever dropped, and a long outage grows the stream without bound.
   * @default no trimming
   */
  maxLength?: number;
  /**
   * Encodes `input` and `result` for storage and decodes them on read.
   * @default JSON
   */
  codec?: DeadLetterCodec;
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
   * While the store is degraded, how often it is probed (a trivial script on the stream's key),
   * in milliseconds.
   * @default 1_000 (core's `STORE_DEFAULTS.probeIntervalMs`)
   */
  storeProbeIntervalMs?: number | undefined;
}

/** Options of {@link RedisDeadLetters.list}. */
export interface ListDeadLettersOptions {
  /**
   * At most this many entries, oldest first.
   * @default 100
   */
  count?: number;
  /** Only entries after this id (exclusive), to page through the queue. */
  after?: string;
}

/** What {@link RedisDeadLetters.replayAll} did. */
export interface ReplayAllResult {
  /** Entries replayed successfully and removed. */
  readonly replayed: number;
  /** Entries whose replay threw; they stay in the stream. */
  readonly failed: readonly { readonly id: string; readonly error: unknown }[];
}

/** Options of {@link RedisDeadLetters.replayAll}. */
export interface ReplayAllOptions {
  /**
   * Stop at the first failed replay instead of going on with the next entry.
   * @default false
   */
  stopOnError?: boolean;
  /** Stops the replay between entries; the call then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * A dead-letter queue in a Redis Stream; see {@link redisDeadLetters}. Every operation that calls
 * Redis settles within `storeDeadlineMs` (at once while the store is degraded) and, when Redis
 * fails, rejects with a `StoreError` naming the operation.
 */
export interface RedisDeadLetters {
  /** The stream key. */
  readonly key: string;
  /**
   * Appends a failure; resolves with its entry id. Pass it as the retry policy's `deadLetter`
   * option (it is bound, so `deadLetter: queue.append` works). Rejects with a `StoreError` when
   * Redis fails or misses the deadline, and with the codec's error when `input` or `result`
   * cannot be encoded (not a store failure).
   */
  readonly append: (failure: RetryFailure<unknown>) => Promise<string>;
  /** Lists entries, oldest first. */
  list(options?: ListDeadLettersOptions): Promise<DeadLetterEntry[]>;
  /** One entry, or `undefined` when there is none with this id. */
  get(id: string): Promise<DeadLetterEntry | undefined>;
  /** How many entries the stream holds. */
  size(): Promise<number>;
  /**
   * Runs `fn` with the entry and removes the entry once `fn` resolves. When `fn` throws, the
   * entry stays and the call rejects with what `fn` threw. Resolves `false` when there is no
   * entry with this id (already replayed or removed). When the removal fails (a `StoreError`),
   * the entry stays too and is replayed again next time: replays are at-least-once.
   */
  replay(id: string, fn: (entry: DeadLetterEntry) => unknown): Promise<boolean>;
  /**
   * Replays, oldest first, every entry that was in the stream when the call started (entries
   * added meanwhile wait for the next run), removing each one whose replay succeeded. A store
   * failure (reading a page, removing a replayed entry) ends the run: it rejects with that
   * `StoreError`, and the entry whose removal failed is replayed again by the next run.
   */
  replayAll(
    fn: (entry: DeadLetterEntry) => unknown,
    options?: ReplayAllOptions,
  ): Promise<ReplayAllResult>;
  /** Removes an entry without replaying it; resolves whether it existed. */
  remove(id: string): Promise<boolean>;
  /** `'degraded'` after `storeFailureThreshold` consecutive failed commands, until a probe succeeds. */
  readonly storeStatus: StoreStatus;
  /**
   * Subscribes to the store degrading and recovering
   * (`{ policy: <stream>, pattern: 'retry', store: 'redis', status, error? }`). Returns a disposer.
   */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /**
   * Stops the background probe and resolves once no command is in flight: never later than one
   * `storeDeadlineMs`, whether Redis is up, refused or hung. The client stays yours (it is never
   * quit or disconnected). The queue still works afterwards, unprobed.
   */
  close(): Promise<void>;
  /** Same as {@link RedisDeadLetters.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

type StreamEntries = [id: string, fields: string[]][];

/** The stream commands used, typed loosely enough for ioredis 5 and 6, `Redis` and `Cluster`. */
interface StreamClient {
  xadd(key: string, ...args: (string | number)[]): Promise<string | null>;
  xrange(
    key: string,
    start: string,
    end: string,
    ...count: (string | number)[]
  ): Promise<StreamEntries>;
  xrevrange(
    key: string,
    end: string,
    start: string,
    ...count: (string | number)[]
  ): Promise<StreamEntries>;
  xdel(key: string, ...ids: string[]): Promise<number>;
  xlen(key: string): Promise<number>;
}

/** An `XRANGE` request: start, end (both as `XRANGE` takes them) and count. */
type Range = readonly [start: string, end: string, count: number];

const PAGE = 100;
const NOTHING: readonly (string | number)[] = [];

/**
 * A dead-letter queue in a Redis Stream.
 *
 * Replays are at-least-once: an entry is removed only after its replay resolved, so a crash
 * between the two (or two operators replaying at once) replays it again. Make replays idempotent.
 * Replay through a function (or a policy) that does not append to this same queue on failure, or
 * a failed replay leaves two entries for one call.
 *
 * When Redis is down, `append` rejects with a `StoreError` within `storeDeadlineMs` (at once
 * while degraded); a retry policy whose `deadLetter` it is then still rejects with the call's own
 * error, and reports the `StoreError` as `deadLetterError` to `onGiveUp`.
 *
 * @example
 * import { redisDeadLetters } from '@breakwater/retry/redis';
 * const queue = redisDeadLetters({ client: redis, stream: 'payments' });
 * const r = retry({ maxAttempts: 5, deadLetter: queue.append });
 * await r.execute(() => charge(order), { input: order });
 * // later, once the dependency is back:
 * await queue.replayAll((entry) => charge(entry.input as Order));
 */
export function redisDeadLetters(options: RedisDeadLettersOptions): RedisDeadLetters {
  expectObject('options', options);
  const redis = expectRedisClient(options.client);
  const client = redis as unknown as StreamClient;
  const stream = expectNonEmptyString('stream', options.stream);
  const maxLength =
    options.maxLength === undefined ? undefined : expectInteger('maxLength', options.maxLength);
  const codec = options.codec ?? jsonCodec;
  expectFunction('codec.encode', codec.encode);
  expectFunction('codec.decode', codec.decode);
  const settings = resolveStoreOptions(
    {
      storeDeadlineMs: options.storeDeadlineMs,
      storeFailureThreshold: options.storeFailureThreshold,
      storeProbeIntervalMs: options.storeProbeIntervalMs,
    },
    // A queue has no answer of its own to give when Redis fails: every operation rejects.
    { onStoreError: 'fail-closed' },
  );
  const instruments = deadLetterReplayInstruments();
  const key = keyBuilder({
    prefix: options.prefix ?? DEFAULT_KEY_PREFIX,
    pattern: 'retry',
    name: stream,
  }).redisKey('', 'dead-letters');
  const trim = maxLength === undefined ? NOTHING : ['MAXLEN', '~', maxLength];
  const calls = new StoreCalls({
    pattern: 'retry',
    policy: stream,
    store: 'redis',
    settings,
    telemetry: retryTelemetry(),
    probe: redisProbe(redis, key),
  });

  const appendOp: StoreOp<string | null, readonly string[]> = calls.operation('append', (fields) =>
    client.xadd(key, ...trim, '*', ...fields),
  );
  const xrange = (range: Range): Promise<StreamEntries> =>
    client.xrange(key, range[0], range[1], 'COUNT', range[2]);
  const listOp: StoreOp<StreamEntries, Range> = calls.operation('list', xrange);
  const getOp: StoreOp<StreamEntries, Range> = calls.operation('get', xrange);
  const lastOp: StoreOp<StreamEntries> = calls.operation('last', () =>
    client.xrevrange(key, '+', '-', 'COUNT', 1),
  );
  const sizeOp: StoreOp<number> = calls.operation('size', () => client.xlen(key));
  const removeOp: StoreOp<number, string> = calls.operation('remove', (id) => client.xdel(key, id));

  const decode = (entries: StreamEntries): DeadLetterEntry[] =>
    entries.map(([id, fields]) => fieldsToEntry(id, fields, codec));
  const read = async (
    op: StoreOp<StreamEntries, Range>,
    range: Range,
    signal?: AbortSignal,
  ): Promise<DeadLetterEntry[]> => decode(await op.run(range, signal));
  const get = async (id: string) => (await read(getOp, [id, id, 1]))[0];
  const remove = async (id: string) => (await removeOp.run(id)) === 1;
  /** Runs `fn`; counts a replay that threw, and rethrows. */
  const replayOne = async (
    entry: DeadLetterEntry,
    fn: (entry: DeadLetterEntry) => unknown,
  ): Promise<void> => {
    try {
      await fn(entry);
    } catch (error) {
      instruments.record(entry.policyName, 'replay-failed');
      throw error;
    }
  };
  const close = (): Promise<void> => calls.close();

  return {
    key,
    append: async (failure) => {
      // Encoded before the store is called: a value the codec cannot encode is the caller's
      // error, not a store failure, and must not degrade the store.
      const fields = failureToFields(failure, codec);
      return (await appendOp.run(fields))!;
    },
    list: ({ count = PAGE, after } = {}) =>
      read(listOp, [after === undefined ? '-' : `(${after}`, '+', count]),
    get,
    size: async () => sizeOp.run(undefined),
    async replay(id, fn) {
      const entry = await get(id);
      if (entry === undefined) return false;
      await replayOne(entry, fn);
      // Only now: a crash (or a store failure) before this line replays the entry again rather
      // than losing it.
      await remove(entry.id);
      instruments.record(entry.policyName, 'replayed');
      return true;
    },
    async replayAll(fn, { stopOnError = false, signal } = {}) {
      // Fix the end first, so entries appended meanwhile (a failing replay that dead-letters
      // again, live traffic) cannot keep the loop going forever.
      const last = (await lastOp.run(undefined, signal))[0];
      let replayed = 0;
      const failed: { id: string; error: unknown }[] = [];
      if (last === undefined) return { replayed, failed };
      const end = last[0];
      let start = '-';
      for (;;) {
        const page = await read(listOp, [start, end, PAGE], signal);
        for (const entry of page) {
          signal?.throwIfAborted();
          try {
            await replayOne(entry, fn);
          } catch (error) {
            failed.push({ id: entry.id, error });
            if (stopOnError) return { replayed, failed };
            continue;
          }
          // Not bound by the caller's signal: the entry was replayed, so it must go. A store
          // failure here ends the run (rejects): the store is failing, and replaying entries
          // that cannot be removed would only replay them twice.
          await remove(entry.id);
          instruments.record(entry.policyName, 'replayed');
          replayed++;
        }
        if (page.length < PAGE) return { replayed, failed };
        start = `(${page[page.length - 1]!.id}`;
      }
    },
    remove,
    get storeStatus() {
      return calls.status;
    },
    onStoreStatusChange: (listener) => calls.onStatusChange(listener),
    close,
    [Symbol.asyncDispose]: close,
  };
}
