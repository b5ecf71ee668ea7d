/**
 * All-or-nothing operations on the state of one key with several limits: every limit is checked
 * before any is consumed. Each limit keeps its numbers side by side in one array, in order, each
 * metered by its own algorithm. The memory and DynamoDB stores run these; the Redis script mirrors
 * them.
 */
import { type CompiledLimit, stateLength } from './algorithms/limit.js';

/** The state of a key nobody has used yet. */
export function freshState(
  limits: readonly CompiledLimit[],
  now: number,
  into: number[] = new Array<number>(stateLength(limits)),
): number[] {
  for (let i = 0, offset = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    limit.impl.fresh(into, offset, now, limit);
    offset += limit.impl.stateSize;
  }
  return into;
}

/** Brings every limit of the state forward to `now`. */
export function advanceAll(limits: readonly CompiledLimit[], state: number[], now: number): void {
  for (let i = 0, offset = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    limit.impl.advance(state, offset, now, limit);
    offset += limit.impl.stateSize;
  }
}

/** Whether `cost` fits every limit of an advanced state. */
export function fitsAll(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  cost: number,
): boolean {
  for (let i = 0, offset = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    if (!limit.impl.fits(state, offset, now, cost, limit)) return false;
    offset += limit.impl.stateSize;
  }
  return true;
}

/**
 * Advances the state, then takes `cost` from every limit if it fits them all, otherwise `minCost`
 * if that fits them all (reservations ask for a batch but settle for what the call needs).
 * Returns the cost taken, 0 when neither fits (and the state is then only advanced).
 */
export function consumeAll(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  cost: number,
  minCost: number,
): number {
  if (limits.length === 1) {
    // The common case, without the loops.
    const limit = limits[0]!;
    const impl = limit.impl;
    impl.advance(state, 0, now, limit);
    let taken = 0;
    if (impl.fits(state, 0, now, cost, limit)) taken = cost;
    else if (minCost < cost && impl.fits(state, 0, now, minCost, limit)) taken = minCost;
    if (taken > 0) impl.take(state, 0, now, taken, limit);
    return taken;
  }
  advanceAll(limits, state, now);
  let granted = 0;
  if (fitsAll(limits, state, now, cost)) granted = cost;
  else if (minCost < cost && fitsAll(limits, state, now, minCost)) granted = minCost;
  if (granted === 0) return 0;
  for (let i = 0, offset = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    limit.impl.take(state, offset, now, granted, limit);
    offset += limit.impl.stateSize;
  }
  return granted;
}

/** Advances the state and returns `cost` taken at `takenAt` to every limit. */
export function giveBackAll(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  cost: number,
  takenAt: number,
): void {
  advanceAll(limits, state, now);
  for (let i = 0, offset = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    limit.impl.giveBack(state, offset, now, cost, takenAt, limit);
    offset += limit.impl.stateSize;
  }
}

/**
 * Advances the state and changes every limit's consumption by `points` (positive: a penalty,
 * negative: a reward; see `Algorithm.adjust`).
 */
export function adjustAll(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  points: number,
): void {
  advanceAll(limits, state, now);
  for (let i = 0, offset = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    limit.impl.adjust(state, offset, now, points, limit);
    offset += limit.impl.stateSize;
  }
}

/**
 * A consume for a limiter with `blockDurationMs` (its state has one more number after the limits':
 * the time the key is blocked until, 0 for none). A blocked key is denied without a change; a
 * consume that does not fit blocks the key for `blockMs` from `now`.
 * Returns the cost taken, 0 for a denial that changed nothing, −1 for a denial that started a
 * block (the state must then be written).
 */
export function consumeBlocking(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  cost: number,
  minCost: number,
  blockMs: number,
): number {
  const slot = state.length - 1;
  if (state[slot]! > now) {
    advanceAll(limits, state, now);
    return 0;
  }
  const granted = consumeAll(limits, state, now, cost, minCost);
  if (granted > 0) return granted;
  state[slot] = now + blockMs;
  return -1;
}

/** Whether a state with a block slot (the last number) is blocked at `now`. */
export function isBlocked(state: number[], now: number): boolean {
  return state[state.length - 1]! > now;
}

/** Milliseconds until every limit of the state is as good as fresh: how long a store keeps it. */
export function idleAfterMs(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
): number {
  let idle = 0;
  for (let i = 0, offset = 0; i < limits.length; i++) {
    const limit = limits[i]!;
    const ms = limit.impl.idleAfterMs(state, offset, now, limit);
    if (ms > idle) idle = ms;
    offset += limit.impl.stateSize;
  }
  return idle;
}
