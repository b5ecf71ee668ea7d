/**
 * Options of {@link writeBehind}, their defaults and their validation. The store options
 * (`storeDeadlineMs`, `storeFailureThreshold`, `storeProbeIntervalMs`) are core's, resolved by
 * `resolveStoreOptions` with the defaults every pattern shares.
 */
import {
  type Clock,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectOneOf,
  expectPositive,
  resolveStoreOptions,
  STORE_DEFAULTS,
  type StoreSettings,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import type { Cache } from '../cache.js';
import { CACHE_HOOKS, type CacheHooks } from '../cache-hooks.js';
import { type CacheCodec, defaultCodec } from '../codec.js';
import { WRITE_BEHIND_OPTIONS } from '../known-options.js';
import { memoryWriteBehindQueue } from './memory-queue.js';
import type { WriteBehindQueue } from './queue.js';

/** One write handed to `persist`: the latest version of a key among the entries of a batch. */
export interface PersistEntry<T> {
  /** The key given to `write()`. */
  readonly key: string;
  /** The value, decoded by the codec (a copy of what was written). */
  readonly value: T;
  /**
   * Grows with every write of the key. Make the database write conditional on it (update only
   * where the stored version is lower) so retries, duplicates and out-of-order batches never
   * overwrite a newer value.
   */
  readonly version: number;
}

/** What `persist` gets besides the batch. */
export interface PersistContext {
  /** Aborts after `persistTimeoutMs` (the attempt then counts as failed) or on `close()`'s deadline. */
  readonly signal: AbortSignal;
  /** 1 on the first attempt of every entry of the batch, n when one of them failed n − 1 times. */
  readonly attempt: number;
}

/** Persists a batch; throws when any entry could not be written. */
export type PersistFunction<T> = (
  batch: readonly PersistEntry<T>[],
  context: PersistContext,
) => unknown;

/** What to do with a write when `maxPending` writes are waiting. */
export type BacklogMode = 'reject' | 'wait';

/** Options of {@link writeBehind}. */
export interface WriteBehindOptions<T> {
  /** Names the queue (shared by every replica writing to the same database table) and the metrics. */
  name: string;
  /** Writes a batch to the database. See {@link PersistFunction} and {@link PersistEntry.version}. */
  persist: PersistFunction<T>;
  /**
   * The durable queue: `redisWriteBehindQueue()` from `@breakwater/cache/redis`,
   * `dynamoWriteBehindQueue()` from `@breakwater/cache/dynamodb`, or
   * {@link memoryWriteBehindQueue} (lost if the process dies).
   * @default memoryWriteBehindQueue()
   */
  queue?: WriteBehindQueue | undefined;
  /**
   * A cache to write through to, so reads see pending values: `write()` caches the value first
   * (pinned: it neither expires nor is evicted until persisted), then queues it; once persisted,
   * the entry gets the cache's normal freshness.
   */
  cache?: Cache | undefined;
  /** Encodes values in the queue. @default the cache's codec, else the default codec */
  codec?: CacheCodec | undefined;
  /**
   * Most rows (distinct keys) per `persist` call. A flusher cycle claims up to 8 × this many
   * entries while they coalesce into fewer keys, so a hot key's many versions cost one row.
   * @default 500
   */
  batchSize?: number | undefined;
  /** How often the flusher looks for entries when the queue was empty. @default 200 */
  flushIntervalMs?: number | undefined;
  /** Failed persist attempts after which an entry moves to the dead letters. @default 8 */
  maxAttempts?: number | undefined;
  /** Retry delay after the first failure, doubled per attempt (with jitter). @default 200 */
  retryDelayMs?: number | undefined;
  /** Upper bound of the retry delay. @default 30_000 */
  maxRetryDelayMs?: number | undefined;
  /** Writes waiting to be persisted beyond which `write()` rejects or waits. @default 100_000 */
  maxPending?: number | undefined;
  /**
   * `'reject'`: `write()` throws {@link WriteBehindBacklogError} at once; `'wait'`: it waits up
   * to `maxWaitMs` for room, then throws it.
   * @default 'reject'
   */
  onBacklog?: BacklogMode | undefined;
  /** With `onBacklog: 'wait'`, how long `write()` may wait for room. @default 5_000 */
  maxWaitMs?: number | undefined;
  /**
   * An entry another replica took but did not finish for this long is taken over (its flusher
   * died or stalled). Flushers keep the entries they work on alive, so this only bounds how long
   * a dead replica's entries wait. @default 30_000
   */
  claimIdleMs?: number | undefined;
  /** A persist call is aborted and counted as failed after this long. @default 10_000 */
  persistTimeoutMs?: number | undefined;
  /**
   * Deadline of each queue operation, in milliseconds (> 0, ≤ 2³¹−1): an answer that has not come
   * by then is a store failure (`StoreTimeoutError`). A write that joined a batch while the batch
   * ahead of it was on its way waits for that one too, so at most twice this long.
   * @default 500 (core's `STORE_DEFAULTS.deadlineMs`)
   */
  storeDeadlineMs?: number | undefined;
  /**
   * After this many consecutive failed queue operations the queue is `degraded`: `write()` and
   * every other queue operation reject at once with a `StoreError`, without waiting on the queue,
   * until a background probe succeeds.
   * @default 3 (core's `STORE_DEFAULTS.failureThreshold`)
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the queue is degraded, how often it is probed in the background, in milliseconds.
   * @default 1_000 (core's `STORE_DEFAULTS.probeIntervalMs`)
   */
  storeProbeIntervalMs?: number | undefined;
  /**
   * How long a cached pending value outlives a write that was never queued (its process died
   * between caching and queueing). Persisted values get the cache's own TTL. @default 86_400_000
   */
  pinTtlMs?: number | undefined;
  /** Where entries go after `maxAttempts`: the queue's dead-letter store. @default 'stream' */
  deadLetter?: 'stream' | undefined;
  /** Run the flusher in this replica (false: this replica only writes). @default true */
  flusher?: boolean | undefined;
  /** This replica's consumer name in the queue. @default `<hostname>-<pid>-<random>` */
  consumer?: string | undefined;
  /** Time source, for tests. @default systemClock */
  clock?: Clock | undefined;
  /** Random source in [0, 1), for retry jitter. @default Math.random */
  random?: (() => number) | undefined;
}

/** Defaults of {@link WriteBehindOptions}. */
export const WRITE_BEHIND_DEFAULTS = {
  batchSize: 500,
  flushIntervalMs: 200,
  maxAttempts: 8,
  retryDelayMs: 200,
  maxRetryDelayMs: 30_000,
  maxPending: 100_000,
  onBacklog: 'reject',
  maxWaitMs: 5_000,
  claimIdleMs: 30_000,
  persistTimeoutMs: 10_000,
  storeDeadlineMs: STORE_DEFAULTS.deadlineMs,
  storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
  storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
  pinTtlMs: 86_400_000,
} as const;

/** Options after validation and defaults. */
export interface ResolvedWriteBehindOptions<T> {
  name: string;
  persist: PersistFunction<T>;
  queue: WriteBehindQueue;
  cache: Cache | undefined;
  codec: CacheCodec;
  batchSize: number;
  flushIntervalMs: number;
  maxAttempts: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  maxPending: number;
  onBacklog: BacklogMode;
  maxWaitMs: number;
  claimIdleMs: number;
  persistTimeoutMs: number;
  /** The queue's store settings (`onStoreError` is always `'fail-closed'`: a write rejects). */
  store: StoreSettings;
  pinTtlMs: number;
  flusher: boolean;
  consumer: string | undefined;
  clock: Clock;
  random: () => number;
}

const orDefault = <V>(value: V | undefined, fallback: V): V =>
  value === undefined ? fallback : value;

/** Longest delay a Node.js timer honours (longer ones fire after 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;
/** Most entries per claim: what a claim costs the queue grows with it. */
const MAX_BATCH_SIZE = 10_000;

/** An integer in [1, MAX_BATCH_SIZE]. */
function expectBatchSize(value: unknown): number {
  const size = expectInteger('batchSize', value);
  if (size > MAX_BATCH_SIZE) {
    throw new RangeError(`Expected \`batchSize\` to be at most ${MAX_BATCH_SIZE}, got ${size}`);
  }
  return size;
}

/** A positive number of milliseconds that a timer can wait. */
function expectTimerMs(name: string, value: unknown): number {
  const ms = expectPositive(name, value);
  if (ms > MAX_TIMER_MS) {
    throw new RangeError(`Expected \`${name}\` to be at most ${MAX_TIMER_MS} ms, got ${ms}`);
  }
  return ms;
}

/** Validates options, naming the option and the value received. */
export function resolveWriteBehindOptions<T>(
  options: WriteBehindOptions<T>,
): ResolvedWriteBehindOptions<T> {
  expectObject('options', options);
  warnUnknownOptions('writeBehind()', options, { known: WRITE_BEHIND_OPTIONS });
  const d = WRITE_BEHIND_DEFAULTS;
  const queue = options.queue ?? memoryWriteBehindQueue();
  expectObject('queue', queue);
  if (typeof queue.scope !== 'function' || typeof queue.kind !== 'string') {
    throw new TypeError(
      'Expected `queue` to be a write-behind queue with scope() (memoryWriteBehindQueue(), redisWriteBehindQueue() or dynamoWriteBehindQueue())',
    );
  }
  if (options.cache !== undefined) {
    expectObject('cache', options.cache);
    const storeKind = cacheHooks(options.cache).storeKind;
    // Write versions come from the cache's store. A queue shared by replicas needs them to grow
    // per key across the fleet, which only a shared store (Redis, DynamoDB) can promise.
    if (queue.kind !== 'memory' && (storeKind === undefined || storeKind === 'memory')) {
      throw new TypeError(
        `A write-behind with a ${queue.kind} queue needs a cache whose store replicas share (redisStore() or dynamoStore()), got a cache with ${storeKind === undefined ? 'no store' : 'a memory store'}`,
      );
    }
  }
  const codec = options.codec ?? cacheCodecOf(options.cache) ?? defaultCodec;
  expectObject('codec', codec);
  if (options.deadLetter !== undefined) expectOneOf('deadLetter', options.deadLetter, ['stream']);
  if (options.flusher !== undefined && typeof options.flusher !== 'boolean') {
    throw new TypeError(`Expected \`flusher\` to be a boolean, got ${String(options.flusher)}`);
  }
  const retryDelayMs = expectTimerMs(
    'retryDelayMs',
    orDefault(options.retryDelayMs, d.retryDelayMs),
  );
  const maxRetryDelayMs = expectTimerMs(
    'maxRetryDelayMs',
    orDefault(options.maxRetryDelayMs, d.maxRetryDelayMs),
  );
  if (maxRetryDelayMs < retryDelayMs) {
    throw new RangeError(
      `Expected \`maxRetryDelayMs\` (${maxRetryDelayMs}) to be at least \`retryDelayMs\` (${retryDelayMs})`,
    );
  }
  return {
    name: expectNonEmptyString('name', options.name),
    persist: expectFunction('persist', options.persist),
    queue,
    cache: options.cache,
    codec,
    batchSize: expectBatchSize(orDefault(options.batchSize, d.batchSize)),
    flushIntervalMs: expectTimerMs(
      'flushIntervalMs',
      orDefault(options.flushIntervalMs, d.flushIntervalMs),
    ),
    maxAttempts: expectInteger('maxAttempts', orDefault(options.maxAttempts, d.maxAttempts)),
    retryDelayMs,
    maxRetryDelayMs,
    maxPending: expectInteger('maxPending', orDefault(options.maxPending, d.maxPending)),
    onBacklog: expectOneOf('onBacklog', orDefault<BacklogMode>(options.onBacklog, d.onBacklog), [
      'reject',
      'wait',
    ]),
    maxWaitMs: expectNonNegative('maxWaitMs', orDefault(options.maxWaitMs, d.maxWaitMs)),
    claimIdleMs: expectTimerMs('claimIdleMs', orDefault(options.claimIdleMs, d.claimIdleMs)),
    persistTimeoutMs: expectTimerMs(
      'persistTimeoutMs',
      orDefault(options.persistTimeoutMs, d.persistTimeoutMs),
    ),
    store: resolveStoreOptions(
      {
        storeDeadlineMs: options.storeDeadlineMs,
        storeFailureThreshold: options.storeFailureThreshold,
        storeProbeIntervalMs: options.storeProbeIntervalMs,
      },
      // Write-behind has no `onStoreError` choice: a write the queue did not take is never
      // acknowledged, so every queue operation rejects with its StoreError (core's 'fail-closed').
      { onStoreError: 'fail-closed' },
    ),
    pinTtlMs: expectTimerMs('pinTtlMs', orDefault(options.pinTtlMs, d.pinTtlMs)),
    flusher: options.flusher ?? true,
    consumer:
      options.consumer === undefined
        ? undefined
        : expectNonEmptyString('consumer', options.consumer),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
  };
}

/** The codec of a cache built by `cache()`, through its write-behind hooks. */
function cacheCodecOf(cache: Cache | undefined): CacheCodec | undefined {
  return (cache as { [CACHE_HOOKS]?: CacheHooks } | undefined)?.[CACHE_HOOKS]?.codec;
}

/** The hooks of `cache`, or a clear error if it was not built by `cache()`. */
export function cacheHooks(cache: Cache): CacheHooks {
  const hooks = (cache as { [CACHE_HOOKS]?: CacheHooks })[CACHE_HOOKS];
  if (hooks === undefined) {
    throw new TypeError('Expected `cache` to be a cache created by cache() from @breakwater/cache');
  }
  return hooks;
}
