import { trace } from '@opentelemetry/api';
import { abortableSignal, raceLazyAbort } from './abort.js';
import { markFollowsAbort } from './abort-marks.js';
import { DeadlineSignals } from './deadline-signals.js';
import { type LazyAbortController, lazyAbortSourceOf, lazyContext } from './lazy-abort.js';
import {
  CONTEXT_FIELDS,
  type ExecuteOptions,
  type ExecutionContext,
  NO_CONTEXT_FIELDS,
  type Policy,
} from './policy.js';
import { ATTR_POLICY_NAME, getTelemetry } from './telemetry.js';
import { TickDeadlineQueue } from './tick-deadlines.js';
import { TimedCall, type TimeoutState } from './timed-call.js';
import { type KnownOptions, warnUnknownOptions } from './unknown-options.js';
import {
  expectedFunctionError,
  expectNonEmptyString,
  expectObject,
  expectOneOf,
  expectPositive,
} from './validate.js';
import { CORE_PACKAGE } from './version.js';

/** How a {@link timeout} ends a call that runs too long. */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /** The time limit in milliseconds; a finite number > 0. */
  ms: number;
  /**
   * `'cooperative'` aborts `ctx.signal` when time is up and waits for `fn` to settle (it should
   * honour the signal) before rejecting, so nothing keeps running behind the caller's back.
   * `'aggressive'` aborts `ctx.signal` and rejects at once, leaving `fn` to finish on its own.
   * Either way the rejection is a {@link TimeoutError}.
   * @default 'cooperative'
   */
  strategy?: TimeoutStrategy;
  /**
   * Name reported in errors and telemetry.
   * @default 'timeout'
   */
  name?: string;
}

/** A policy that bounds how long a call may take. */
export interface TimeoutPolicy extends Policy {
  /** The policy's name. */
  readonly name: string;
  /** The time limit in milliseconds. */
  readonly ms: number;
  /** How the policy ends a late call. */
  readonly strategy: TimeoutStrategy;
}

const STRATEGIES = ['cooperative', 'aggressive'] as const;

/** The options `timeout()` reads; any other draws a `BREAKWATER_UNKNOWN_OPTION` warning. */
export const TIMEOUT_OPTIONS = {
  ms: true,
  strategy: true,
  name: true,
} as const satisfies KnownOptions<TimeoutOptions>;

/**
 * Bounds how long `fn` may run. `fn` receives a signal that aborts when time is up (with the
 * {@link TimeoutError} as its reason) or when the caller's signal aborts. The listener on the
 * caller's signal is removed as soon as the call settles.
 *
 * A call costs no timer, no clock read and no AbortController: every call of one policy has the
 * same limit, so one deadline queue per policy (one unref'd timer ticking every `ms / 32` while
 * calls are in flight) times them all, and the controller behind `ctx.signal` is only created if
 * `fn` reads it. A call times out no earlier than `ms` after it started and at most `ms / 16`
 * later (at most 1 ms later under 32 ms), plus any delay of timers on a busy event loop. The
 * queue's timer does not keep the process alive: a call whose `fn` holds nothing open (a promise
 * that never settles) does not either. A cooperative timeout's span event is added when its call rejects,
 * in the caller's context; its counter counts at the deadline.
 *
 * If the caller's signal aborts, the call rejects at once with `signal.reason`, whatever the
 * strategy: the caller has stopped waiting.
 *
 * **Shared signals.** When only deadlines can abort a call (no caller signal, and no policy around
 * it that aborts for reasons of its own), its `ctx.signal` is shared with the calls of the policy
 * that time out in the same tick (those that started within `ms / 32` of it): created when the
 * first of them reads it, aborted with a `TimeoutError` of this policy (that of the first of them
 * to time out) when the deadline passes with one of them still running. A running call's signal
 * never aborts before its deadline, but **the signal of a call that finished may abort later**,
 * when a call it shared with times out, as may the signal of work it left running. On Node.js 20
 * this saves an `AbortController` (3–5 µs) per call whose `fn` reads the signal; see
 * `deadline-signals.ts`.
 *
 * **Under an outer timeout.** A call whose options are the context of an outer `timeout()`'s call
 * still in flight (as `pipeline()` passes it, possibly through a `retry()`), where the outer limit
 * is no longer than this one's, arms no deadline of its own: the outer deadline passes no later
 * than this call's could at the latest, so the call follows the outer call's abort (`ctx.signal`
 * is the outer call's) and rejects with the outer `TimeoutError` at once. This policy's counter and
 * span event then never fire for it.
 *
 * @example
 * const bounded = timeout({ ms: 2_000 });
 * const user = await bounded.execute(({ signal }) => fetch(url, { signal }));
 */
export function timeout(options: TimeoutOptions): TimeoutPolicy {
  expectObject('options', options);
  warnUnknownOptions('timeout()', options, { known: TIMEOUT_OPTIONS });
  const ms = expectPositive('ms', options.ms);
  const strategy =
    options.strategy === undefined
      ? 'cooperative'
      : expectOneOf('strategy', options.strategy, STRATEGIES);
  const name = options.name === undefined ? 'timeout' : expectNonEmptyString('name', options.name);
  const telemetry = getTelemetry(CORE_PACKAGE);
  const timeouts = telemetry.instruments((meter) =>
    meter.createCounter('breakwater.timeout.timeouts', {
      description: 'Calls that exceeded their time limit.',
      unit: '{call}',
    }),
  );
  const attributes = { [ATTR_POLICY_NAME]: name, 'breakwater.timeout.strategy': strategy };
  const deadlines = new TickDeadlineQueue(ms);
  const state: TimeoutState = {
    name,
    ms,
    aggressive: strategy === 'aggressive',
    deadlines,
    signals: new DeadlineSignals(deadlines),
    telemetry,
    timeouts,
    attributes,
  };
  return {
    name,
    ms,
    strategy,
    [CONTEXT_FIELDS]: NO_CONTEXT_FIELDS,
    execute: (fn, executeOptions) => runWithTimeout(state, fn, executeOptions),
  };
}

