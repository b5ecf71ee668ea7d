/**
 * The write path: `set` and `write` (write-through), and the one way an entry is written to the
 * tiers — to the L2 with a version check where asked, then to the L1 — which loads and
 * write-behind settling use too.
 */
import { type Clock, expectFunction, raceAbort } from '@breakwater/core';
import { expectKey, expectTags } from '../arguments.js';
import type { PersistContext, WriteOptions } from '../cache.js';
import type { Entry, EntryMeta } from '../entry.js';
import { isCacheCodecError } from '../errors.js';
import {
  type ResolvedOptions,
  type ResolvedPerCall,
  resolvePerCall,
  type SetOptions,
} from '../options.js';
import { type EncodedValue, encodeRecord, encodeValue, NEGATIVE } from '../record.js';
import { approximateSize } from './approximate-size.js';
import type { Flight } from './flight.js';
import type { FlightTable } from './flight-table.js';
import { entryTimes, physicalTtlMs } from './freshness.js';
import type { Invalidation } from './invalidation.js';
import type { InvalidationBus } from './invalidation-bus.js';
import type { L1Tier } from './l1-tier.js';
import type { L2Reader } from './l2-reader.js';
import type { L2Store } from './l2-store.js';

/** The write path of one cache. */
export class WritePath {
  private readonly clock: Clock;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly ns: L2Store | undefined,
    private readonly l1: L1Tier | undefined,
    private readonly reader: L2Reader,
    private readonly flights: FlightTable,
    private readonly invalidation: Invalidation,
    private readonly bus: InvalidationBus,
    private readonly origin: string,
  ) {
    this.clock = o.clock;
  }

  /** `set`: caches `value` in every tier. */
  async set<T>(key: string, value: T, options?: SetOptions): Promise<void> {
    expectKey(key);
    const prepared = this.prepare(key, value, options);
    await this.commit(key, value, prepared);
  }

  /** `write`: persists `value` with `persist`, then caches it; invalidates the key if that fails. */
  async write<T>(
    key: string,
    value: T,
    persist: (value: T, context: PersistContext) => unknown,
    options?: WriteOptions,
  ): Promise<void> {
    expectKey(key);
    expectFunction('persist', persist);
    const signal = options?.signal;
    signal?.throwIfAborted();
    const prepared = this.prepare(key, value, options);
    try {
      await raceAbort(
        Promise.resolve().then(() => persist(value, { signal })),
        signal,
      );
    } catch (error) {
      // The database may or may not hold the new value: drop the cached one rather than guess.
      await this.invalidation.delete(key).catch(() => {});
      throw error;
    }
    await this.commit(key, value, prepared);
  }

  /** Validates and encodes what `set`/`write` will store, before anything is written. */
  private prepare(
    key: string,
    value: unknown,
    options: SetOptions | undefined,
  ): {
    settings: ResolvedPerCall;
    tags: readonly string[];
    encoded: EncodedValue | undefined;
  } {
    const settings = options === undefined ? this.o : resolvePerCall(options, this.o);
    const tags = expectTags(options?.tags);
    return { settings, tags, encoded: this.ns === undefined ? undefined : this.encode(key, value) };
  }

  private async commit(
    key: string,
    value: unknown,
    prepared: {
      settings: ResolvedPerCall;
      tags: readonly string[];
      encoded: EncodedValue | undefined;
    },
  ): Promise<void> {
    this.flights.supersede(key);
    const tagVersions = await this.reader.captureTagVersions(prepared.tags, true);
    const meta = this.writtenMeta(this.clock.now(), prepared.settings, prepared.tags, tagVersions);
    await this.storeEntry(key, value, meta, {
      expectVersion: undefined,
      leaseToken: undefined,
      storeUsable: true,
      flight: undefined,
      strict: true,
      encoded: prepared.encoded,
    });
  }

  /** The meta of a value written (not loaded) at `now`, fresh per `settings`. */
  writtenMeta(
    now: number,
    settings: ResolvedPerCall,
    tags: readonly string[],
    tagVersions: readonly number[],
  ): EntryMeta {
    return {
      createdAt: now,
      ...entryTimes(now, settings, false, this.o.jitter, this.o.random),
      loadMs: 0,
      negative: false,
      tags,
      tagVersions,
    };
  }

  /**
   * Writes an entry to the L2 (if usable) and the L1. `strict` writes (`set`, `write`) surface
   * store errors under `'fail-closed'`; a load's write never does, since its value is good.
   */
  async storeEntry(
    key: string,
    value: unknown,
    meta: EntryMeta,
    how: {
      expectVersion: number | undefined;
      leaseToken: string | undefined;
      storeUsable: boolean;
      flight: Flight | undefined;
      strict: boolean;
      encoded?: EncodedValue | undefined;
    },
  ): Promise<Entry> {
    const ns = this.ns;
    if (ns === undefined) {
      const entry: Entry = { ...meta, value, version: 0, size: approximateSize(value) };
      this.l1?.put(key, entry, how.flight);
      return entry;
    }
    const encoded = meta.negative ? NEGATIVE : (how.encoded ?? this.encode(key, value));
    const record = encodeRecord(this.o.codec.id, meta, encoded);
    let version = 0;
    if (how.storeUsable) {
      try {
        const result = await ns.set(key, {
          record,
          ttlMs: physicalTtlMs(meta, this.clock.now()),
          expectVersion: how.expectVersion,
          leaseToken: how.leaseToken,
          origin: this.origin,
        });
        if (!result.written) {
          // A `set` or `delete` won the race: hand the value to our callers, cache nothing.
          return { ...meta, value, version: result.version, size: record.length };
        }
        version = result.version;
        this.bus.noteVersion(key, version);
      } catch (error) {
        if (how.strict && this.o.onStoreError === 'fail-closed') throw error;
      }
    }
    const entry: Entry = { ...meta, value, version, size: record.length };
    this.l1?.put(key, entry, how.flight);
    return entry;
  }

  /** The encoded value; a codec error names `key`. */
  encode(key: string, value: unknown): EncodedValue {
    try {
      return encodeValue(this.o.codec, value);
    } catch (error) {
      throw isCacheCodecError(error) ? error.withKey(key) : error;
    }
  }
}
