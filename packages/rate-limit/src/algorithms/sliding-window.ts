/**
 * Sliding window, the weighted two-window counter: the count of the current aligned window plus
 * the part of the previous window's count that still lies inside a window of `intervalMs` ending
 * now, assuming the previous window's calls were spread evenly. Two counters per key, close to a
 * true sliding log without storing one entry per call.
 *
 * The previous window's share is rounded down to the largest whole number strictly below the
 * weighted value. That is what makes a client sending exactly `limit` per interval pass: the call
 * that lies exactly on the trailing edge of the sliding window has left it (the window is
 * half-open), and the even-spread estimate would otherwise still count it.
 */
import { type Algorithm, EPSILON, floorWithSlack } from './algorithm.js';

/** State per limit: `[window, current, previous]` (window = floor(time / intervalMs)). */
export const slidingWindow: Algorithm = {
  name: 'sliding-window',
  stateSize: 3,
  fresh(state, offset, now, limit) {
    state[offset] = Math.floor(now / limit.intervalMs);
    state[offset + 1] = 0;
    state[offset + 2] = 0;
  },
  advance(state, offset, now, limit) {
    const window = Math.floor(now / limit.intervalMs);
    const stored = state[offset]!;
    if (window <= stored) return;
    state[offset + 2] = window === stored + 1 ? state[offset + 1]! : 0;
    state[offset + 1] = 0;
    state[offset] = window;
  },
  fits(state, offset, now, cost, limit) {
    return estimate(state, offset, now, limit) + cost <= limit.capacity + EPSILON;
  },
  take(state, offset, _now, cost) {
    state[offset + 1] = state[offset + 1]! + cost;
  },
  giveBack(state, offset, _now, cost, takenAt, limit) {
    const takenIn = Math.floor(takenAt / limit.intervalMs);
    const window = state[offset]!;
    if (takenIn === window) state[offset + 1] = Math.max(0, state[offset + 1]! - cost);
    else if (takenIn === window - 1) state[offset + 2] = Math.max(0, state[offset + 2]! - cost);
  },
  adjust(state, offset, _now, points, limit) {
    const current = state[offset + 1]!;
    if (points > 0) {
      // Counted in the current window, up to the window's capacity.
      state[offset + 1] = Math.max(current, Math.min(limit.capacity, current + points));
      return;
    }
    // A reward comes off the current window first, then off the previous one's count.
    const fromCurrent = Math.min(current, -points);
    state[offset + 1] = current - fromCurrent;
    state[offset + 2] = Math.max(0, state[offset + 2]! - (-points - fromCurrent));
  },
  remaining(state, offset, now, limit) {
    return Math.max(0, floorWithSlack(limit.capacity - estimate(state, offset, now, limit)));
  },
  retryAfterMs(state, offset, now, cost, limit) {
    const interval = limit.intervalMs;
    const windowStart = state[offset]! * interval;
    const current = state[offset + 1]!;
    const previous = state[offset + 2]!;
    if (
      previousShare(previous, now - windowStart, interval) + current + cost <=
      limit.capacity + EPSILON
    ) {
      return 0;
    }
    if (current + cost <= limit.capacity + EPSILON) {
      // Fits in this window once the previous window's share has shrunk to `room`.
      const room = floorWithSlack(limit.capacity - current - cost);
      const elapsed = interval - ((room + 1) * interval) / previous;
      return Math.max(0, windowStart + elapsed - now);
    }
    // Only in the next window, once this window's count, weighted, has shrunk enough.
    const room = floorWithSlack(limit.capacity - cost);
    const elapsed = Math.max(0, interval - ((room + 1) * interval) / current);
    return windowStart + interval + elapsed - now;
  },
  idleAfterMs(state, offset, now, limit) {
    const interval = limit.intervalMs;
    const windowStart = state[offset]! * interval;
    const current = state[offset + 1]!;
    const previous = state[offset + 2]!;
    if (current > 0) {
      return windowStart + interval + Math.max(0, interval - interval / current) - now;
    }
    if (previous > 0) return Math.max(0, windowStart + interval - interval / previous - now);
    return 0;
  },
};

/** The weighted count of the current and previous window at `now`. */
function estimate(
  state: number[],
  offset: number,
  now: number,
  limit: { intervalMs: number },
): number {
  const interval = limit.intervalMs;
  const elapsed = now - state[offset]! * interval;
  return previousShare(state[offset + 2]!, elapsed, interval) + state[offset + 1]!;
}

/**
 * The previous window's count weighted by the part of it still inside the sliding window, rounded
 * to the largest whole number strictly below. Multiplying before dividing keeps the product exact
 * for whole counts and intervals, so a share that is exactly whole is recognised as such.
 */
export function previousShare(previous: number, elapsed: number, interval: number): number {
  if (previous <= 0) return 0;
  const share = (previous * (interval - elapsed)) / interval;
  if (share <= EPSILON) return 0;
  return Math.ceil(share - EPSILON) - 1;
}
