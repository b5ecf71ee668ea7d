/**
 * Decodes the positional view a store script answers or publishes:
 * `[state, version, remainingMs, opens, consec, calls, failures, slow, probes, replaced, generation, …]`.
 * Anything else (a foreign publisher on the channel, a script of another version) yields
 * `undefined` instead of a crash.
 */
import { BREAKER_STATES, type BreakerState, type BreakerView } from '../store.js';

/** Decodes a view, or `undefined` when `value` is not one. */
export function decodeView(value: unknown): BreakerView | undefined {
  if (!Array.isArray(value) || value.length < 11) return undefined;
  const state = value[0] as BreakerState;
  if (!BREAKER_STATES.includes(state)) return undefined;
  const numbers: number[] = [];
  for (let i = 1; i < 11; i++) {
    const n = Number(value[i]);
    if (!Number.isFinite(n)) return undefined;
    numbers.push(n);
  }
  const [
    version,
    remainingMs,
    consecutiveOpens,
    consecutiveFailures,
    calls,
    failures,
    slowCalls,
    probes,
    replaced,
    generation,
  ] = numbers as [number, number, number, number, number, number, number, number, number, number];
  return {
    state,
    version,
    remainingMs,
    consecutiveOpens,
    consecutiveFailures,
    calls,
    failures,
    slowCalls,
    probes,
    replaced: replaced === 1,
    generation,
  };
}

/** Decodes a view the store's own script answered; a malformed one is a store failure. */
export function parseView(value: unknown): BreakerView {
  const view = decodeView(value);
  if (view === undefined)
    throw new TypeError('The store answered something that is not a breaker view');
  return view;
}
