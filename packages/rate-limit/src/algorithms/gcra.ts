/**
 * GCRA, the generic cell rate algorithm. The whole state is one timestamp, the theoretical arrival
 * time (TAT): when the key would be idle again if nothing more were admitted. Each unit of cost
 * pushes it `emissionMs` further; a call is admitted while the TAT stays within
 * `capacity × emissionMs` (capacity = burst + 1) of now.
 *
 * Over any window of `intervalMs`, at most `limit + burst` (whole units) is admitted, and a client
 * sending one unit every `emissionMs` is never refused.
 */
import { type Algorithm, floorWithSlack, TIME_EPSILON_MS } from './algorithm.js';

/** State per limit: `[tat]`, epoch milliseconds. */
export const gcra: Algorithm = {
  name: 'gcra',
  stateSize: 1,
  fresh(state, offset, now) {
    state[offset] = now;
  },
  advance(state, offset, now) {
    // A TAT in the past means the same as "idle now"; keeping it at now keeps read-outs simple.
    if (state[offset]! < now) state[offset] = now;
  },
  fits(state, offset, now, cost, limit) {
    // TAT − now first: two nearby timestamps subtract exactly, so only the TAT's own rounding is
    // left for the slack to absorb.
    return state[offset]! - now - (limit.capacity - cost) * limit.emissionMs <= TIME_EPSILON_MS;
  },
  take(state, offset, _now, cost, limit) {
    state[offset] = state[offset]! + cost * limit.emissionMs;
  },
  giveBack(state, offset, now, cost, _takenAt, limit) {
    state[offset] = Math.max(now, state[offset]! - cost * limit.emissionMs);
  },
  adjust(state, offset, now, points, limit) {
    // The TAT moves by points × emission interval: up to now + capacity × emission (fully used),
    // down to now (fresh).
    const tat = state[offset]!;
    const moved = tat + points * limit.emissionMs;
    if (points > 0)
      state[offset] = Math.max(tat, Math.min(moved, now + limit.capacity * limit.emissionMs));
    else state[offset] = Math.max(now, moved);
  },
  remaining(state, offset, now, limit) {
    const used = Math.max(0, state[offset]! - now - TIME_EPSILON_MS) / limit.emissionMs;
    return Math.max(0, floorWithSlack(limit.capacity - used));
  },
  retryAfterMs(state, offset, now, cost, limit) {
    const ahead = Math.max(state[offset]!, now) - now;
    return Math.max(0, ahead + (cost - limit.capacity) * limit.emissionMs);
  },
  idleAfterMs(state, offset, now) {
    return Math.max(0, state[offset]! - now);
  },
};
