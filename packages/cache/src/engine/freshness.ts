/**
 * Entry lifetimes: jittered TTLs and the XFetch early-refresh decision.
 */
import type { EntryMeta } from '../entry.js';
import type { ResolvedPerCall } from '../options.js';

/** The three deadlines of an entry created at `now`. */
export interface EntryTimes {
  freshUntil: number;
  staleUntil: number;
  graceUntil: number;
}

/**
 * Lifetimes of a value created at `now`: fresh for `ttlMs × (1 ± jitter)`, then stale for
 * `staleMs`, and kept for grace until `graceMs` after the fresh window ended. A negative entry
 * ("not found") is fresh for `negativeTtlMs` and then gone: serving an old "not found" when the
 * loader fails would hide the error, not soften it.
 */
export function entryTimes(
  now: number,
  settings: ResolvedPerCall,
  negative: boolean,
  jitter: number,
  random: () => number,
): EntryTimes {
  if (negative) {
    const until = now + settings.negativeTtlMs;
    return { freshUntil: until, staleUntil: until, graceUntil: until };
  }
  const ttlMs = settings.ttlMs;
  if (ttlMs === undefined) {
    const never = Number.POSITIVE_INFINITY;
    return { freshUntil: never, staleUntil: never, graceUntil: never };
  }
  const spread = jitter === 0 ? 1 : 1 + jitter * (2 * random() - 1);
  const freshUntil = now + Math.max(1, Math.round(ttlMs * spread));
  const staleUntil = freshUntil + settings.staleMs;
  return {
    freshUntil,
    staleUntil,
    graceUntil: Math.max(staleUntil, freshUntil + settings.graceMs),
  };
}

/** The physical lifetime a store should give an entry written at `now`, in whole ms (≥ 1). */
export function physicalTtlMs(entry: EntryMeta, now: number): number | undefined {
  if (entry.graceUntil === Number.POSITIVE_INFINITY) return undefined;
  return Math.max(1, Math.ceil(entry.graceUntil - now));
}

/**
 * XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
 * VLDB 2015): refresh a fresh entry early when `now − loadMs · beta · ln(U) ≥ freshUntil`, with U
 * uniform in (0, 1]. The chance rises as expiry nears and with the cost of a load, so expensive
 * hot keys are refreshed by one caller before they expire, and cheap or cold ones almost never.
 */
export function shouldRefreshEarly(
  entry: EntryMeta,
  now: number,
  beta: number,
  random: () => number,
): boolean {
  if (beta === 0 || entry.loadMs <= 0 || entry.freshUntil === Number.POSITIVE_INFINITY) {
    return false;
  }
  const gap = entry.freshUntil - now;
  // -ln(U) rarely exceeds ~20, so entries far from expiry skip the logarithm.
  if (gap > entry.loadMs * beta * 40) return false;
  const u = 1 - random(); // in (0, 1]: ln(0) would be -Infinity
  return -entry.loadMs * beta * Math.log(u) >= gap;
}
