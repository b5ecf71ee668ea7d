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
 */

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  expectInteger,
  expectNonNegative,
  expectObject,
  expectPositive,
  raceAbort,
  TimeoutError,
  withDeadline,
} from '@breakwater/core';
import { expectKey } from '../arguments.js';
import { isCacheCodecError } from '../errors.js';
import { AppendBatcher } from './append-batcher.js';
import { isWriteBehindBacklogError } from './errors.js';
import {
  type CacheHooks,
  cacheHooks,
  type PersistEntry,
  type ResolvedWriteBehindOptions,
  resolveWriteBehindOptions,
  type WriteBehindOptions,
} from './options.js';
import type { DeadLetter, QueuedWrite, WriteQueueNamespace } from './queue.js';
import { type BacklogReading, WriteBehindTelemetry } from './telemetry.js';

/** Options of {@link WriteBehind.write}. */
export interface WriteBehindWriteOptions {
  /** Aborts the write while it waits (for the queue, or for room with `onBacklog: 'wait'`). */
  signal?: AbortSignal | undefined;
  /** Overrides the `maxWaitMs` option for this write. */
  maxWaitMs?: number | undefined;
}

/** Options of {@link WriteBehind.close}. */
export interface WriteBehindCloseOptions {
  /** Stop draining after this many milliseconds (default: drain until done). */
  timeoutMs?: number | undefined;
}

/** A dead letter with its value decoded. */
export interface DeadLetterRecord<T> extends DeadLetter {
  /** The decoded value; `undefined` when it could not be decoded (see `decodeError`). */
  readonly value: T | undefined;
  /** Why the payload could not be decoded, if it could not. */
  readonly decodeError?: string | undefined;
}

/** The outcome of {@link DeadLetterOperations.replay}. */
export interface ReplayResult {
  /** Ids of dead letters persisted and deleted. */
  readonly replayed: readonly string[];
  /** Dead letters that failed again (kept), with the error. */
  readonly failed: readonly { readonly id: string; readonly error: unknown }[];
}