function runWithTimeout<T>(
  state: TimeoutState,
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  options: ExecuteOptions | undefined,
): Promise<T> {
  if (typeof fn !== 'function') return Promise.reject(expectedFunctionError('fn', fn));
  // A parent that is itself a lazy context (inside a pipeline) is followed through its
  // controller, so neither its signal nor ours is created unless someone reads it.
  const lazyParent = lazyAbortSourceOf(options);
  const parent = lazyParent === undefined ? abortableSignal(options?.signal) : undefined;
  if (lazyParent?.aborted) return Promise.reject(lazyParent.reason);
  if (parent?.aborted) return Promise.reject(parent.reason);
  if (!state.aggressive && lazyParent === undefined && parent === undefined) {
    return runCooperative(state, fn);
  }
  if (
    lazyParent instanceof TimedCall &&
    lazyParent.linked &&
    lazyParent.state.deadlines.latestMs <= state.deadlines.latestMs
  ) {
    return runUnderOuterDeadline(fn, lazyParent);
  }
  return runGeneral(state, fn, lazyParent, parent);
}

/**
 * A call under the call of an outer `timeout()` (the lazy parent a pipeline passes) whose deadline
 * passes no later than this call's could, at the latest: the outer one started first and its
 * limit is no longer, so this call arms no deadline of its own and ends like the outer call's
 * abort, as any inner policy does. That is Polly's five-strategy shape (an overall timeout around
 * retries, each attempt under a timeout of the same limit). The outcome agrees with the general
 * path's, checked by a property test (timeout.property.test.ts), but for a call the inner deadline
 * would have ended within the last two ticks of the outer's: the outer one ends it instead, with
 * its TimeoutError (which the general path also answers once the outer deadline passes) and
 * within the bounds documented on `timeout()`.
 *
 * Why: the general path costs a TimedCall, a deadline entry and a subscription per call. Measured
 * on Node 20.20 (2-core VM, CPU time of 100,000 awaited calls, median of seven alternating runs on
 * a loaded VM), this took the pipeline of the `pipeline/five-strategies` bench suite from +1,305 to
 * +1,270 ns per call, and from +1,347 to +1,213 ns when `fn` reads `ctx.signal` (one shared signal
 * instead of one under the outer one's).
 */
function runUnderOuterDeadline<T>(
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  outer: TimedCall,
): Promise<T> {
  let result: T | PromiseLike<T>;
  try {
    result = fn(lazyContext(outer));
  } catch (error) {
    return Promise.reject(error);
  }
  // Inside a pipeline, `fn` returns the promise of the next policy in, which follows `outer`
  // already: `raceLazyAbort` passes it on as it is (see abort-marks.ts, measured on Node 20.20:
  // most of the five-strategy pipeline's gain there). Either way the promise returned rejects
  // once `outer` aborts, so it is marked for the policy around this one.
  return markFollowsAbort(raceLazyAbort(result, outer), outer);
}

/** The fast path: only `fn` settling can end the call, so its `.then` decides the outcome. */
function runCooperative<T>(
  state: TimeoutState,
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
): Promise<T> {
  const call = new TimedCall(state, undefined);
  state.deadlines.enqueue(call);
  let result: T | PromiseLike<T>;
  try {
    result = fn(lazyContext(call));
  } catch (error) {
    state.deadlines.settle(call);
    return Promise.reject(error);
  }
  return Promise.resolve(result).then(
    (value) => call.fulfilled(value) as T,
    (error: unknown) => call.rejected(error),
  );
}

/** Aggressive calls and calls under a caller's signal: they may end before `fn` settles. */
function runGeneral<T>(
  state: TimeoutState,
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  lazyParent: LazyAbortController | undefined,
  parent: AbortSignal | undefined,
): Promise<T> {
  const outcome = new Promise<T>((resolve, reject) => {
    // Only an aggressive call is rejected from the queue's timer, outside the caller's context.
    const call = new TimedCall(state, state.aggressive ? trace.getActiveSpan() : undefined);
    call.resolve = resolve as (value: unknown) => void;
    call.reject = reject;
    call.follow(lazyParent, parent);
    state.deadlines.enqueue(call);
    let result: T | PromiseLike<T>;
    try {
      result = fn(lazyContext(call));
    } catch (error) {
      call.finish(false, error);
      return;
    }
    Promise.resolve(result).then(
      (value) => call.fulfilledGeneral(value),
      (error: unknown) => call.rejectedGeneral(error),
    );
  });
  // The call rejects as soon as a lazy parent aborts (`TimedCall.parentAborted`), whatever `fn`
  // does: the policy around this one need not race it again (see abort-marks.ts).
  return lazyParent === undefined ? outcome : markFollowsAbort(outcome, lazyParent);
}
