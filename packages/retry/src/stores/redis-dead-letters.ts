/**
 * Dead letters in a Redis Stream: the retry policy appends every call it gives up on; operators
 * list them and replay them through a function, and an entry is removed only once its replay
 * succeeded. One stream key, so it works on Redis Cluster as is.
 */
import {
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectObject,
} from '@breakwater/core';
import { DEFAULT_KEY_PREFIX, keyBuilder, type RedisClient } from '@breakwater/core/redis';
import {
  type DeadLetterCodec,
  type DeadLetterEntry,
  failureToFields,
  fieldsToEntry,
  jsonCodec,
} from '../dead-letter-entry.js';
import type { RetryFailure } from '../events.js';
import { deadLetterReplayInstruments } from '../telemetry.js';
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

/** A dead-letter queue in a Redis Stream; see {@link redisDeadLetters}. */
export interface RedisDeadLetters {
  /** The stream key. */
  readonly key: string;
  /**
   * Appends a failure; resolves with its entry id. Pass it as the retry policy's `deadLetter`
   * option (it is bound, so `deadLetter: queue.append` works).
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
   * entry with this id (already replayed or removed).
   */
  replay(id: string, fn: (entry: DeadLetterEntry) => unknown): Promise<boolean>;
  /**
   * Replays, oldest first, every entry that was in the stream when the call started (entries
   * added meanwhile wait for the next run), removing each one whose replay succeeded.
   */
  replayAll(
    fn: (entry: DeadLetterEntry) => unknown,
    options?: ReplayAllOptions,
  ): Promise<ReplayAllResult>;
  /** Removes an entry without replaying it; resolves whether it existed. */
  remove(id: string): Promise<boolean>;
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

const PAGE = 100;

/**
 * A dead-letter queue in a Redis Stream.
 *
 * Replays are at-least-once: an entry is removed only after its replay resolved, so a crash
 * between the two (or two operators replaying at once) replays it again. Make replays idempotent.
 * Replay through a function (or a policy) that does not append to this same queue on failure, or
 * a failed replay leaves two entries for one call.
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
  const client = expectRedisClient(options.client) as unknown as StreamClient;
  const stream = expectNonEmptyString('stream', options.stream);
  const maxLength =
    options.maxLength === undefined ? undefined : expectInteger('maxLength', options.maxLength);
  const codec = options.codec ?? jsonCodec;
  expectFunction('codec.encode', codec.encode);
  expectFunction('codec.decode', codec.decode);
  const instruments = deadLetterReplayInstruments();
  const key = keyBuilder({
    prefix: options.prefix ?? DEFAULT_KEY_PREFIX,
    pattern: 'retry',
    name: stream,
  }).redisKey('', 'dead-letters');
  const trim = maxLength === undefined ? [] : ['MAXLEN', '~', maxLength];

  const read = async (start: string, end: string, count: number): Promise<DeadLetterEntry[]> => {
    const entries = await client.xrange(key, start, end, 'COUNT', count);
    return entries.map(([id, fields]) => fieldsToEntry(id, fields, codec));
  };
  const get = async (id: string) => (await read(id, id, 1))[0];
  const remove = async (id: string) => (await client.xdel(key, id)) === 1;
  const replayEntry = async (entry: DeadLetterEntry, fn: (entry: DeadLetterEntry) => unknown) => {
    try {
      await fn(entry);
    } catch (error) {
      instruments.record(entry.policyName, 'replay-failed');
      throw error;
    }
    // Only now: a crash before this line replays the entry again rather than losing it.
    await remove(entry.id);
    instruments.record(entry.policyName, 'replayed');
  };

  return {
    key,
    append: async (failure) => {
      const id = await client.xadd(key, ...trim, '*', ...failureToFields(failure, codec));
      return id!;
    },
    list: ({ count = PAGE, after } = {}) =>
      read(after === undefined ? '-' : `(${after}`, '+', count),
    get,
    size: () => client.xlen(key),
    async replay(id, fn) {
      const entry = await get(id);
      if (entry === undefined) return false;
      await replayEntry(entry, fn);
      return true;
    },
    async replayAll(fn, { stopOnError = false, signal } = {}) {
      // Fix the end first, so entries appended meanwhile (a failing replay that dead-letters
      // again, live traffic) cannot keep the loop going forever.
      const last = (await client.xrevrange(key, '+', '-', 'COUNT', 1))[0];
      let replayed = 0;
      const failed: { id: string; error: unknown }[] = [];
      if (last === undefined) return { replayed, failed };
      const end = last[0];
      let start = '-';
      for (;;) {
        const page = await read(start, end, PAGE);
        for (const entry of page) {
          signal?.throwIfAborted();
          try {
            await replayEntry(entry, fn);
            replayed++;
          } catch (error) {
            failed.push({ id: entry.id, error });
            if (stopOnError) return { replayed, failed };
          }
        }
        if (page.length < PAGE) return { replayed, failed };
        start = `(${page[page.length - 1]!.id}`;
      }
    },
    remove,
  };
}
