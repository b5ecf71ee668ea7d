/**
 * The flusher of one write-behind: claims queued writes, groups them per key (the newest version
 * wins, older ones ride along), persists the groups in batches — bisecting a failing batch down to
 * its bad entries — retries with backoff, moves what keeps failing to the dead letters, and settles
 * or unpins the values the cache holds pinned for them. Every queue operation is a run of one of
 * the write-behind's store operations (`QueueCalls`): bounded by the store deadline, answered at
 * once while the queue is degraded.
 */
import type { CacheHooks } from '../cache-hooks.js';
import { describeError } from './errors.js';
import type { PersistEntry, ResolvedWriteBehindOptions } from './options.js';
import { decodePayload } from './payload.js';
import type { Persister } from './persister.js';
import type { FailOutcome, QueuedWrite } from './queue.js';
import type { QueueCalls } from './queue-calls.js';
import type { BacklogReading, WriteBehindTelemetry } from './telemetry.js';

/** This replica's counters, shared by the writer and the flusher. */
export interface WriteBehindCounters {
  accepted: number;
  persisted: number;
  superseded: number;
  deadLettered: number;
  failedAttempts: number;
  lastLagMs: number | undefined;
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

function ignore(): void {}

/** Persists what one write-behind queued. */
export class Flusher<T> {
  /** The last backlog read, for the gauges and the stats. */
  lastBacklog: BacklogReading | undefined;
  private lastBacklogReadAt = Number.NEGATIVE_INFINITY;
  /** Groups that failed and wait for their retry, by winner id. */
  private readonly waiting = new Map<string, Waiting>();
  /** Ids of the entries of the batch being persisted. */
  private inHand: readonly string[] = [];
  private cycling: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private toucher: NodeJS.Timeout | undefined;
  /** Set by `close()`: no more cycles are scheduled. */
  private halted = false;

  constructor(
    private readonly o: ResolvedWriteBehindOptions<T>,
    private readonly queue: QueueCalls,
    private readonly persister: Persister<T>,
    private readonly hooks: CacheHooks | undefined,
    private readonly telemetry: WriteBehindTelemetry,
    private readonly counters: WriteBehindCounters,
  ) {}

  /** Starts the periodic cycles, and keeps the claims of the entries in hand alive. */
  start(): void {
    this.schedule(this.o.flushIntervalMs);
    // Keep the claims of entries in hand alive, so no other replica takes them over while a
    // persist runs long or a retry waits.
    this.toucher = setInterval(() => this.touch(), Math.max(1, this.o.claimIdleMs / 3));
    this.toucher.unref();
  }

  /** Schedules no more cycles (the one running, and a drain, go on). */
  halt(): void {
    this.halted = true;
    clearTimeout(this.timer);
  }

  /** Stops the timers for good. */
  stop(): void {
    clearTimeout(this.timer);
    if (this.toucher !== undefined) clearInterval(this.toucher);
  }

  private schedule(delayMs: number): void {
    if (this.halted || !this.o.flusher) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let handled = 0;
    try {
      handled = await this.runCycle();
    } catch {
      // A queue failure (counted by the store call path) or a persist failure: the next tick
      // tries again.
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
        const claimed = await this.queue.claim.run(page);
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
      const backlog = await this.queue.backlog.run(undefined);
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
        value = decodePayload(this.o.codec, winner.payload);
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
    return this.persister.run(entries, attempt);
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
      await this.queue.complete.run(ids);
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
    let outcome: FailOutcome;
    try {
      outcome = await this.queue.fail.run({
        entry: group.winner,
        error: describeError(error),
        maxAttempts,
      });
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
      await this.queue.complete.run(group.older.map((entry) => entry.id));
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
    // A failed touch is counted by the store call path; the claims stay as long as they last.
    Promise.resolve(this.queue.touch.run(ids)).catch(ignore);
  }

  /**
   * Persists what this replica can claim now, waiting out retry delays, until nothing is left to
   * claim or retry; stops between cycles once `stop` aborts. Rejects with the `StoreError` of the
   * first queue operation that fails (each is bounded by the store deadline, and answered at
   * once while the queue is degraded), so a drain never waits on a failing queue for longer.
   */
  async drain(stop: AbortSignal | undefined): Promise<void> {
    // What was queued when the flush began bounds it: other replicas may keep writing faster
    // than this one persists, and a flush (or a close) must still end.
    let left = await this.queue.pending.run(undefined);
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
}
