/**
 * Invalidations this process starts: of a key (`delete`) and of tags (`invalidateTags`, which
 * bumps tag versions — one store operation per tag, never a scan). The store's bus carries them
 * to the other replicas ({@link InvalidationBus} handles theirs).
 */
import type { Clock } from '@breakwater/core';
import { expectKey, expectTags } from '../arguments.js';
import type { ResolvedOptions } from '../options.js';
import type { CacheTelemetry } from '../telemetry.js';
import type { FlightTable } from './flight-table.js';
import type { InvalidationBus } from './invalidation-bus.js';
import type { L1Tier } from './l1-tier.js';
import type { L2Store } from './l2-store.js';
import type { TagTable } from './tag-table.js';

/** The local invalidations of one cache. */
export class Invalidation {
  private readonly clock: Clock;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly ns: L2Store | undefined,
    private readonly l1: L1Tier | undefined,
    private readonly tags: TagTable,
    private readonly flights: FlightTable,
    private readonly bus: InvalidationBus,
    private readonly telemetry: CacheTelemetry,
    private readonly origin: string,
  ) {
    this.clock = o.clock;
  }

  /** `delete`: removes `key` from every tier, and (through the bus) from every replica's L1. */
  async delete(key: string): Promise<void> {
    expectKey(key);
    this.l1?.delete(key);
    this.flights.supersede(key);
    this.telemetry.invalidation('key', 'local');
    if (this.ns === undefined) return;
    try {
      const version = await this.ns.delete(key, this.origin);
      this.bus.noteVersion(key, version);
    } catch (error) {
      if (this.o.onStoreError === 'fail-closed') throw error;
    }
  }

  /** `invalidateTags`: one tag version bump per tag, in the store and in this process. */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    const list = expectTags(tags);
    if (list.length === 0) return;
    this.telemetry.invalidation('tag', 'local', list.length);
    this.flights.supersedeTagged(list);
    const now = this.clock.now();
    if (this.ns === undefined) {
      for (const tag of list) this.tags.raise(tag, this.tags.latest(tag) + 1, now);
      return;
    }
    try {
      const versions = await this.ns.bumpTags(list, this.origin);
      for (let i = 0; i < list.length; i++) this.tags.raise(list[i]!, versions[i] ?? 0, now);
    } catch (error) {
      // The store did not record it, so other replicas keep the entries; at least this process
      // stops serving them.
      this.l1?.dropTagged(list);
      if (this.o.onStoreError === 'fail-closed') throw error;
    }
  }
}
