/**
 * `toJSON()` / `initialState`: a breaker's state as plain JSON, so a serverless function can carry
 * it from one invocation to the next (store it wherever it keeps state between invocations). Times
 * are absolute epoch milliseconds, so a snapshot stays meaningful after the process is gone.
 */
import { BREAKER_STATES, type BreakerSeed, type BreakerState } from './store.js';

/** Identifies the snapshot layout. */
export const SNAPSHOT_FORMAT = 'breakwater.circuit-breaker/1';

/** A breaker's state as returned by `toJSON()` and accepted as `initialState`. */
export interface CircuitBreakerSnapshot {
  /** Layout identifier, {@link SNAPSHOT_FORMAT}. */
  readonly format: typeof SNAPSHOT_FORMAT;
  /** The breaker's name. */
  readonly name: string;
  /** Its state when the snapshot was taken. */
  readonly state: BreakerState;
  /** When the break (open) or the isolation ends, epoch ms; `null` when not applicable or never. */
  readonly openUntil: number | null;
  /** Openings in a row. */
  readonly consecutiveOpens: number;
  /** Failures in a row. */
  readonly consecutiveFailures: number;
  /** Window counts: calls, failures and slow calls. */
  readonly window: {
    readonly calls: number;
    readonly failures: number;
    readonly slowCalls: number;
  };
  /** When the snapshot was taken, epoch ms. */
  readonly takenAt: number;
}

const isCount = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 0;

/**
 * Turns a snapshot into the seed of a store record, or explains why it cannot. Window counts are
 * kept only while the snapshot's window could still be current: a closed breaker's counts are
 * dropped by the store's own window rotation anyway.
 */
export function seedFromSnapshot(snapshot: unknown, now: number): BreakerSeed {
  const bad = (why: string): never => {
    throw new TypeError(`Expected \`initialState\` to be a snapshot from toJSON(): ${why}`);
  };
  if (typeof snapshot !== 'object' || snapshot === null) return bad('not an object');
  const s = snapshot as Partial<CircuitBreakerSnapshot>;
  if (s.format !== SNAPSHOT_FORMAT)
    return bad(`\`format\` is not ${JSON.stringify(SNAPSHOT_FORMAT)}`);
  if (!BREAKER_STATES.includes(s.state as BreakerState)) return bad('unknown `state`');
  if (s.openUntil !== null && typeof s.openUntil !== 'number')
    return bad('`openUntil` is not a number or null');
  if (!isCount(s.consecutiveOpens) || !isCount(s.consecutiveFailures)) return bad('bad counters');
  const window = s.window;
  if (
    !window ||
    !isCount(window.calls) ||
    !isCount(window.failures) ||
    !isCount(window.slowCalls)
  ) {
    return bad('bad `window`');
  }
  if (window.failures > window.calls || window.slowCalls > window.calls) return bad('bad `window`');
  const state = s.state as BreakerState;
  let remainingMs = 0;
  if (state === 'open') remainingMs = Math.max(0, (s.openUntil ?? now) - now);
  if (state === 'isolated')
    remainingMs = s.openUntil === null ? -1 : Math.max(0, s.openUntil - now);
  return {
    state,
    remainingMs,
    consecutiveOpens: s.consecutiveOpens,
    consecutiveFailures: s.consecutiveFailures,
    calls: window.calls,
    failures: window.failures,
    slowCalls: window.slowCalls,
  };
}
