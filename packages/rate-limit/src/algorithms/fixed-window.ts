/**
 * Fixed window: a counter per window of `intervalMs`, windows aligned on multiples of `intervalMs`
 * since the epoch (a one-day interval is a UTC day). Each window admits `limit + burst`; across a
 * window boundary up to twice that can pass within one interval.
 */
import { type Algorithm, EPSILON, floorWithSlack } from './algorithm.js';

/** State per limit: `[window, count]` (window = floor(time / intervalMs)). */
export const fixedWindow: Algorithm = {
  name: 'fixed-window',
  stateSize: 2,
  fresh(state, offset, now, limit) {
    state[offset] = Math.floor(now / limit.intervalMs);
    state[offset + 1] = 0;
  },
  advance(state, offset, now, limit) {
    const window = Math.floor(now / limit.intervalMs);
    if (window > state[offset]!) {
      state[offset] = window;
      state[offset + 1] = 0;
    }
  },
  fits(state, offset, _now, cost, limit) {
    return state[offset + 1]! + cost <= limit.capacity + EPSILON;
  },
  take(state, offset, _now, cost) {
    state[offset + 1] = state[offset + 1]! + cost;
  },
  giveBack(state, offset, _now, cost, takenAt, limit) {
    // Permits taken in a window that has ended were that window's; returning them to the current
    // one would admit more than its share.
    if (Math.floor(takenAt / limit.intervalMs) !== state[offset]) return;
    state[offset + 1] = Math.max(0, state[offset + 1]! - cost);
  },
  adjust(state, offset, _now, points, limit) {
    // The current window's count moves by points: up to the window's capacity, down to 0.
    const count = state[offset + 1]!;
    const moved = count + points;
    state[offset + 1] =
      points > 0 ? Math.max(count, Math.min(limit.capacity, moved)) : Math.max(0, moved);
  },
  remaining(state, offset, _now, limit) {
    return Math.max(0, floorWithSlack(limit.capacity - state[offset + 1]!));
  },
  retryAfterMs(state, offset, now, cost, limit) {
    if (state[offset + 1]! + cost <= limit.capacity + EPSILON) return 0;
    return (state[offset]! + 1) * limit.intervalMs - now;
  },
  idleAfterMs(state, offset, now, limit) {
    if (state[offset + 1]! <= 0) return 0;
    return Math.max(0, (state[offset]! + 1) * limit.intervalMs - now);
  },
};
