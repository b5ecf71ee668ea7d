/**
 * The hedge policy's public surface: the {@link HedgePolicy} interface, its options and the
 * {@link hedge} factory. Each call runs as a `HedgedCall` (hedging/hedged-call.ts).
 */
import {
  type Clock,
  type ExecutionContext,
  expectedFunctionError,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  type Policy,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import { HedgedCall, type HedgeSettings } from './hedging/hedged-call.js';
import { HEDGE_OPTIONS } from './known-options.js';
import { hedgeInstruments } from './telemetry.js';

/** What a hedge policy hands to each attempt it starts. */
export interface HedgeContext extends ExecutionContext {
  /**
   * Aborts when the caller's signal aborts or another attempt won (the reason is then a
   * `HedgeLostError`). Pass it on so losing attempts stop working.
   */
  readonly signal: AbortSignal;
  /**
   * 0 for the primary attempt, 1 for the first hedge, … (Named apart from retry's `attempt`, so
   * that inside `pipeline(retry(...), hedge(...))` `fn` sees both.)
   */
  readonly hedge: number;
}

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /**
   * How long to wait for an attempt before starting the next one, in milliseconds (finite, ≥ 0).
   * With 0 every attempt starts at once (parallel requests, first answer wins). A good value is
   * the dependency's p90–p99 latency: most calls then never hedge.
   */
  delayMs: number;
  /**
   * How many extra attempts may be started (an integer ≥ 1), so at most `maxHedges + 1` run.
   * @default 1
   */
  maxHedges?: number;
  /**
   * Name reported in telemetry.
   * @default 'hedge'
   */
  name?: string;
  /**
   * Time source for `delayMs`; tests pass a fake clock.
   * @default systemClock
   */
  clock?: Clock;
}

/** A policy that races extra attempts against a slow one; see {@link hedge}. */
export interface HedgePolicy extends Policy<HedgeContext> {
  /** The policy's name. */
  readonly name: string;
  /** The delay before each hedge, in milliseconds. */
  readonly delayMs: number;
  /** The most extra attempts one call may start. */
  readonly maxHedges: number;
  /**
   * Part of the lifecycle every Breakwater policy shares. Hedging keeps no connection and no timer
   * between calls (each call's hedge timer ends with the call), so it resolves at once.
   */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Default of {@link HedgeOptions.maxHedges}. */
export const DEFAULT_MAX_HEDGES = 1;

/**
 * Hedging: when an attempt has not finished after `delayMs`, start another one (up to
 * `maxHedges`), and take whichever succeeds first; the other attempts' signals abort with a
 * `HedgeLostError`. An attempt that fails starts the next hedge at once instead of waiting. The
 * call rejects only when every attempt failed (with the last failure) or the caller aborted (with
 * `signal.reason`). Late results and failures of losing attempts are swallowed, never unhandled.
 *
 * Hedge only idempotent operations: several attempts may reach the dependency.
 *
 * @example
 * const fast = hedge({ delayMs: 50, maxHedges: 2 });
 * const item = await fast.execute(({ signal }) => cache.get(key, { signal }));
 */
export function hedge(options: HedgeOptions): HedgePolicy {
  expectObject('options', options);
  warnUnknownOptions('hedge()', options, { known: HEDGE_OPTIONS });
  const delayMs = expectNonNegative('delayMs', options.delayMs);
  const maxHedges =
    options.maxHedges === undefined
      ? DEFAULT_MAX_HEDGES
      : expectInteger('maxHedges', options.maxHedges);
  const name = options.name === undefined ? 'hedge' : expectNonEmptyString('name', options.name);
  const clock = options.clock ?? systemClock;
  expectFunction('clock.sleep', clock.sleep);
  const settings: HedgeSettings = {
    delayMs,
    maxHedges,
    clock,
    instruments: hedgeInstruments(name),
  };
  return {
    name,
    delayMs,
    maxHedges,
    execute: (fn, executeOptions) =>
      typeof fn === 'function'
        ? new HedgedCall(settings, fn, executeOptions).promise
        : Promise.reject(expectedFunctionError('fn', fn)),
    close: resolved,
    [Symbol.asyncDispose]: resolved,
  };
}

const resolved = (): Promise<void> => Promise.resolve();
