/**
 * Write-behind: `write()` makes a value durable in a queue (and visible in the cache), a flusher
 * persists queued values to the database in batches, later.
 *
 * The guarantee: every `write()` that resolved is persisted at least once, or sits in the dead
 * letters, whatever process dies when — an entry leaves the queue only after `persist` succeeded
 * for it or for a newer version of its key, or when it moved to the dead letters. Versions grow
 * per key, so a `persist` that writes conditionally (only over a lower version) leaves the database
 * at the latest written version even when batches are retried, duplicated or reordered.
 *
 * Writing costs one queue call per batch of concurrent writes, not per write: with a queue that
 * has `appendMany` (memory, Redis), writes made while an append is on its way are sent together
 * next (see `AppendBatcher`); each still resolves only once its own entry is durable.
 *
 * Every queue operation goes through core's store call path (`QueueCalls`): the store deadline,
 * the degraded mode, `StoreError`s and the store telemetry are core's. Write-behind has no
 * `onStoreError` choice: a write the queue did not take is never acknowledged, so `write()` rejects
 * with the `StoreError` (at once while the queue, or the cache's L2 store, is degraded).
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type Disposer,
  expectNonNegative,
  expectObject,
  expectPositive,
  isStoreError,
  type StoreStatus,
  type StoreStatusListener,
} from '@breakwater/core';
import { expectKey } from '../arguments.js';
import type { CacheHooks } from '../cache-hooks.js';
import { AppendBatcher } from './append-batcher.js';
import { type DeadLetterOperations, DeadLetters } from './dead-letters.js';
import { isWriteBehindBacklogError } from './errors.js';
import { Flusher, type WriteBehindCounters } from './flusher.js';
import {
  cacheHooks,
  type ResolvedWriteBehindOptions,
  resolveWriteBehindOptions,
  type WriteBehindOptions,
} from './options.js';
import { encodePayload } from './payload.js';
import { Persister } from './persister.js';
import { QueueCalls } from './queue-calls.js';
import { WritePathStatus } from './store-status.js';
import { WriteBehindTelemetry, writeBehindTelemetry } from './telemetry.js';

/** Options of {@link WriteBehind.write}. */
export interface WriteBehindWriteOptions {
  /** Aborts the write while it waits (for the queue, or for room with `onBacklog: 'wait'`). */
  signal?: AbortSignal | undefined;
  /** Overrides the `maxWaitMs` option for this write. */
  maxWaitMs?: number | undefined;
}

/** Options of {@link WriteBehind.close}. */
export interface WriteBehindCloseOptions {
  /** Stop draining after this many milliseconds (default: drain until done, or the queue fails). */
  timeoutMs?: number | undefined;
}

/** Counters of one write-behind instance (this replica only). */
export interface WriteBehindStats {
  /** Writes queued by this replica. */
  readonly accepted: number;
  /** Entries this replica's flusher persisted (winners of their batch). */
  readonly persisted: number;
  /** Entries completed because a newer version of their key was persisted in the same batch. */
  readonly superseded: number;
  /** Entries this replica moved to the dead letters. */
  readonly deadLettered: number;
  /** Failed persist attempts of single entries. */
  readonly failedAttempts: number;
  /** Pending entries in the whole queue, as last read (at most once a second, by the flusher). */
  readonly pending: number | undefined;
  /** Age of the oldest pending entry in ms, read with `pending`. */
  readonly oldestPendingAgeMs: number | undefined;
  /** Lag (write → persisted) of the last entry persisted here, in ms. */
  readonly lastLagMs: number | undefined;
}

