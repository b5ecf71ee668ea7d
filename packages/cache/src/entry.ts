/**
 * What the cache knows about one cached value, in both tiers. Times are epoch milliseconds from
 * the cache's clock; `Infinity` means "never".
 *
 * Lifecycle of an entry: fresh until `freshUntil`; then stale (served while a refresh runs in the
 * background) until `staleUntil`; then kept only as a fallback for loader failures (grace) until
 * `graceUntil`, when it is gone from every tier.
 */
export interface EntryMeta {
  /** When the value was loaded or set. */
  readonly createdAt: number;
  /** End of the fresh window (`createdAt` + jittered `ttlMs`). */
  readonly freshUntil: number;
  /** End of the stale-while-revalidate window (`freshUntil` + `staleMs`). */
  readonly staleUntil: number;
  /** End of the entry's life (`max(staleUntil, freshUntil + graceMs)`). */
  readonly graceUntil: number;
  /** How long the loader took, in ms: XFetch refreshes slow-to-load keys earlier. */
  readonly loadMs: number;
  /** A cached "not found" (the loader returned `undefined`). */
  readonly negative: boolean;
  /** The entry's tags. */
  readonly tags: readonly string[];
  /** The version of each tag when the value was loaded; an entry is void once a tag moved past it. */
  readonly tagVersions: readonly number[];
}

/** A decoded entry, as the L1 holds it and the policy works with it. */
export interface Entry extends EntryMeta {
  /** The value (`undefined` for negative entries). */
  readonly value: unknown;
  /** The per-key version the store assigned on write (0 for entries only in L1). */
  readonly version: number;
  /** Approximate size in bytes, for the L1 byte bound. */
  readonly size: number;
}

/** Where an entry stands at a given time. */
export type EntryState = 'fresh' | 'stale' | 'grace' | 'expired';

/** The state of `entry` at `now`. */
export function entryState(entry: EntryMeta, now: number): EntryState {
  if (now < entry.freshUntil) return 'fresh';
  if (now < entry.staleUntil) return 'stale';
  if (now < entry.graceUntil) return 'grace';
  return 'expired';
}

const NO_TAGS: readonly string[] = Object.freeze([]);
const NO_VERSIONS: readonly number[] = Object.freeze([]);

/** Shared empty tag lists, so untagged entries allocate none. */
export const EMPTY_TAGS = { tags: NO_TAGS, versions: NO_VERSIONS } as const;
