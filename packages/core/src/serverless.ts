/**
 * Serverless mode: runtimes such as AWS Lambda freeze the process as soon as an invocation
 * returns, and timers do not run while it is frozen — perhaps forever. Work a policy leaves for a
 * background timer (a batch of counts to flush, permits to give back, queued writes to persist)
 * may then never happen. {@link serverless} wraps a handler so that this work is settled before
 * the invocation returns, within a deadline that never outlives the invocation.
 *
 * A policy with deferred work is {@link Settleable}: it has a `settle()` method that finishes that
 * work and resolves when it is done (every Breakwater policy with deferred work has one). Plain
 * functions are accepted as well, for anything else that must finish before the freeze (an
 * OpenTelemetry `MeterProvider.forceFlush()`, a logger's flush).
 */
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { BreakwaterError, hasErrorKind, TimeoutError } from './errors.js';
import {
  BREAKWATER_WARNING_TYPE,
  type KnownOptions,
  warnUnknownOptions,
} from './unknown-options.js';
import { describeValue, expectFunction, expectNonNegative, expectPositive } from './validate.js';

/** Something with work deferred to a background timer that can be finished on demand. */
export interface Settleable {
  /**
   * Finishes the deferred work now (flushes, returns, persists) and resolves once it is done.
   * Bounded by the policy's own store deadlines; {@link serverless} bounds it again by its own.
   */
  settle(): Promise<void>;
  /** Names the target in a {@link SettleError}. */
  readonly name?: string | undefined;
}

/** What {@link serverless} settles: a {@link Settleable} policy, or a function (sync or async). */
export type SettleTarget = Settleable | (() => unknown);

/**
 * The part of an invocation context {@link serverless} reads: AWS Lambda's context has it. Other
 * runtimes may pass anything; without `getRemainingTimeInMillis` only `deadlineMs` bounds settling.
 */
export interface InvocationContextLike {
  /** Milliseconds left before the runtime ends the invocation. */
  getRemainingTimeInMillis?: (() => number) | undefined;
}

/** One target that did not settle. */
export interface SettleFailure {
  /** The target's `name`, the function's name, or `settle[<index>]`. */
  readonly target: string;
  /** What it rejected (or threw) with; a `TimeoutError` when the deadline passed first. */
  readonly error: unknown;
  /** Whether the deadline passed before the target settled (its work may still be under way). */
  readonly timedOut: boolean;
}

/**
 * Some targets did not settle before the invocation returned: their work may be lost or late (see
 * {@link SettleError.failures}). Reported through `onSettleError`; never thrown to the runtime.
 */
export class SettleError extends BreakwaterError {
  /** Every target that failed or timed out, in the order of the `settle` list. */
  readonly failures: readonly SettleFailure[];
  /** The deadline settling had, in milliseconds. */
  readonly deadlineMs: number;

  constructor(failures: readonly SettleFailure[], deadlineMs: number) {
    const what = failures
      .map((f) => `${f.target} (${f.timedOut ? 'timed out' : describeError(f.error)})`)
      .join(', ');
    super(`${failures.length} settle target(s) did not settle within ${deadlineMs} ms: ${what}`, {
      cause: failures.length === 1 ? failures[0]!.error : undefined,
    });
    this.brand('SettleError');
    this.failures = failures;
    this.deadlineMs = deadlineMs;
  }
}

/** Whether `value` is a {@link SettleError} (works across duplicated package copies). */
export function isSettleError(value: unknown): value is SettleError {
  return hasErrorKind(value, 'SettleError');
}

/** Options of {@link serverless}. */
export interface ServerlessOptions<E = unknown, C = unknown> {
  /**
   * What to settle after every invocation, in parallel: policies with a `settle()` method, and
   * functions (`() => meterProvider.forceFlush()`). May be empty.
   */
  settle: readonly SettleTarget[];
  /**
   * The longest settling may take, in milliseconds (> 0). It is also cut to the invocation's
   * remaining time (`context.getRemainingTimeInMillis()`) less `reserveMs`.
   * @default 2_000
   */
  deadlineMs?: number | undefined;
  /**
   * Of the invocation's remaining time, how much settling leaves unused, in milliseconds (≥ 0), so
   * the handler's answer still reaches the runtime before it ends the invocation.
   * @default 50
   */
  reserveMs?: number | undefined;
  /**
   * Receives a {@link SettleError} when a target failed or timed out; the invocation's result (or
   * the handler's error) is returned all the same. Without it, the error goes to
   * `process.emitWarning` (type `'BreakwaterWarning'`, code {@link SETTLE_ERROR_CODE}).
   * @default emit a process warning
   */
  onSettleError?: ((error: SettleError, event: E, context: C) => void) | undefined;
  /** Time source of the deadline; tests pass a fake clock. @default systemClock */
  clock?: Clock | undefined;
}

