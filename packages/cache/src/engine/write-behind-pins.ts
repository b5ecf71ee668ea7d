/**
 * What write-behind does to this cache, through its hooks ({@link CacheHooks}): a written value is
 * pinned — cached fresh, unexpiring and unevictable until persisted — then settled to the normal
 * freshness once persisted, or unpinned (taken out of every tier) when it was never queued or was
 * dead-lettered. A newer write of the key always wins over an older pin, settle or unpin.
 */
import type { Clock } from '@breakwater/core';
import type { CacheHooks } from '../cache-hooks.js';
import { EMPTY_TAGS, type EntryMeta } from '../entry.js';
import type { ResolvedOptions } from '../options.js';
import { encodeRecord, NEGATIVE } from '../record.js';
import { approximateSize } from './approximate-size.js';
import type { FlightTable } from './flight-table.js';
import type { InvalidationBus } from './invalidation-bus.js';
import type { L1Tier } from './l1-tier.js';
import type { L2Store } from './l2-store.js';
import type { WritePath } from './write-path.js';

/** The meta of an untagged entry written at `now` whose every window ends at `until`. */
const untilMeta = (now: number, until: number, negative: boolean): EntryMeta => ({
  createdAt: now,
  freshUntil: until,
  staleUntil: until,
  graceUntil: until,
  loadMs: 0,
  negative,
  tags: EMPTY_TAGS.tags,
  tagVersions: EMPTY_TAGS.versions,
});

/** The write-behind hooks of one cache. */
export class WriteBehindPins {
  private readonly clock: Clock;
  private writeBehindHooks: CacheHooks | undefined;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly ns: L2Store | undefined,
    private readonly l1: L1Tier | undefined,
    private readonly flights: FlightTable,
    private readonly writes: WritePath,
    private readonly bus: InvalidationBus,
    private readonly origin: string,
  ) {
    this.clock = o.clock;
  }

  /** What write-behind needs from this cache (see {@link CacheHooks}). */
  get hooks(): CacheHooks {
    this.writeBehindHooks ??= {
      codec: this.o.codec,
      storeKind: this.o.store?.kind,
      pin: (key, value, pinTtlMs) => this.pin(key, value, pinTtlMs),
      settle: (key, value, version) => this.settle(key, value, version),
      unpin: (key, version) => this.unpin(key, version),
    };
    return this.writeBehindHooks;
  }

  /** Caches a pending write-behind value: fresh, unevictable and unexpiring until settled. */
  private async pin(key: string, value: unknown, pinTtlMs: number): Promise<number> {
    this.flights.supersede(key);
    const now = this.clock.now();
    const meta = untilMeta(now, Number.POSITIVE_INFINITY, false);
    let version: number;
    let size: number;
    const ns = this.ns;
    if (ns === undefined) {
      // No store to number the writes: number them here, like the stores do.
      const previous = (this.l1?.peek(key)?.entry.version ?? 0) + 1;
      version = Math.max(previous, now * 1000);
      size = approximateSize(value);
    } else {
      const record = encodeRecord(this.o.codec.id, meta, this.writes.encode(key, value));
      // Whatever `onStoreError` says, this throws: queueing a write while the L2 keeps serving
      // an older value would break read-your-writes.
      const result = await ns.set(key, {
        record,
        ttlMs: Math.max(1, Math.ceil(pinTtlMs)),
        origin: this.origin,
      });
      version = result.version;
      size = record.length;
      this.bus.noteVersion(key, version);
    }
    // Answers of concurrent writes can arrive out of order: never replace a newer version.
    const held = this.l1?.peek(key)?.entry.version ?? 0;
    if (version > held) {
      this.l1?.pin(key, { ...meta, value, version, size }, now);
    }
    return version;
  }

  /** A pinned value was persisted: give it the normal freshness, unless a newer write came. */
  private async settle(key: string, value: unknown, version: number): Promise<void> {
    const now = this.clock.now();
    const meta = this.writes.writtenMeta(now, this.o, EMPTY_TAGS.tags, EMPTY_TAGS.versions);
    if (this.ns === undefined) {
      const slot = this.l1?.peek(key);
      if (slot?.entry.version !== version) return;
      this.l1!.store(key, { ...meta, value, version, size: slot.entry.size }, now);
      return;
    }
    await this.writes.storeEntry(key, value, meta, {
      expectVersion: version,
      leaseToken: undefined,
      storeUsable: true,
      flight: undefined,
      strict: false,
    });
  }

  /** A pinned value was never queued, or was dead-lettered: drop it unless a newer write came. */
  private async unpin(key: string, version: number): Promise<void> {
    const slot = this.l1?.peek(key);
    if (slot?.entry.version === version) this.l1!.delete(key);
    const ns = this.ns;
    if (ns === undefined) return;
    // A conditional delete: overwrite with an already expired "not found" only if still ours.
    const now = this.clock.now();
    const gone = untilMeta(now, now, true);
    await ns.set(key, {
      record: encodeRecord(this.o.codec.id, gone, NEGATIVE),
      ttlMs: 1,
      expectVersion: version,
      origin: this.origin,
    });
  }
}
