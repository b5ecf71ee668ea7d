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
import type { CompiledLimit } from './limit.js';

// The read-outs below take the TAT's lead over now (`tat − now`, computed first: two nearby
// timestamps subtract exactly, so only the TAT's own rounding is left for the slack to absorb).
// The algorithm's methods and the memory store's one-GCRA fast path (`consumeGcra`) share them,
// so that both decide and describe with the same arithmetic.

/** Whether `cost` fits a key whose advanced TAT leads now by `lead` ms. */
export function gcraFits(lead: number, cost: number, limit: CompiledLimit): boolean {
  return lead - (limit.capacity - cost) * limit.emissionMs <= TIME_EPSILON_MS;
}

/** Whole units admitted now, for a key whose TAT leads now by `lead` ms. */
export function gcraRemaining(lead: number, limit: CompiledLimit): number {
  const used = Math.max(0, lead - TIME_EPSILON_MS) / limit.emissionMs;
  return Math.max(0, floorWithSlack(limit.capacity - used));
}

/** Milliseconds until `cost` fits, for a key whose advanced TAT leads now by `lead` (≥ 0) ms. */
export function gcraRetryAfterMs(lead: number, cost: number, limit: CompiledLimit): number {
  return Math.max(0, lead + (cost - limit.capacity) * limit.emissionMs);
}

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
    return gcraFits(state[offset]! - now, cost, limit);
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
    return gcraRemaining(state[offset]! - now, limit);
  },
  retryAfterMs(state, offset, now, cost, limit) {
    return gcraRetryAfterMs(Math.max(state[offset]!, now) - now, cost, limit);
  },
  idleAfterMs(state, offset, now) {
    return Math.max(0, state[offset]! - now);
  },
};