/** Default of {@link ServerlessOptions.deadlineMs}. */
export const DEFAULT_SETTLE_DEADLINE_MS = 2_000;
/** Default of {@link ServerlessOptions.reserveMs}. */
export const DEFAULT_SETTLE_RESERVE_MS = 50;
/** The `code` of the process warning a {@link SettleError} becomes without `onSettleError`. */
export const SETTLE_ERROR_CODE = 'BREAKWATER_SETTLE_FAILED';

/** Every option {@link serverless} reads. */
export const SERVERLESS_OPTIONS = {
  settle: true,
  deadlineMs: true,
  reserveMs: true,
  onSettleError: true,
  clock: true,
} as const satisfies KnownOptions<ServerlessOptions>;

/** Options of {@link settleAll}. */
export interface SettleAllOptions {
  /** Milliseconds (≥ 0) after which targets still running count as timed out. */
  deadlineMs: number;
  /** Time source of the deadline. @default systemClock */
  clock?: Clock | undefined;
}

/** Whether `value` has a `settle()` method. */
export function isSettleable(value: unknown): value is Settleable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { settle?: unknown }).settle === 'function'
  );
}

/**
 * Settles every target in parallel and resolves, by the deadline at the latest, with those that
 * failed or did not finish in time (empty when all settled). Never rejects. A target still running
 * at the deadline is left running: nothing in a frozen process can stop it anyway.
 */
export async function settleAll(
  targets: readonly SettleTarget[],
  options: SettleAllOptions,
): Promise<SettleFailure[]> {
  const deadlineMs = expectNonNegative('deadlineMs', options.deadlineMs);
  const clock = options.clock ?? systemClock;
  const outcomes = targets.map((target, index) => runTarget(target, index));
  const stop = new AbortController();
  let expired = false;
  const deadline = clock.sleep(deadlineMs, stop.signal).then(
    () => {
      expired = true;
    },
    () => {},
  );
  try {
    await Promise.race([Promise.all(outcomes.map((o) => o.done)), deadline]);
  } finally {
    stop.abort();
  }
  const failures: SettleFailure[] = [];
  for (const outcome of outcomes) {
    if (outcome.failed) {
      failures.push({ target: outcome.name, error: outcome.error, timedOut: false });
    } else if (!outcome.settled && expired) {
      failures.push({
        target: outcome.name,
        error: new TimeoutError(`${outcome.name} did not settle within ${deadlineMs} ms`, {
          policyName: outcome.name,
          timeoutMs: deadlineMs,
        }),
        timedOut: true,
      });
    }
  }
  return failures;
}

interface Outcome {
  readonly name: string;
  readonly done: Promise<void>;
  settled: boolean;
  failed: boolean;
  error: unknown;
}

function runTarget(target: SettleTarget, index: number): Outcome {
  const outcome: Outcome = {
    name: targetName(target, index),
    done: Promise.resolve(),
    settled: false,
    failed: false,
    error: undefined,
  };
  let pending: unknown;
  try {
    pending = typeof target === 'function' ? target() : target.settle();
  } catch (error) {
    pending = Promise.reject(error);
  }
  (outcome as { done: Promise<void> }).done = Promise.resolve(pending).then(
    () => {
      outcome.settled = true;
    },
    (error: unknown) => {
      outcome.settled = true;
      outcome.failed = true;
      outcome.error = error;
    },
  );
  return outcome;
}

