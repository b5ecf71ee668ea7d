/**
 * What the `RateLimit-Policy` and `RateLimit` fields say about one limit, per algorithm. The
 * package's docs/http-headers.md has the table and the reasoning; in short:
 *
 * - A policy (`q` per `w`) is the limit's sustained rate over a whole number of seconds: the draft
 *   has no sub-second windows, so a short interval is scaled up (10 per 100 ms is 100 per second).
 * - A service limit (`r` in `t`) is a pace a client can follow with nothing but the headers: `r`
 *   units spread evenly over the next `t` seconds are all admitted, if no one else spends from the
 *   key (for a sliding window: and the key was not used faster than its sustained rate during the
 *   last interval, since a decision does not carry what the previous window spent). Seconds are
 *   too coarse to say "one more in 10 ms", which is what a rate limiter with a small burst means,
 *   so `r` counts what the next `t` seconds admit rather than what fits at once; `t` is long
 *   enough that rounding `r` down costs at most one unit in {@link PACE_UNITS}.
 * - With nothing to spend (`r = 0`) and on refusals, `t` is the wait, rounded up.
 */
import { floorWithSlack, TIME_EPSILON_MS } from '../algorithms/algorithm.js';
import { isBucketAlgorithm } from '../algorithms/limit.js';
import type { RateLimitDecision } from '../decision.js';
import type { LimitDefinition } from '../rate-limiter.js';

/**
 * The fewest units of the sustained rate a pace window holds: rounding `r` down to a whole number
 * then costs at most one unit in 20.
 */
export const PACE_UNITS = 20;

/** How many whole-second windows past the shortest one are tried for an exact `q` per `w`. */
const WINDOW_SEARCH = 60;

/** A quota policy: `q` units per `w` seconds. */
export interface QuotaPolicy {
  /** Units per window, whole. */
  readonly q: number;
  /** The window, whole seconds ≥ 1. */
  readonly w: number;
}

/** A service limit: at most `r` units within the next `t` seconds. */
export interface ServiceLimit {
  /** Units, whole. */
  readonly r: number;
  /** Seconds, whole. */
  readonly t: number;
}

/**
 * The cost a limit admits per second, indefinitely: `limit` per interval for the bucket
 * algorithms (their burst is spent once, then refills at that rate), `limit + burst` per interval
 * for the windows (every window admits that much again).
 */
export function sustainedPerSecond(limit: LimitDefinition): number {
  const perInterval = isBucketAlgorithm(limit.algorithm) ? limit.limit : limit.limit + limit.burst;
  return (perInterval * 1000) / limit.intervalMs;
}

/**
 * The limit's sustained rate as `q` per `w` seconds, `w` no shorter than the interval: the
 * shortest window over which the rate makes a whole number of units, if one of the first
 * {@link WINDOW_SEARCH} does (10 per 1.5 s is 20 per 3 s); otherwise the shortest whose `q`,
 * rounded down, loses under 1 % of the rate; otherwise the one that loses least. `q` never
 * overstates the rate.
 */
export function quotaPolicy(limit: LimitDefinition): QuotaPolicy {
  const perSecond = sustainedPerSecond(limit);
  // A whole unit needs at least this long, whatever the interval.
  const first = Math.max(1, Math.ceil(limit.intervalMs / 1000 - 1e-9), Math.ceil(1 / perSecond));
  let closeEnough: QuotaPolicy | undefined;
  let best: QuotaPolicy = { q: 0, w: first };
  let bestShare = 0;
  for (let w = first; w < first + WINDOW_SEARCH; w++) {
    const exact = perSecond * w;
    const q = floorWithSlack(exact);
    if (Math.abs(exact - q) <= 1e-9 * exact) return { q, w };
    const share = q / exact;
    if (closeEnough === undefined && share >= 0.99) closeEnough = { q, w };
    if (share > bestShare) {
      best = { q, w };
      bestShare = share;
    }
  }
  return closeEnough ?? best;
}

/**
 * The pace window: the shortest whole number of seconds (≥ 1) in which the sustained rate makes
 * at least {@link PACE_UNITS} units.
 */
export function paceSeconds(limit: LimitDefinition): number {
  return Math.max(1, Math.ceil(PACE_UNITS / sustainedPerSecond(limit) - 1e-9));
}

/**
 * What the decision leaves the client under `limit` (the decision's binding limit): `r` units it
 * may spread evenly over the next `t` seconds and have admitted, or, with `r = 0` and on refusals,
 * the seconds to wait.
 */
export function serviceLimit(decision: RateLimitDecision, limit: LimitDefinition): ServiceLimit {
  if (!decision.allowed) {
    return { r: decision.remaining, t: waitSeconds(decision.retryAfterMs) };
  }
  const pace = paceSeconds(limit);
  const paceUnits = sustainedPerSecond(limit) * pace;
  // A fail-open or local answer while the store is down carries no state to read: the sustained
  // pace is all that can be said.
  if (decision.source === 'degraded') return { r: floorWithSlack(paceUnits), t: pace };
  switch (limit.algorithm) {
    case 'gcra':
    case 'token-bucket':
      return bucketLimit(decision, limit, pace, paceUnits);
    case 'fixed-window':
      return fixedWindowLimit(decision, limit, pace, paceUnits);
    case 'sliding-window':
      return { r: slidingWindowUnits(limit, pace), t: pace };
  }
}

