/**
 * How the answer to "may this call pass?" is read out of a key's state.
 */
import { gcraRemaining, gcraRetryAfterMs } from '../algorithms/gcra.js';
import { type CompiledLimit, stateLength } from '../algorithms/limit.js';
import type { DecisionSource, RateLimitDecision } from '../decision.js';
import type { LimitSourceError } from '../errors.js';

/**
 * Reads the decision out of a key's state after a store operation: the new state when the call
 * was admitted, the current one when it was not. Times are rounded up to whole milliseconds, so
 * waiting `retryAfterMs` is always enough.
 */
export function describeDecision(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  cost: number,
  allowed: boolean,
  source: DecisionSource,
): RateLimitDecision {
  const decision = describeLimits(limits, state, now, cost, allowed, source);
  if (allowed || state.length <= stateLength(limits)) return decision;
  // A blocking limiter's state (`blockDurationMs`): its last number is the end of the block. A
  // blocked key answers for the rest of the block, with nothing remaining.
  const blockedFor = state[state.length - 1]! - now;
  if (blockedFor <= 0) return decision;
  return {
    ...decision,
    remaining: 0,
    retryAfterMs: Math.max(decision.retryAfterMs, wholeMs(blockedFor)),
    resetAfterMs: Math.max(decision.resetAfterMs, wholeMs(blockedFor)),
  };
}

/**
 * {@link describeDecision} for one GCRA limit without a block, from the answer of the store's
 * `consumeGcra` (the TAT's lead over now: after the call when admitted, ≥ 0; before it, negated,
 * when not). The same numbers as the algorithm's read-outs of the state, and the same shape.
 */
export function describeGcra(
  answer: number,
  cost: number,
  limit: CompiledLimit,
  source: DecisionSource,
): RateLimitDecision {
  const allowed = answer >= 0;
  const lead = allowed ? answer : -answer;
  return {
    allowed,
    limit: limit.limit,
    intervalMs: limit.intervalMs,
    remaining: gcraRemaining(lead, limit),
    retryAfterMs: allowed ? 0 : Math.max(1, wholeMs(gcraRetryAfterMs(lead, cost, limit))),
    resetAfterMs: wholeMs(lead),
    source,
  };
}

/** {@link describeDecision} from the limits' numbers alone. */
function describeLimits(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  cost: number,
  allowed: boolean,
  source: DecisionSource,
): RateLimitDecision {
  if (limits.length === 1) {
    // The common case, without the search for the binding limit.
    const only = limits[0]!;
    const algorithm = only.impl;
    return {
      allowed,
      limit: only.limit,
      intervalMs: only.intervalMs,
      remaining: algorithm.remaining(state, 0, now, only),
      retryAfterMs: allowed
        ? 0
        : Math.max(1, wholeMs(algorithm.retryAfterMs(state, 0, now, cost, only))),
      resetAfterMs: wholeMs(algorithm.idleAfterMs(state, 0, now, only)),
      source,
    };
  }
  let binding = 0;
  let bindingOffset = 0;
  let remaining = Number.POSITIVE_INFINITY;
  let retryAfter = 0;
  for (let i = 0, offset = 0; i < limits.length; offset += limits[i]!.impl.stateSize, i++) {
    const limit = limits[i]!;
    const algorithm = limit.impl;
    if (allowed) {
      const left = algorithm.remaining(state, offset, now, limit);
      if (left < remaining) {
        remaining = left;
        binding = i;
        bindingOffset = offset;
      }
    } else {
      const wait = algorithm.retryAfterMs(state, offset, now, cost, limit);
      if (wait > retryAfter || i === 0) {
        retryAfter = wait;
        binding = i;
        bindingOffset = offset;
      }
    }
  }
  const limit = limits[binding]!;
  const algorithm = limit.impl;
  if (!allowed) remaining = algorithm.remaining(state, bindingOffset, now, limit);
  return {
    allowed,
    limit: limit.limit,
    intervalMs: limit.intervalMs,
    remaining,
    retryAfterMs: allowed ? 0 : Math.max(1, wholeMs(retryAfter)),
    resetAfterMs: wholeMs(algorithm.idleAfterMs(state, bindingOffset, now, limit)),
    source,
  };
}

/** Rounds up to whole milliseconds, ignoring floating-point dust just above a whole number. */
export function wholeMs(ms: number): number {
  return Math.max(0, Math.ceil(ms - 1e-6));
}

/** Milliseconds until `cost` fits every limit of the state (0 when it fits now), in whole ms. */
export function retryAfterAll(
  limits: readonly CompiledLimit[],
  state: number[],
  now: number,
  cost: number,
): number {
  let wait = 0;
  for (let i = 0, offset = 0; i < limits.length; offset += limits[i]!.impl.stateSize, i++) {
    const ms = limits[i]!.impl.retryAfterMs(state, offset, now, cost, limits[i]!);
    if (ms > wait) wait = ms;
  }
  return wholeMs(wait);
}

/** `retryAfterMs` of a call denied because its key has no valid limits: its function is asked again then. */
const LIMIT_SOURCE_RETRY_MS = 1000;

/** The denial of a call whose key has no valid limits (its `limits` function failed). */
export function limitSourceDenial(error: LimitSourceError): RateLimitDecision {
  return {
    allowed: false,
    limit: 0,
    intervalMs: 0,
    remaining: 0,
    retryAfterMs: LIMIT_SOURCE_RETRY_MS,
    resetAfterMs: 0,
    source: 'limit-source',
    error,
  };
}