/**
 * Wraps an invocation handler (`(event, context) => result`) so that, after the handler returns or
 * throws, every target of `options.settle` is settled before the invocation ends: within
 * `deadlineMs`, and within the invocation's remaining time less `reserveMs` when the context has
 * `getRemainingTimeInMillis()`. The handler's result is returned, or its error rethrown, after
 * settling.
 *
 * A target that fails or times out is reported to `onSettleError` (by default a process warning),
 * never thrown: the handler's work is done, and failing the invocation would make the runtime
 * retry it (an asynchronous Lambda event is retried twice), repeating its side effects.
 *
 * @example
 * export const handler = serverless(async (event) => {
 *   await budget.execute(() => callPartner(event));
 *   return { statusCode: 200 };
 * }, { settle: [breaker, budget, limiter, writes, () => meterProvider.forceFlush()] });
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function serverless<E, C extends InvocationContextLike | undefined, R>(
  handler: (event: E, context: C) => R | PromiseLike<R>,
  options: ServerlessOptions<E, C>,
): (event: E, context: C) => Promise<Awaited<R>> {
  expectFunction('handler', handler);
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${describeValue(options)}`);
  }
  warnUnknownOptions('serverless()', options, { known: SERVERLESS_OPTIONS });
  const targets = expectTargets(options.settle);
  const deadlineMs =
    options.deadlineMs === undefined
      ? DEFAULT_SETTLE_DEADLINE_MS
      : expectPositive('deadlineMs', options.deadlineMs);
  const reserveMs =
    options.reserveMs === undefined
      ? DEFAULT_SETTLE_RESERVE_MS
      : expectNonNegative('reserveMs', options.reserveMs);
  const onSettleError = options.onSettleError;
  if (onSettleError !== undefined) expectFunction('onSettleError', onSettleError);
  const clock = options.clock ?? systemClock;
  if (typeof clock?.sleep !== 'function') {
    throw new TypeError(`Expected \`clock.sleep\` to be a function, got ${describeValue(clock)}`);
  }

  const settle = async (event: E, context: C): Promise<void> => {
    if (targets.length === 0) return;
    const remaining = remainingTime(context);
    const budgetMs = Math.max(
      0,
      remaining === undefined ? deadlineMs : Math.min(deadlineMs, remaining - reserveMs),
    );
    const failures = await settleAll(targets, { deadlineMs: budgetMs, clock });
    if (failures.length === 0) return;
    report(new SettleError(failures, budgetMs), event, context, onSettleError);
  };

  return async (event: E, context: C): Promise<Awaited<R>> => {
    let result: Awaited<R>;
    try {
      result = await handler(event, context);
    } catch (error) {
      await settle(event, context);
      throw error;
    }
    await settle(event, context);
    return result;
  };
}

function expectTargets(settle: unknown): readonly SettleTarget[] {
  if (!Array.isArray(settle)) {
    throw new TypeError(
      `Expected \`settle\` to be an array of policies and functions, got ${describeValue(settle)}`,
    );
  }
  settle.forEach((target: unknown, index) => {
    if (typeof target !== 'function' && !isSettleable(target)) {
      throw new TypeError(
        `Expected \`settle[${index}]\` to be a function or an object with a settle() method, got ${describeValue(target)}`,
      );
    }
  });
  // A copy: the list the handler settles cannot change under it.
  return [...(settle as SettleTarget[])];
}

function remainingTime(context: unknown): number | undefined {
  const get = (context as InvocationContextLike | undefined)?.getRemainingTimeInMillis;
  if (typeof get !== 'function') return undefined;
  try {
    const ms = get.call(context);
    return typeof ms === 'number' && Number.isFinite(ms) ? ms : undefined;
  } catch {
    return undefined;
  }
}

function report<E, C>(
  error: SettleError,
  event: E,
  context: C,
  onSettleError: ServerlessOptions<E, C>['onSettleError'],
): void {
  if (onSettleError !== undefined) {
    try {
      onSettleError(error, event, context);
      return;
    } catch (thrown) {
      warn(`serverless() onSettleError threw: ${describeError(thrown)}; ${error.message}`);
      return;
    }
  }
  warn(error.message);
}

function warn(message: string): void {
  const host = globalThis.process;
  if (typeof host?.emitWarning !== 'function') return;
  host.emitWarning(message, { type: BREAKWATER_WARNING_TYPE, code: SETTLE_ERROR_CODE });
}

function targetName(target: SettleTarget, index: number): string {
  const name = (target as { name?: unknown }).name;
  return typeof name === 'string' && name !== '' ? name : `settle[${index}]`;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