/**
 * Sliding window: the refill is the previous window's count fading out, and a decision carries
 * neither that count nor where in the window it is, so the pace is the sustained rate — exact
 * while the key is used at that rate, which a client following it does. Exact is also the edge:
 * the window admits a unit one emission interval after the last only to the rounding of
 * epoch-millisecond timestamps, with no slack for it (GCRA has {@link TIME_EPSILON_MS}). So each
 * unit is left that much more than its emission interval: `r` is the largest whole number of units
 * strictly below what fits into the pace window at that spacing: at most one unit in
 * {@link PACE_UNITS} under the sustained rate, and another 1 % at 10,000 per second.
 */
function slidingWindowUnits(limit: LimitDefinition, pace: number): number {
  const spacingMs = 1000 / sustainedPerSecond(limit) + TIME_EPSILON_MS;
  return Math.max(1, Math.ceil((pace * 1000) / spacingMs - 1e-9) - 1);
}

/**
 * GCRA and token bucket: `resetAfterMs` is how long until the bucket is full (rounded up), which
 * gives what is left of it now; `t` seconds add the refill. Any unit of that, at an even spacing,
 * finds one emission interval of refill or some of what is left waiting for it.
 */
function bucketLimit(
  decision: RateLimitDecision,
  limit: LimitDefinition,
  pace: number,
  paceUnits: number,
): ServiceLimit {
  const emissionMs = limit.intervalMs / limit.limit;
  const left = limit.burst + 1 - decision.resetAfterMs / emissionMs;
  return { r: Math.max(0, floorWithSlack(left + paceUnits)), t: pace };
}

/**
 * Fixed window: `resetAfterMs` is the time to the window's end. While a pace window of whole
 * seconds is left of it, or at least one second and a pace window's worth of units, `r` is what
 * the window has left and `t` the whole seconds to its end: spread over them, all of it passes
 * before the window ends. Otherwise — near the end of a window, and always for windows under a
 * second — `t` is the pace window and the pace runs on across the end, as fast as no later window
 * gets more than it admits: the sustained rate; or `left + 1` units in all, which one window
 * holds; or, when the pace window ends within the next window, as many as leave that window no
 * more than it admits (a client that is behind catches up). It is slowed where needed so that the
 * units before the end fit what is left, and then said over the whole seconds that cover the rest
 * of the window instead.
 */
function fixedWindowLimit(
  decision: RateLimitDecision,
  limit: LimitDefinition,
  pace: number,
  paceUnits: number,
): ServiceLimit {
  const left = decision.remaining;
  // A window nothing was spent in reports no reset time; it may have all of `intervalMs` to run.
  const untilEndMs = decision.resetAfterMs > 0 ? decision.resetAfterMs : limit.intervalMs;
  const wholeSeconds = Math.floor(untilEndMs / 1000);
  if (wholeSeconds >= pace || (wholeSeconds >= 1 && left >= paceUnits)) {
    return left > 0 ? { r: left, t: wholeSeconds } : { r: 0, t: waitSeconds(untilEndMs) };
  }
  // Of the units at k·t/r (k = 1, 2, …), ⌈untilEnd·r / (t·1000)⌉ − 1 come before the end; that is
  // at most `left` while r ≤ (left + 1)·t·1000 / untilEnd. Here untilEnd < t·1000 (fewer whole
  // seconds are left than the pace window has), so the bound is above `left` and r is at least 1:
  // even with nothing left, the first unit lands at or after the end. Rounded down without
  // slack: one unit too many would land a hair before the end and be refused.
  let unslowed = Math.max(floorWithSlack(paceUnits), left + 1);
  const paceMs = pace * 1000;
  // `resetAfterMs` is rounded up: the end may be up to 1 ms nearer.
  if (paceMs <= untilEndMs - 1 + limit.intervalMs) {
    // The pace window ends within the next window, so its units after the end only have to fit
    // that window: r + 1 − ⌈(untilEnd − 1)·r / (t·1000)⌉ of them, at most n when r is at most
    // (n − 1)·t·1000 / (t·1000 − untilEnd + 1). A client that is behind catches up.
    const n = floorWithSlack(limit.limit + limit.burst);
    unslowed = Math.max(unslowed, Math.floor(((n - 1) * paceMs) / (paceMs - untilEndMs + 1)));
  }
  const beforeEnd = (seconds: number) => Math.floor(((left + 1) * seconds * 1000) / untilEndMs);
  if (beforeEnd(pace) >= unslowed) return { r: unslowed, t: pace };
  // Slowed: said over the whole seconds that just cover the rest of the window rather than over
  // the pace window, so that a client holding on to it is not kept at the slow pace long into the
  // next window. The spacing is no closer and the span no longer, so the units after the end are
  // no more than the unslowed pace would put there, and the ones before it still fit.
  const t = Math.min(pace, waitSeconds(untilEndMs));
  return { r: beforeEnd(t), t };
}

/**
 * Whole seconds of a wait, for `t` and `Retry-After`: rounded up, so that a client never comes
 * back early, and at least 1, since a decision that asks for a wait asks for one.
 */
export function waitSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000 - 1e-9));
}
