/**
 * Reading the L2: one store read, one decode, and the tag check — answered from this process's
 * tag table when it knows the versions recently enough, so that an L2 hit stays one round trip.
 */
import type { Clock, StoreError } from '@breakwater/core';
import type { CacheCodec } from '../codec.js';
import { EMPTY_TAGS, type Entry } from '../entry.js';
import { decodeRecord } from '../record.js';
import type { StoredRecord } from '../store.js';
import type { CacheTelemetry } from '../telemetry.js';
import { type L2Read, MISSING } from './flight.js';
import type { L2Store } from './l2-store.js';
import type { TagTable } from './tag-table.js';

/** Reads and validates L2 records for one cache. */
export class L2Reader {
  constructor(
    private readonly ns: L2Store | undefined,
    private readonly codec: CacheCodec,
    private readonly tags: TagTable,
    private readonly telemetry: CacheTelemetry,
    private readonly clock: Clock,
  ) {}

  /** Reads `key` from the L2 (which must exist). Never rejects: failures come back as `ok: false`. */
  read(key: string): Promise<L2Read> {
    // Plain callbacks rather than an async function: a flight that did not read first reads here.
    return this.ns!.get(key).then(
      (stored) => this.readOf(stored),
      (error: unknown) => failedRead(error),
    );
  }

  /** The read of what the store answered (asynchronous only for an entry with tags to check). */
  readOf(stored: StoredRecord | undefined): L2Read | Promise<L2Read> {
    if (stored === undefined) return MISSING;
    const entry = this.usable(stored);
    if (entry instanceof Promise) {
      return entry.then(
        (checked): L2Read => ({ ok: true, version: stored.version, entry: checked }),
      );
    }
    return { ok: true, version: stored.version, entry };
  }

  /** The entry of a stored record, unless it is unreadable or voided by a tag. */
  usable(stored: StoredRecord): Entry | undefined | Promise<Entry | undefined> {
    const decoded = decodeRecord(this.codec, stored.record, stored.version);
    if (!decoded.ok) {
      this.telemetry.unreadableEntry(decoded.problem);
      return undefined;
    }
    const entry = decoded.entry;
    return entry.tags.length === 0 ? entry : this.checkTags(entry);
  }

  /**
   * The current versions of `tags`: from the tag table when it knows them recently enough, from
   * the store otherwise (one call for all unknown tags). If the store fails, or there is none,
   * the table's last known versions are used.
   */
  async captureTagVersions(
    tags: readonly string[],
    storeUsable: boolean,
  ): Promise<readonly number[]> {
    if (tags.length === 0) return EMPTY_TAGS.versions;
    const now = this.clock.now();
    const versions = new Array<number>(tags.length);
    const missing: number[] = [];
    for (let i = 0; i < tags.length; i++) {
      const known = this.tags.trusted(tags[i]!, now);
      if (known === undefined) missing.push(i);
      else versions[i] = known;
    }
    if (missing.length === 0) return versions;
    if (this.ns !== undefined && storeUsable) {
      try {
        const fetched = await this.ns.getTagVersions(missing.map((i) => tags[i]!));
        for (let j = 0; j < missing.length; j++) {
          this.tags.raise(tags[missing[j]!]!, fetched[j] ?? 0, now);
        }
      } catch {
        // Fall back to the last known versions below.
      }
    }
    for (const i of missing) versions[i] = this.tags.latest(tags[i]!);
    return versions;
  }

  private async checkTags(entry: Entry): Promise<Entry | undefined> {
    const versions = await this.captureTagVersions(entry.tags, true);
    for (let i = 0; i < versions.length; i++) {
      if ((versions[i] ?? 0) > (entry.tagVersions[i] ?? 0)) return undefined;
    }
    return entry;
  }
}

/** The read of a store call that failed (the L2 store only fails with a `StoreError`). */
export function failedRead(error: unknown): L2Read {
  return { ok: false, error: error as StoreError };
}
