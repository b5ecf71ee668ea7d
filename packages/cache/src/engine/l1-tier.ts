/**
 * The L1: this process's copies of entries, each trusted without asking the L2 until its
 * `checkUntil`. Evictable entries live in a CLOCK ring bounded by `l1.maxEntries` and
 * `l1.maxBytes`; pinned write-behind values live beside it ({@link PinnedValues}), found by every
 * lookup and counted in the bounds, but never visited by eviction.
 */
import type { Clock } from '@breakwater/core';
import { ClockCache } from '../clock-cache.js';
import type { Entry } from '../entry.js';
import type { Flight } from './flight.js';
import { PinnedValues } from './pinned-values.js';
import type { RecentVersions } from './recent-versions.js';

/** An L1 entry and until when it may be served without asking the L2. */
export interface L1Slot {
  readonly entry: Entry;
  readonly checkUntil: number;
}

/** The L1 of one cache. */
export class L1Tier {
  /** Pinned write-behind values, outside the ring. */
  private readonly pinned = new PinnedValues();
  /** Evictable entries. */
  private readonly ring: ClockCache<L1Slot>;

  /**
   * @param trustMs How long an entry is served without asking the L2 (`Infinity` without one).
   * @param recentVersions Versions the bus announced: an older entry read or loaded meanwhile
   *   stays out.
   */
  constructor(
    maxEntries: number,
    maxBytes: number,
    private readonly trustMs: number,
    private readonly clock: Clock,
    private readonly recentVersions: RecentVersions,
  ) {
    this.ring = new ClockCache<L1Slot>(maxEntries, maxBytes, undefined, this.pinned);
  }

  /** Number of entries, pinned ones included. */
  get size(): number {
    return this.ring.size + this.pinned.count;
  }

  /** The slot of `key`, marking it as recently used. */
  get(key: string): L1Slot | undefined {
    const slot = this.ring.get(key);
    return slot !== undefined || this.pinned.count === 0 ? slot : this.pinned.get(key);
  }

  /** The slot of `key`, without touching its recency. */
  peek(key: string): L1Slot | undefined {
    const slot = this.ring.peek(key);
    return slot !== undefined || this.pinned.count === 0 ? slot : this.pinned.get(key);
  }

  /**
   * Caches an entry just read, loaded or written — unless its flight was superseded meanwhile
   * (by a `set`, `delete` or `invalidateTags`) or the bus announced a newer version of the key.
   */
  put(key: string, entry: Entry, flight: Flight | undefined): void {
    if (flight?.superseded) return;
    if (this.recentVersions.isOutdated(key, entry.version)) return;
    this.store(key, entry, this.clock.now());
  }

  /** Caches `entry` as an evictable entry, trusted from `now` (a pinned value of `key` is replaced). */
  store(key: string, entry: Entry, now: number): void {
    if (this.pinned.count !== 0) this.pinned.delete(key);
    this.ring.set(key, { entry, checkUntil: now + this.trustMs }, entry.size);
  }

  /**
   * Caches `entry` pinned, trusted from `now`: out of the ring (whatever the bounds, it stays), but
   * counted in the bounds, so the ring evicts to make room for it.
   */
  pin(key: string, entry: Entry, now: number): void {
    this.ring.delete(key);
    this.pinned.set(key, { entry, checkUntil: now + this.trustMs });
    this.ring.trim();
  }

  /** Removes `key`, pinned or not. */
  delete(key: string): void {
    if (!this.ring.delete(key)) this.pinned.delete(key);
  }

  /** Removes every entry carrying one of `tags`. */
  dropTagged(tags: readonly string[]): void {
    // Pinned values carry no tags: only the ring can hold tagged entries.
    const doomed: string[] = [];
    for (const [key, { value }] of this.ring.entries()) {
      if (value.entry.tags.some((tag) => tags.includes(tag))) doomed.push(key);
    }
    for (const key of doomed) this.ring.delete(key);
  }

  /** Removes every entry, pinned ones included. */
  clear(): void {
    this.ring.clear();
    this.pinned.clear();
  }

  /** Entries the ring's eviction has visited so far (pinned values are never among them). */
  get evictionVisits(): number {
    return this.ring.visited;
  }
}