/** A write-behind writer and flusher. */
export interface WriteBehind<T> {
  /** The name of the queue and metrics. */
  readonly name: string;
  /**
   * Queues `value` for `key` and resolves with the write's version once the write is durable
   * in the queue (and, with a cache, cached and pinned). Nothing is queued or cached when it
   * rejects: a write the queue did not take is never acknowledged, and its value is taken back
   * out of the cache.
   * @throws {TypeError} for an empty or non-string key; {@link CacheCodecError} for a value the
   *   codec cannot encode; {@link WriteBehindBacklogError} past `maxPending`; a `StoreError` when
   *   the queue (or the cache's store) fails or misses its deadline — at once, without calling
   *   either, while {@link storeStatus} is `'degraded'`; `signal.reason`.
   */
  write(key: string, value: T, options?: WriteBehindWriteOptions): Promise<number>;
  /**
   * Persists everything this replica can claim now, waiting out retry delays, until nothing is
   * left to claim or retry. Entries other replicas hold are theirs to finish.
   * @throws a `StoreError` when a queue operation fails, misses the deadline, or the queue is
   *   degraded.
   */
  flush(): Promise<void>;
  /**
   * Serverless: {@link flush}. Not needed for durability — a write is in the queue once `write()`
   * resolves, and a durable queue hands what a frozen process claimed to another after
   * `claimIdleMs` — but it persists this invocation's writes now rather than when the flusher's
   * timer, which does not run while the process is frozen, next fires somewhere. Rejects like
   * {@link flush}. See `serverless()` of `@breakwater/core`.
   */
  settle(): Promise<void>;
  /**
   * Entries accepted and not yet persisted or dead-lettered, in the whole queue.
   * @throws a `StoreError` when the queue fails, misses the deadline or is degraded.
   */
  pending(): Promise<number>;
  /** This replica's counters. */
  stats(): WriteBehindStats;
  /** The dead letters. */
  readonly deadLetters: DeadLetterOperations<T>;
  /**
   * `'healthy'`, or `'degraded'` while writes cannot be made durable: after
   * `storeFailureThreshold` consecutive failures of the queue (or while the cache's L2 store is
   * degraded), until a background probe finds it answering again. While degraded, `write()` and
   * every queue operation reject at once with a `StoreError`.
   */
  readonly storeStatus: StoreStatus;
  /**
   * Subscribes to {@link storeStatus} changes, in core's one shape
   * (`{ policy, pattern: 'write-behind', store, status, error? }`); returns the disposer.
   */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /**
   * Refuses new writes, waits for writes under way, drains (like {@link flush}: what was queued
   * is persisted or dead-lettered, retries included) and stops the flusher. The queue and the
   * cache stay open. It never rejects because of the queue and never waits on a failing queue
   * for long: draining stops at the first queue operation that fails (each waits at most
   * `storeDeadlineMs`; none while the queue is degraded), there is no drain when a write it
   * waited for has just failed on the queue's store (the queue, or a cache store of the same
   * kind), and then close() waits for the queue operations still in flight, one deadline at
   * most. With `timeoutMs`, it also stops draining between cycles once that much time passed.
   * What is left stays in the queue (a durable queue hands it to another replica after
   * `claimIdleMs`; the memory queue loses it).
   */
  close(options?: WriteBehindCloseOptions): Promise<void>;
  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

function ignore(): void {}

/**
 * Creates a write-behind writer (and, unless `flusher: false`, a flusher).
 *
 * @example
 * const wb = writeBehind({
 *   name: 'profiles', cache: c, queue: redisWriteBehindQueue({ client }),
 *   persist: async (batch) => { await upsertWhereVersionLower(batch); },
 * });
 * await wb.write('user:1', profile); // durable in the queue, visible in the cache
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function writeBehind<T = unknown>(options: WriteBehindOptions<T>): WriteBehind<T> {
  return new WriteBehindEngine(resolveWriteBehindOptions(options));
}

class WriteBehindEngine<T> implements WriteBehind<T> {
  readonly name: string;
  readonly deadLetters: DeadLetterOperations<T>;
  /** The queue's operations, on core's store call path. */
  private readonly queue: QueueCalls;
  private readonly status: WritePathStatus;
  /** Batches concurrent appends into one call, when the queue has `appendMany`. */
  private readonly batcher: AppendBatcher | undefined;
  private readonly hooks: CacheHooks | undefined;
  private readonly telemetry: WriteBehindTelemetry;
  private readonly flusher: Flusher<T>;
  /** `write()` calls under way. */
  private readonly writing = new Set<Promise<number>>();
  private closing: Promise<void> | undefined;
  private readonly counters: WriteBehindCounters = {
    accepted: 0,
    persisted: 0,
    superseded: 0,
    deadLettered: 0,
    failedAttempts: 0,
    lastLagMs: undefined,
  };

  constructor(private readonly o: ResolvedWriteBehindOptions<T>) {
    this.name = o.name;
    const telemetry = writeBehindTelemetry();
    this.queue = new QueueCalls({
      name: o.name,
      queue: o.queue,
      settings: o.store,
      telemetry,
      consumer: o.consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
      claimIdleMs: o.claimIdleMs,
      maxPending: o.maxPending,
    });
    const appendMany = this.queue.appendMany;
    this.batcher =
      appendMany === undefined ? undefined : new AppendBatcher(appendMany, o.queue.kind);
    this.hooks = o.cache === undefined ? undefined : cacheHooks(o.cache);
    this.status = new WritePathStatus(o.name, this.queue, o.cache, this.hooks?.storeKind);
    this.telemetry = new WriteBehindTelemetry(
      telemetry,
      o.name,
      o.queue.kind,
      () => this.flusher.lastBacklog,
    );
    const persister = new Persister(o, this.telemetry);
    this.flusher = new Flusher(o, this.queue, persister, this.hooks, this.telemetry, this.counters);
    const deadLetters = new DeadLetters<T>(this.queue, o.codec, persister);
    this.deadLetters = {
      list: (options) => deadLetters.list(options),
      replay: (letters) => deadLetters.replay(letters),
      delete: (ids) => deadLetters.delete(ids),
    };
    if (o.flusher) this.flusher.start();
  }

  // ------------------------------------------------------------------ writing