/** Operations on the entries that failed `maxAttempts` times. */
export interface DeadLetterOperations<T> {
  /** Dead letters, oldest first. @param options.limit at most this many (default 100) */
  list(options?: {
    limit?: number | undefined;
    after?: string | undefined;
  }): Promise<DeadLetterRecord<T>[]>;
  /**
   * Persists dead letters through `persist` (the newest version per key, together; one by one
   * if that fails) and deletes those that succeeded.
   */
  replay(letters: readonly DeadLetterRecord<T>[]): Promise<ReplayResult>;
  /** Deletes dead letters; returns how many existed. */
  delete(ids: readonly string[]): Promise<number>;
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
   * rejects.
   * @throws {TypeError} for an empty or non-string key; {@link CacheCodecError} for a value the
   *   codec cannot encode; {@link WriteBehindBacklogError} past `maxPending`; a `StoreError` when
   *   the queue (or the cache's store) fails or misses its deadline; `signal.reason`.
   */
  write(key: string, value: T, options?: WriteBehindWriteOptions): Promise<number>;
  /**
   * Persists everything this replica can claim now, waiting out retry delays, until nothing is
   * left to claim or retry. Entries other replicas hold are theirs to finish.
   * @throws a `StoreError` when the queue fails.
   */
  flush(): Promise<void>;
  /** Entries accepted and not yet persisted or dead-lettered, in the whole queue. */
  pending(): Promise<number>;
  /** This replica's counters. */
  stats(): WriteBehindStats;
  /** The dead letters. */
  readonly deadLetters: DeadLetterOperations<T>;
  /**
   * Refuses new writes, waits for writes under way, drains (like {@link flush}: what was queued
   * is persisted or dead-lettered, retries included) and stops the flusher. The queue and the
   * cache stay open. With `timeoutMs`, it stops draining between cycles once that much time
   * passed: what is left stays in the queue (a durable queue hands it to another replica after
   * `claimIdleMs`; the memory queue loses it).
   */
  close(options?: WriteBehindCloseOptions): Promise<void>;
  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

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

interface Group {
  /** The newest version of the key in the batch. */
  winner: QueuedWrite;
  value: unknown;
  /** Older entries of the key in the batch, done when the winner is. */
  older: QueuedWrite[];
}

interface Waiting {
  entries: QueuedWrite[];
  retryAt: number;
}

/** A cycle claims at most this many × `batchSize` entries while they coalesce into few keys. */
const MAX_CLAIMS_PER_CYCLE = 8;

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

class WriteBehindEngine<T> implements WriteBehind<T> {
  readonly name: string;
  readonly deadLetters: DeadLetterOperations<T>;
  private readonly ns: WriteQueueNamespace;
  /** Batches concurrent appends into one call, when the queue has `appendMany`. */
  private readonly batcher: AppendBatcher | undefined;
  private readonly hooks: CacheHooks | undefined;
  private readonly telemetry: WriteBehindTelemetry;
  private readonly consumer: string;
  /** Groups that failed and wait for their retry, by winner id. */
  private readonly waiting = new Map<string, Waiting>();
  /** `write()` calls under way. */
  private readonly writing = new Set<Promise<number>>();
  /** Ids of the entries of the batch being persisted. */
  private inHand: readonly string[] = [];
  private cycling: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly toucher: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private lastBacklog: BacklogReading | undefined;
  private lastBacklogReadAt = Number.NEGATIVE_INFINITY;
  private counters = {
    accepted: 0,
    persisted: 0,
    superseded: 0,
    deadLettered: 0,
    failedAttempts: 0,
    lastLagMs: undefined as number | undefined,
  };

  constructor(private readonly o: ResolvedWriteBehindOptions<T>) {
    this.name = o.name;
    this.ns = o.queue.namespace(o.name);
    const ns = this.ns;
    this.batcher =
      typeof ns.appendMany === 'function'
        ? new AppendBatcher({
            appendMany: (items, maxPending) => ns.appendMany!(items, maxPending),
            maxPending: o.maxPending,
            deadlineMs: o.queueDeadlineMs,
            store: o.queue.kind,
            onError: () => this.telemetry.queueError('append'),
          })
        : undefined;
    this.hooks = o.cache === undefined ? undefined : cacheHooks(o.cache);
    this.consumer = o.consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.telemetry = new WriteBehindTelemetry(o.name, o.queue.kind, () => this.lastBacklog);
    this.deadLetters = {
      list: (options) => this.listDeadLetters(options),
      replay: (letters) => this.replay(letters),
      delete: (ids) => this.queueCall('delete_dead_letters', () => this.ns.deleteDeadLetters(ids)),
    };
    if (o.flusher) {
      this.schedule(o.flushIntervalMs);
      // Keep the claims of entries in hand alive, so no other replica takes them over while a
      // persist runs long or a retry waits.
      this.toucher = setInterval(() => this.touch(), Math.max(1, o.claimIdleMs / 3));
      this.toucher.unref();
    }
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
    const payload = this.encode(key, value);
    let pinned: number | undefined;
    try {
      pinned =
        this.hooks === undefined ? undefined : await this.hooks.pin(key, value, this.o.pinTtlMs);
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
        return await this.queueCall(
          'append',
          () => this.ns.append(key, payload, { version, maxPending: this.o.maxPending }),
          signal,
        );
      } catch (error) {
        const left = giveUpAt - clock.now();
        if (!isWriteBehindBacklogError(error) || this.o.onBacklog !== 'wait' || left <= 0)
          throw error;
        await clock.sleep(Math.min(this.o.flushIntervalMs, left), signal);
      }
    }
  }

  private encode(key: string, value: unknown): string {
    const codec = this.o.codec;
    try {
      return `${codec.id}\n${codec.encode(value)}`;
    } catch (error) {
      throw isCacheCodecError(error) ? error.withKey(key) : error;
    }
  }

  private decode(payload: string): unknown {
    const newline = payload.indexOf('\n');
    const id = newline < 0 ? '' : payload.slice(0, newline);
    if (id !== this.o.codec.id) {
      throw new TypeError(
        `The queued value was encoded by codec ${JSON.stringify(id)}, not by ${JSON.stringify(this.o.codec.id)}`,
      );
    }
    return this.o.codec.decode(payload.slice(newline + 1));
  }

  private queueCall<R>(
    operation: string,
    call: () => Promise<R>,
    signal?: AbortSignal | undefined,
  ): Promise<R> {
    return withDeadline(() => call(), {
      deadlineMs: this.o.queueDeadlineMs,
      store: this.o.queue.kind,
      operation,
      signal,
    }).catch((error: unknown) => {
      // A refusal is the queue's answer, not its failure: hand it over as it is.
      const cause = (error as { cause?: unknown } | undefined)?.cause;
      if (isWriteBehindBacklogError(cause)) throw cause;
      this.telemetry.queueError(operation);
      throw error;
    });
  }

  // ------------------------------------------------------------------ flushing

  private schedule(delayMs: number): void {
    if (this.closing !== undefined || !this.o.flusher) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let handled = 0;
    try {
      handled = await this.runCycle();
    } catch {
      // Counted as a queue error; the next tick tries again.
    }
    this.schedule(handled >= this.o.batchSize ? 0 : this.nextDelay());
  }

  /** Until the next retry is due, at most `flushIntervalMs`. */
  private nextDelay(): number {
    let delay = this.o.flushIntervalMs;
    const now = this.o.clock.now();
    for (const waiting of this.waiting.values()) delay = Math.min(delay, waiting.retryAt - now);
    return Math.max(0, delay);
  }

  /** Runs one cycle after the running one, if any. Resolves with the entries handled. */
  private runCycle(): Promise<number> {
    const run = this.cycling.then(() => this.cycle());
    this.cycling = run.catch(() => {});
    return run;
  }

  private async cycle(): Promise<number> {
    const now = this.o.clock.now();
    const batch: QueuedWrite[] = [];
    for (const [id, waiting] of this.waiting) {
      if (waiting.retryAt > now || batch.length >= this.o.batchSize) continue;
      this.waiting.delete(id);
      batch.push(...waiting.entries);
    }
    let room = this.o.batchSize - batch.length;
    if (room > 0) {
      const known = new Set<string>();
      const keys = new Set<string>();
      for (const entry of batch) {
        known.add(entry.id);
        keys.add(entry.key);
      }
      for (const waiting of this.waiting.values())
        for (const entry of waiting.entries) known.add(entry.id);
      // Claim until the batch holds `batchSize` keys or the queue runs dry: many versions of a
      // few hot keys coalesce, so one persist call covers them all (up to a bound per cycle).
      const most = this.o.batchSize * MAX_CLAIMS_PER_CYCLE;
      while (room > 0) {
        const page = room;
        const claimed = await this.queueCall('claim', () =>
          this.ns.claim(this.consumer, page, this.o.claimIdleMs),
        );
        // Our own entries can come back after a failed touch: keep the copy we already have.
        for (const entry of claimed) {
          if (known.has(entry.id)) continue;
          known.add(entry.id);
          keys.add(entry.key);
          batch.push(entry);
        }
        if (claimed.length < page || batch.length >= most) break;
        room = Math.min(this.o.batchSize - keys.size, most - batch.length);
      }
      await this.refreshBacklog(now);
    }
    if (batch.length === 0) return 0;
    this.inHand = batch.map((entry) => entry.id);
    try {
      const groups = await this.groupsOf(batch);
      // Enough persist calls to isolate a bad entry or two by bisection, not 2n − 1 calls (each
      // up to persistTimeoutMs) when the database is simply down: the rest waits for a retry.
      const budget = { calls: 2 * Math.ceil(Math.log2(groups.length + 1)) + 4 };
      await this.persistGroups(groups, budget);
    } finally {
      this.inHand = [];
    }
    return batch.length;
  }

  /** Reads the queue's backlog for the gauges, at most once a second. */
  private async refreshBacklog(now: number): Promise<void> {
    if (now - this.lastBacklogReadAt < 1_000) return;
    this.lastBacklogReadAt = now;
    try {
      const backlog = await this.queueCall('backlog', () => this.ns.backlog());
      const oldest = backlog.oldestEnqueuedAt;
      this.lastBacklog = {
        pending: backlog.pending,
        lagMs: oldest === undefined ? 0 : Math.max(0, this.o.clock.now() - oldest),
      };
    } catch {
      // Keep the last reading.
    }
  }

  /** One group per key: the newest version wins, older ones ride along. Undecodable → dead. */
  private async groupsOf(batch: readonly QueuedWrite[]): Promise<Group[]> {
    const byKey = new Map<string, { winner: QueuedWrite; older: QueuedWrite[] }>();
    for (const entry of batch) {
      const group = byKey.get(entry.key);
      if (group === undefined) byKey.set(entry.key, { winner: entry, older: [] });
      else if (entry.version > group.winner.version) {
        group.older.push(group.winner);
        group.winner = entry;
      } else group.older.push(entry);
    }
    const groups: Group[] = [];
    for (const { winner, older } of byKey.values()) {
      let value: unknown;
      try {
        value = this.decode(winner.payload);
      } catch (error) {
        // It will never decode: no point in retrying it.
        await this.failGroup({ winner, value: undefined, older }, error, 1);
        continue;
      }
      groups.push({ winner, value, older });
    }
    return groups;
  }

  /**
   * Persists groups; a failing batch is split in halves until the failing entries are alone.
   * Groups left when `budget` runs out wait for the next cycle, their attempts not counted.
   */
  private async persistGroups(groups: readonly Group[], budget: { calls: number }): Promise<void> {
    if (groups.length === 0) return;
    if (budget.calls <= 0) {
      this.defer(groups);
      return;
    }
    budget.calls--;
    const error = await this.tryPersist(groups);
    if (error === undefined) {
      await this.completeGroups(groups);
      return;
    }
    if (groups.length === 1) {
      await this.failGroup(groups[0]!, error, this.o.maxAttempts);
      return;
    }
    const middle = groups.length >>> 1;
    await this.persistGroups(groups.slice(0, middle), budget);
    await this.persistGroups(groups.slice(middle), budget);
  }

  /** Puts groups back in hand, to be retried after the delay their attempts so far call for. */
  private defer(groups: readonly Group[]): void {
    const now = this.o.clock.now();
    for (const group of groups) {
      this.waiting.set(group.winner.id, {
        entries: [group.winner, ...group.older],
        retryAt: now + this.retryDelay(Math.max(1, group.winner.attempts)),
      });
    }
  }

  /** Exponential backoff with jitter on the upper half, so replicas retrying together spread out. */
  private retryDelay(attempts: number): number {
    const exponent = Math.min(attempts - 1, 30);
    const delay = Math.min(this.o.maxRetryDelayMs, this.o.retryDelayMs * 2 ** exponent);
    return delay / 2 + (delay / 2) * this.o.random();
  }

  /** Runs `persist` once; resolves with its error, if any. */
  private async tryPersist(groups: readonly Group[]): Promise<unknown> {
    const entries: PersistEntry<T>[] = [];
    let attempt = 1;
    for (const group of groups) {
      entries.push({
        key: group.winner.key,
        value: group.value as T,
        version: group.winner.version,
      });
      attempt = Math.max(attempt, group.winner.attempts + 1);
    }
    return this.runPersist(entries, attempt);
  }

  /**
   * Calls `persist` once under `persistTimeoutMs` (its signal aborts with a `TimeoutError`) and
   * records it; resolves with its error, if any. Flushes and dead-letter replays both go through it.
   */
  private async runPersist(entries: readonly PersistEntry<T>[], attempt: number): Promise<unknown> {
    const controller = new AbortController();
    const timeoutMs = this.o.persistTimeoutMs;
    const timer = setTimeout(
      () =>
        controller.abort(
          new TimeoutError(
            `persist of write-behind "${this.name}" took longer than ${timeoutMs} ms`,
            { policyName: this.name, timeoutMs },
          ),
        ),
      timeoutMs,
    );
    const started = performance.now();
    try {
      const context = { signal: controller.signal, attempt };
      await raceAbort(
        Promise.resolve().then(() => this.o.persist(entries, context)),
        controller.signal,
      );
      this.telemetry.persist((performance.now() - started) / 1000, entries.length, 'success');
      return undefined;
    } catch (error) {
      this.telemetry.persist((performance.now() - started) / 1000, entries.length, 'failure');
      return error ?? new Error('persist rejected without a reason');
    } finally {
      clearTimeout(timer);
    }
  }

  private async completeGroups(groups: readonly Group[]): Promise<void> {
    const ids: string[] = [];
    let older = 0;
    for (const group of groups) {
      ids.push(group.winner.id);
      for (const entry of group.older) ids.push(entry.id);
      older += group.older.length;
    }
    try {
      await this.queueCall('complete', () => this.ns.complete(ids));
    } catch {
      // Still in the queue: another claim will persist them again (at least once).
      return;
    }
    const now = this.o.clock.now();
    this.counters.persisted += groups.length;
    this.counters.superseded += older;
    this.telemetry.flush('persisted', groups.length);
    this.telemetry.flush('superseded', older);
    for (const group of groups) {
      this.counters.lastLagMs = Math.max(0, now - group.winner.enqueuedAt);
    }
    const hooks = this.hooks;
    if (hooks !== undefined) {
      await Promise.all(
        groups.map((group) =>
          hooks.settle(group.winner.key, group.value, group.winner.version).catch(() => {}),
        ),
      );
    }
  }

  private async failGroup(group: Group, error: unknown, maxAttempts: number): Promise<void> {
    this.counters.failedAttempts++;
    let outcome: Awaited<ReturnType<WriteQueueNamespace['fail']>>;
    try {
      outcome = await this.queueCall('fail', () =>
        this.ns.fail(group.winner, describeError(error), maxAttempts),
      );
    } catch {
      // The attempt was not counted; the entries go idle and get claimed again later.
      return;
    }
    if (outcome.status === 'retry') {
      this.telemetry.retry();
      const winner = { ...group.winner, attempts: outcome.attempts };
      this.waiting.set(winner.id, {
        entries: [winner, ...group.older],
        retryAt: this.o.clock.now() + this.retryDelay(outcome.attempts),
      });
      return;
    }
    if (outcome.status === 'dead') {
      this.counters.deadLettered++;
      this.telemetry.deadLetter();
      // The value never reached the database: stop serving it from the cache.
      await this.hooks?.unpin(group.winner.key, group.winner.version).catch(() => {});
    }
    // Dead-lettered or done elsewhere: the older versions are superseded either way.
    if (group.older.length === 0) return;
    try {
      await this.queueCall('complete', () =>
        this.ns.complete(group.older.map((entry) => entry.id)),
      );
      this.counters.superseded += group.older.length;
      this.telemetry.flush('superseded', group.older.length);
    } catch {
      // They stay queued and will be claimed again.
    }
  }

  private touch(): void {
    const ids = [...this.inHand];
    for (const waiting of this.waiting.values())
      for (const entry of waiting.entries) ids.push(entry.id);
    if (ids.length === 0) return;
    this.queueCall('touch', () => this.ns.touch(this.consumer, ids)).catch(() => {});
  }

  flush(): Promise<void> {
    return this.drain(undefined);
  }

  /** {@link flush}, stopping between cycles once `stop` aborts. */
  private async drain(stop: AbortSignal | undefined): Promise<void> {
    // What was queued when the flush began bounds it: other replicas may keep writing faster
    // than this one persists, and a flush (or a close) must still end.
    let left = await this.pending();
    while (stop?.aborted !== true) {
      const handled = await this.runCycle();
      left -= handled;
      if (handled > 0 && left > 0) continue;
      if (this.waiting.size === 0) return;
      try {
        await this.o.clock.sleep(Math.max(1, this.nextDelay()), stop);
      } catch {
        return;
      }
    }
  }

  pending(): Promise<number> {
    return this.queueCall('pending', () => this.ns.pending());
  }

  stats(): WriteBehindStats {
    return {
      ...this.counters,
      pending: this.lastBacklog?.pending,
      oldestPendingAgeMs: this.lastBacklog?.lagMs,
    };
  }

  // ------------------------------------------------------------------ dead letters

  private async listDeadLetters(options?: {
    limit?: number | undefined;
    after?: string | undefined;
  }): Promise<DeadLetterRecord<T>[]> {
    if (options !== undefined) expectObject('options', options);
    const limit = expectInteger('limit', options?.limit ?? 100);
    const letters = await this.queueCall('list_dead_letters', () =>
      this.ns.listDeadLetters(limit, options?.after),
    );
    return letters.map((letter) => {
      try {
        return { ...letter, value: this.decode(letter.payload) as T };
      } catch (error) {
        return { ...letter, value: undefined, decodeError: describeError(error) };
      }
    });
  }

  private async replay(letters: readonly DeadLetterRecord<T>[]): Promise<ReplayResult> {
    if (!Array.isArray(letters)) {
      throw new TypeError(
        'Expected `letters` to be an array of dead letters from deadLetters.list()',
      );
    }
    const replayed: string[] = [];
    const failed: { id: string; error: unknown }[] = [];
    // The newest version per key is what the database should end with; older ones ride along.
    const byKey = new Map<string, DeadLetterRecord<T>[]>();
    for (const letter of letters) {
      if (letter.decodeError !== undefined) {
        failed.push({ id: letter.id, error: new TypeError(letter.decodeError) });
        continue;
      }
      const list = byKey.get(letter.key) ?? [];
      list.push(letter);
      byKey.set(letter.key, list);
    }
    const groups = [...byKey.values()].map((list) =>
      list.reduce((a, b) => (b.version > a.version ? b : a)),
    );
    const persistOne = (chunk: readonly DeadLetterRecord<T>[]): Promise<unknown> =>
      this.runPersist(
        chunk.map((l) => ({ key: l.key, value: l.value as T, version: l.version })),
        1,
      );
    const done = (letter: DeadLetterRecord<T>) => {
      for (const l of byKey.get(letter.key) ?? []) replayed.push(l.id);
    };
    if (groups.length > 0 && (await persistOne(groups)) === undefined) groups.forEach(done);
    else {
      for (const letter of groups) {
        const error = await persistOne([letter]);
        if (error === undefined) done(letter);
        else for (const l of byKey.get(letter.key) ?? []) failed.push({ id: l.id, error });
      }
    }
    if (replayed.length > 0) {
      await this.queueCall('delete_dead_letters', () => this.ns.deleteDeadLetters(replayed));
    }
    return { replayed, failed };
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
    clearTimeout(this.timer);
    this.closing = (async () => {
      const stop = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
      try {
        await Promise.allSettled(this.writing);
        await this.drain(stop);
      } finally {
        clearTimeout(this.timer);
        if (this.toucher !== undefined) clearInterval(this.toucher);
        this.telemetry.dispose();
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
