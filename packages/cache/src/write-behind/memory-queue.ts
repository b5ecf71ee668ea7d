/**
 * The in-process write-behind queue. It implements the whole queue contract (claims, idle
 * re-claims, attempts, dead letters, the pending bound), so several write-behinds of one name in
 * one process behave like replicas sharing a Redis queue. It is **lost when the process exits**:
 * use it for a single process that can afford to lose the writes not yet persisted, and in tests.
 */
import { type Clock, expectObject, systemClock, warnUnknownOptions } from '@breakwater/core';
import { MEMORY_WRITE_BEHIND_QUEUE_OPTIONS } from '../known-options.js';
import { WriteBehindBacklogError } from './errors.js';
import type {
  AppendItem,
  AppendOptions,
  AppendOutcome,
  Backlog,
  DeadLetter,
  FailOutcome,
  QueuedWrite,
  WriteBehindQueue,
  WriteQueueScope,
} from './queue.js';

/** Options of {@link memoryWriteBehindQueue}. */
export interface MemoryWriteBehindQueueOptions {
  /**
   * The clock of idle times and timestamps. Give the write-behind's fake clock in tests.
   * @default systemClock
   */
  clock?: Clock | undefined;
}

/**
 * An in-process queue for {@link writeBehind}. Entries are lost if the process dies.
 *
 * @example
 * const wb = writeBehind({ name: 'profiles', queue: memoryWriteBehindQueue(), persist });
 */
export function memoryWriteBehindQueue(
  options: MemoryWriteBehindQueueOptions = {},
): WriteBehindQueue {
  expectObject('options', options);
  warnUnknownOptions('memoryWriteBehindQueue()', options, {
    known: MEMORY_WRITE_BEHIND_QUEUE_OPTIONS,
  });
  const clock = options.clock ?? systemClock;
  const scopes = new Map<string, MemoryWriteQueue>();
  // Owns nothing: there is nothing to release, and scopes keep working.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'memory',
    scope(name) {
      let scope = scopes.get(name);
      if (scope === undefined) {
        scope = new MemoryWriteQueue(name, clock);
        scopes.set(name, scope);
      }
      return scope;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

interface Slot {
  entry: QueuedWrite;
  holder: string;
  deliveredAt: number;
}

class MemoryWriteQueue implements WriteQueueScope {
  private sequence = 0;
  /** Entries never delivered, in append order. */
  private readonly fresh = new Map<string, QueuedWrite>();
  /** Entries delivered to a consumer, in delivery order. */
  private readonly held = new Map<string, Slot>();
  /** The last version of each key with an entry in the queue. */
  private readonly versions = new Map<string, number>();
  private readonly dead = new Map<string, DeadLetter>();

  constructor(
    private readonly name: string,
    private readonly clock: Clock,
  ) {}

  async append(key: string, payload: string, options: AppendOptions): Promise<number> {
    const outcome = this.appendOne(key, payload, options.version, options.maxPending);
    if (typeof outcome !== 'number') throw outcome;
    return outcome;
  }

  async appendMany(items: readonly AppendItem[], maxPending: number): Promise<AppendOutcome[]> {
    return items.map((item) => this.appendOne(item.key, item.payload, item.version, maxPending));
  }

  private appendOne(
    key: string,
    payload: string,
    given: number | undefined,
    maxPending: number,
  ): AppendOutcome {
    if (this.fresh.size + this.held.size >= maxPending) {
      return new WriteBehindBacklogError({ policyName: this.name, maxPending });
    }
    const now = this.clock.now();
    const last = this.versions.get(key) ?? 0;
    const version = given ?? Math.max(last + 1, now * 1000);
    if (version > last) this.versions.set(key, version);
    const id = String(++this.sequence);
    this.fresh.set(id, { id, key, payload, version, attempts: 0, enqueuedAt: now });
    return version;
  }

  async claim(consumer: string, max: number, claimIdleMs: number): Promise<QueuedWrite[]> {
    const now = this.clock.now();
    const claimed: QueuedWrite[] = [];
    for (const [id, slot] of this.held) {
      if (claimed.length >= max) break;
      if (now - slot.deliveredAt < claimIdleMs) continue;
      // Re-inserting moves it to the end of the delivery order.
      this.held.delete(id);
      this.held.set(id, { entry: slot.entry, holder: consumer, deliveredAt: now });
      claimed.push(slot.entry);
    }
    for (const [id, entry] of this.fresh) {
      if (claimed.length >= max) break;
      this.fresh.delete(id);
      this.held.set(id, { entry, holder: consumer, deliveredAt: now });
      claimed.push(entry);
    }
    return claimed;
  }

  async touch(consumer: string, ids: readonly string[]): Promise<void> {
    const now = this.clock.now();
    for (const id of ids) {
      const slot = this.held.get(id);
      if (slot !== undefined && slot.holder === consumer) slot.deliveredAt = now;
    }
  }

  async complete(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.remove(id);
  }

  async fail(entry: QueuedWrite, error: string, maxAttempts: number): Promise<FailOutcome> {
    const slot = this.held.get(entry.id);
    const current = slot?.entry ?? this.fresh.get(entry.id);
    if (current === undefined) return { status: 'gone' };
    const attempts = current.attempts + 1;
    if (attempts < maxAttempts) {
      const updated = { ...current, attempts };
      if (slot !== undefined) slot.entry = updated;
      else this.fresh.set(entry.id, updated);
      return { status: 'retry', attempts };
    }
    this.remove(entry.id);
    this.dead.set(entry.id, {
      id: entry.id,
      key: current.key,
      payload: current.payload,
      version: current.version,
      attempts,
      error,
      failedAt: this.clock.now(),
    });
    return { status: 'dead', attempts };
  }

  async pending(): Promise<number> {
    return this.fresh.size + this.held.size;
  }

  async backlog(): Promise<Backlog> {
    let oldest = this.fresh.values().next().value?.enqueuedAt;
    for (const slot of this.held.values()) {
      if (oldest === undefined || slot.entry.enqueuedAt < oldest) oldest = slot.entry.enqueuedAt;
    }
    return { pending: this.fresh.size + this.held.size, oldestEnqueuedAt: oldest };
  }

  async listDeadLetters(limit: number, after?: string): Promise<DeadLetter[]> {
    const list: DeadLetter[] = [];
    let started = after === undefined;
    for (const [id, letter] of this.dead) {
      if (list.length >= limit) break;
      if (started) list.push(letter);
      else if (id === after) started = true;
    }
    return list;
  }

  async deleteDeadLetters(ids: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const id of ids) if (this.dead.delete(id)) deleted++;
    return deleted;
  }

  private remove(id: string): void {
    const entry = this.held.get(id)?.entry ?? this.fresh.get(id);
    if (entry === undefined) return;
    this.held.delete(id);
    this.fresh.delete(id);
    // Forget the key's version once its newest entry is gone and the clock (in µs) has passed
    // it: later versions start from the clock again, so they keep growing.
    if (this.versions.get(entry.key) === entry.version && entry.version < this.clock.now() * 1000)
      this.versions.delete(entry.key);
  }
}
