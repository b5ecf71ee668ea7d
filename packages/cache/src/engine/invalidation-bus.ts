/**
 * This process's side of the store's invalidation bus, which keeps every replica's L1 coherent: a
 * write or delete elsewhere drops the older entry here (and wakes callers waiting for the key), a
 * tag bump raises the tag's version, a reset empties the L1. Versions announced lately are
 * remembered, so that an older read that lands after them stays out of the L1.
 */
import type { Clock } from '@breakwater/core';
import type { InvalidationMessage } from '../store.js';
import type { CacheTelemetry } from '../telemetry.js';
import type { KeyWaiters } from './key-waiters.js';
import type { L1Tier } from './l1-tier.js';
import type { RecentVersions } from './recent-versions.js';
import type { TagTable } from './tag-table.js';

/** The bus handling of one cache. */
export class InvalidationBus {
  constructor(
    private readonly l1: L1Tier | undefined,
    private readonly tags: TagTable,
    private readonly recentVersions: RecentVersions,
    private readonly waiters: KeyWaiters,
    private readonly telemetry: CacheTelemetry,
    private readonly clock: Clock,
    private readonly origin: string,
    /** Whether the store has a bus (without one, nothing announces versions). */
    private readonly hasBus: boolean,
  ) {}

  /**
   * Notes that `key` reached `version` (a write of this process): a read that was already on its
   * way must not put an older value into the L1. Only a store with a bus announces versions.
   */
  noteVersion(key: string, version: number): void {
    if (!this.hasBus) return;
    this.recentVersions.note(key, version);
  }

  /** Applies a message of the bus: a reset, tag versions, or key versions written elsewhere. */
  onMessage(message: InvalidationMessage): void {
    if (message.kind === 'reset') {
      this.l1?.clear();
      this.tags.clear();
      this.recentVersions.clear();
      this.telemetry.invalidation('all', 'bus');
      return;
    }
    if (message.origin === this.origin) return;
    if (message.kind === 'tags') {
      const now = this.clock.now();
      for (let i = 0; i < message.tags.length; i++) {
        this.tags.raise(message.tags[i]!, message.versions[i] ?? 0, now);
      }
      this.telemetry.invalidation('tag', 'bus', message.tags.length);
      return;
    }
    for (let i = 0; i < message.keys.length; i++) {
      const key = message.keys[i]!;
      const version = message.versions[i] ?? 0;
      this.noteVersion(key, version);
      const slot = this.l1?.peek(key);
      if (slot !== undefined && slot.entry.version < version) {
        this.l1!.delete(key);
        this.telemetry.invalidation('key', 'bus');
      }
      this.waiters.wake(key);
    }
  }
}
