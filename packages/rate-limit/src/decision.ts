/**
 * The answer to "may this call pass?"; limiter/describe-decision.ts reads it out of a key's state.
 */
import type { LimitSourceError } from './errors.js';

/**
 * Where a decision came from:
 * - `'store'`: the store decided (one round trip for Redis and DynamoDB).
 * - `'local-cache'`: the local deny cache answered for a key the store recently denied.
 * - `'reservation'`: a permit this replica had reserved in advance (`reserve` option).
 * - `'degraded'`: the store failed; the `onStoreError` choice answered.
 * - `'limit-source'`: the limiter's `limits` function gave no valid limits for the key; the call
 *   is denied without asking the store, and the decision's `error` says why.
 */
export type DecisionSource = 'store' | 'local-cache' | 'reservation' | 'degraded' | 'limit-source';

/** The outcome of one rate-limit decision. With several limits, the fields describe the binding one. */
export interface RateLimitDecision {
  /** Whether the call may proceed (its cost was consumed). */
  readonly allowed: boolean;
  /** The `limit` of the binding limit: the one that denied, or the one with the least left. */
  readonly limit: number;
  /** The interval of the binding limit, in milliseconds. */
  readonly intervalMs: number;
  /** Whole units of cost the key could still spend right now under the binding limit. */
  readonly remaining: number;
  /** Milliseconds until the same call would be admitted; 0 when allowed. */
  readonly retryAfterMs: number;
  /** Milliseconds until the binding limit's full allowance is back, if nothing else is spent. */
  readonly resetAfterMs: number;
  /** Which path answered. */
  readonly source: DecisionSource;
  /**
   * Why the key has no limits (`source: 'limit-source'`): its `limits` function threw, rejected or
   * returned invalid limits. `limit` and `intervalMs` are then 0. Absent on every other decision.
   */
  readonly error?: LimitSourceError | undefined;
}
