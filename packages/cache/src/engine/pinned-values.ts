/**
 * The write-behind values the L1 holds pinned: written, not persisted yet, so they must neither
 * expire nor be evicted (a read would otherwise load the older row from the database). They are
 * kept here, outside the L1's eviction ring, so that an eviction pass never visits them however
 * many there are; the ring counts them in its bounds (as reserved room), so they still take the
 * room they took in the ring. Only write-behind pinning adds values; a settled value moves back
 * to the ring, an unpinned (dead-lettered, never queued) one is dropped.
 */
import type { ReservedRoom } from '../clock-cache.js';
import type { L1Slot } from './l1-tier.js';

/** The pinned values of one cache's L1, by key. */
export class PinnedValues implements ReservedRoom {
  private readonly slots = new Map<string, L1Slot>();
  private totalBytes = 0;

  /** Number of pinned values. */
  get count(): number {
    return this.slots.size;
  }

  /** Sum of their sizes. */
  get bytes(): number {
    return this.totalBytes;
  }

  get(key: string): L1Slot | undefined {
    return this.slots.get(key);
  }

  /** Pins `slot` under `key`, replacing what was pinned there. */
  set(key: string, slot: L1Slot): void {
    this.delete(key);
    this.slots.set(key, slot);
    this.totalBytes += slot.entry.size;
  }

  /** Unpins `key`; returns whether it was pinned. */
  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.totalBytes -= slot.entry.size;
    return true;
  }

  clear(): void {
    this.slots.clear();
    this.totalBytes = 0;
  }
}