  async write(key: string, value: T, options?: WriteBehindWriteOptions): Promise<number> {
    expectKey(key);
    if (options !== undefined) expectObject('options', options);
    if (this.closing !== undefined) throw new Error(`Write-behind "${this.name}" is closed`);
    // close() waits for writes under way, so that what they queue is drained too.
    const run = this.queueWrite(key, value, options);
    this.writing.add(run);
    try {
      return await run;
    } finally {
      this.writing.delete(run);
    }
  }

  private async queueWrite(
    key: string,
    value: T,
    options: WriteBehindWriteOptions | undefined,
  ): Promise<number> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const maxWaitMs =
      options?.maxWaitMs === undefined
        ? this.o.maxWaitMs
        : expectNonNegative('maxWaitMs', options.maxWaitMs);
    const payload = encodePayload(this.o.codec, key, value);
    let pinned: number | undefined;
    try {
      if (this.hooks !== undefined) {
        // A degraded queue refuses the write before it touches the cache (without a cache, the
        // append itself is refused at once).
        const refused = this.queue.refuseIfDegraded();
        if (refused !== undefined) await refused;
        pinned = await this.hooks.pin(key, value, this.o.pinTtlMs);
      }
    } catch (error) {
      this.telemetry.write('error');
      throw error;
    }
    let version: number;
    try {
      version = await this.append(key, payload, pinned, signal, maxWaitMs);
    } catch (error) {
      // Not queued: take the value back out of the cache, so nothing is half-written.
      if (pinned !== undefined) await this.hooks!.unpin(key, pinned).catch(() => {});
      this.telemetry.write(isWriteBehindBacklogError(error) ? 'backlog' : 'error');
      throw error;
    }
    this.counters.accepted++;
    this.telemetry.write('accepted');
    return version;
  }

  private async append(
    key: string,
    payload: string,
    version: number | undefined,
    signal: AbortSignal | undefined,
    maxWaitMs: number,
  ): Promise<number> {
    const clock = this.o.clock;
    const giveUpAt = clock.now() + maxWaitMs;
    for (;;) {
      try {
        if (this.batcher !== undefined)
          return await this.batcher.append(key, payload, version, signal);
        const outcome = await this.queue.append.run({ key, payload, version }, signal);
        if (typeof outcome !== 'number') throw outcome;
        return outcome;
      } catch (error) {
        const left = giveUpAt - clock.now();
        if (!isWriteBehindBacklogError(error) || this.o.onBacklog !== 'wait' || left <= 0)
          throw error;
        await clock.sleep(Math.min(this.o.flushIntervalMs, left), signal);
      }
    }
  }

  // ------------------------------------------------------------------ flushing

  flush(): Promise<void> {
    return this.flusher.drain(undefined);
  }

  settle(): Promise<void> {
    return this.flush();
  }

  pending(): Promise<number> {
    return Promise.resolve(this.queue.pending.run(undefined));
  }

  get storeStatus(): StoreStatus {
    return this.status.status;
  }

  onStoreStatusChange(listener: StoreStatusListener): Disposer {
    return this.status.onChange(listener);
  }

  stats(): WriteBehindStats {
    return {
      ...this.counters,
      pending: this.flusher.lastBacklog?.pending,
      oldestPendingAgeMs: this.flusher.lastBacklog?.lagMs,
    };
  }

  // ------------------------------------------------------------------ closing

  close(options?: WriteBehindCloseOptions): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    let timeoutMs: number | undefined;
    try {
      if (options !== undefined) expectObject('options', options);
      if (options?.timeoutMs !== undefined)
        timeoutMs = expectPositive('timeoutMs', options.timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    this.flusher.halt();
    this.closing = (async () => {
      const stop = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
      try {
        const writes = await Promise.allSettled(this.writing);
        // Drains while the queue answers. A queue operation that fails (each within the store
        // deadline, at once while degraded) ends the drain: what is left stays queued. A write
        // close() waited for that just failed on the queue's store says as much already, so
        // there is no drain to wait one more deadline for.
        if (!this.queueJustFailed(writes)) await this.flusher.drain(stop).catch(ignore);
      } finally {
        this.flusher.stop();
        this.telemetry.dispose();
        this.status.dispose();
        // Stops the background probe; waits for queue operations still in flight (a touch, a
        // write's append that outlived its caller's signal), one deadline at most.
        await this.queue.close();
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Did one of `writes` fail on the queue's store: on the queue, or on a cache store of the same
   * kind (its value is pinned there first; a Redis or DynamoDB L2 is most often the queue's very
   * server)? A write whose caller gave up, or that failed on a store of another kind, does not
   * count: the queue may well answer.
   */
  private queueJustFailed(writes: readonly PromiseSettledResult<number>[]): boolean {
    const store = this.queue.calls.store;
    return writes.some(
      (write) =>
        write.status === 'rejected' && isStoreError(write.reason) && write.reason.store === store,
    );
  }
}
