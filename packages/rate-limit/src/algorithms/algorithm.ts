/**
 * The shape every algorithm implements. State is a flat array of numbers, `stateSize` of them per
 * limit, starting at an offset: a multi-limit key keeps all its limits side by side in one array
 * (one memory entry, one Redis hash, one DynamoDB item), which is what lets one store operation
 * check and consume them together.
 *
 * Functions mutate the state in place and allocate nothing, because the memory store calls them on
 * every decision. The Redis store runs the same arithmetic in Lua (see `stores/redis-script.ts`);
 * the store contract suite keeps the two in step.
 */
import type { AlgorithmName, CompiledLimit } from './limit.js';

/** Slack in comparisons of counts, so that floating-point rounding never denies a call that fits. */
export const EPSILON = 1e-9;

/**
 * Slack in comparisons of epoch-millisecond times, in milliseconds (1 µs). A double near today's
 * epoch milliseconds is only exact to about 0.5 µs, so a timestamp plus an emission interval can
 * land a rounding step past the exact sum; decisions are exact to this slack.
 */
export const TIME_EPSILON_MS = 1e-3;

/** The state transitions and read-outs of one rate-limiting algorithm. */
export interface Algorithm {
  /** The algorithm's name. */
  readonly name: AlgorithmName;
  /** How many numbers of state one limit needs. */
  readonly stateSize: number;
  /** Writes the state of a key that has never been used. */
  fresh(state: number[], offset: number, now: number, limit: CompiledLimit): void;
  /** Brings the state forward to `now` (refills a bucket, rolls a window). Idempotent. */
  advance(state: number[], offset: number, now: number, limit: CompiledLimit): void;
  /** Whether `cost` fits now; the state must have been advanced to `now`. */
  fits(state: number[], offset: number, now: number, cost: number, limit: CompiledLimit): boolean;
  /** Consumes `cost`; only called after {@link fits} said yes for every limit of the key. */
  take(state: number[], offset: number, now: number, cost: number, limit: CompiledLimit): void;
  /**
   * Returns `cost` that was taken at store time `takenAt` and not used (reservations). Never
   * returns more than was taken in the window it was taken in, and never past a fresh state.
   */
  giveBack(
    state: number[],
    offset: number,
    now: number,
    cost: number,
    takenAt: number,
    limit: CompiledLimit,
  ): void;
  /**
   * Changes the key's consumption after the fact by `points` (`penalty()` when positive,
   * `reward()` when negative); the state must have been advanced to `now`. A penalty uses up to
   * `points` of what is left, never past fully used (no debt: a key kept denied longer is what
   * `blockDurationMs` is for); a reward gives back up to `points`, never past a fresh state.
   */
  adjust(state: number[], offset: number, now: number, points: number, limit: CompiledLimit): void;
  /** Whole units of cost that would be admitted now. */
  remaining(state: number[], offset: number, now: number, limit: CompiledLimit): number;
  /** Milliseconds until `cost` fits (0 when it fits now). */
  retryAfterMs(
    state: number[],
    offset: number,
    now: number,
    cost: number,
    limit: CompiledLimit,
  ): number;
  /**
   * Milliseconds until the state is as good as fresh: the key's full allowance is back and
   * forgetting the key would change no future decision. Stores expire idle keys after it.
   */
  idleAfterMs(state: number[], offset: number, now: number, limit: CompiledLimit): number;
}

/** `Math.floor` that tolerates a value a rounding error below a whole number. */
export function floorWithSlack(value: number): number {
  return Math.floor(value + EPSILON);
}
