/**
 * Token bucket: `capacity` tokens (burst + 1), refilled continuously at `limit` per `intervalMs`;
 * a call takes `cost` tokens. It admits exactly what GCRA admits; the state is the token count and
 * the time it was last refilled, which reads naturally when inspecting the store by hand.
 */
import { type Algorithm, EPSILON, floorWithSlack } from './algorithm.js';

/** State per limit: `[tokens, refilledAt]` (refilledAt in epoch milliseconds). */
export const tokenBucket: Algorithm = {
  name: 'token-bucket',
  stateSize: 2,
  fresh(state, offset, now, limit) {
    state[offset] = limit.capacity;
    state[offset + 1] = now;
  },
  advance(state, offset, now, limit) {
    const refilledAt = state[offset + 1]!;
    // A clock behind the last writer's (DynamoDB, skewed replicas) refills nothing rather than
    // moving the refill time backwards.
    if (now <= refilledAt) return;
    const tokens = state[offset]! + (now - refilledAt) / limit.emissionMs;
    state[offset] = Math.min(tokens, limit.capacity);
    state[offset + 1] = now;
  },
  fits(state, offset, _now, cost) {
    return state[offset]! >= cost - EPSILON;
  },
  take(state, offset, _now, cost) {
    state[offset] = state[offset]! - cost;
  },
  giveBack(state, offset, _now, cost, _takenAt, limit) {
    state[offset] = Math.min(limit.capacity, state[offset]! + cost);
  },
  adjust(state, offset, _now, points, limit) {
    // Tokens move by −points: down to an empty bucket, up to a full one.
    const tokens = state[offset]! - points;
    state[offset] = points > 0 ? Math.max(0, tokens) : Math.min(limit.capacity, tokens);
  },
  remaining(state, offset) {
    return Math.max(0, floorWithSlack(state[offset]!));
  },
  retryAfterMs(state, offset, _now, cost, limit) {
    return Math.max(0, (cost - state[offset]!) * limit.emissionMs);
  },
  idleAfterMs(state, offset, _now, limit) {
    return Math.max(0, (limit.capacity - state[offset]!) * limit.emissionMs);
  },
};
