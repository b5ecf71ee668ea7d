/**
 * The retry policy users hold: what `retry()` returns. The first attempt runs without an async
 * frame of its own (the success path, nearly every call); once an attempt needs judging,
 * `continueAfter` decides, waits and runs the next attempt until the call succeeds or gives up.
 */
import {
  abortableSignal,
  CONTEXT_FIELDS,
  type ContextFields,
  coarseNow,
  type Disposer,
  expectedFunctionError,
  expectFunction,
  type LazyAbortController,
  Listeners,
  lazyAbortSourceOf,
  markFollowsAbort,
  raceAbort,
  raceLazyAbort,
  raceLazyAbortThen,
} from '@breakwater/core';
import { isNonRetryableError, RetryBudgetExhaustedError } from '../errors.js';
import type {
  AttemptOutcome,
  GiveUpEvent,
  GiveUpReason,
  RetryEvent,
  RetryFailure,
  SuccessEvent,
} from '../events.js';
import type { RetryExecuteOptions, RetrySettings } from '../options.js';
import type { RetryContext, RetryPolicyMembers } from '../retry.js';
import {
  ATTR_ATTEMPT,
  ATTR_DELAY_MS,
  ATTR_REASON,
  EVENT_GIVE_UP,
  EVENT_RETRY,
  type RetryInstruments,
  retryInstruments,
} from '../telemetry.js';
import { attemptContext, type CallerAbort, waitSignalOf } from './attempt-context.js';
import { attachCause, unwrap } from './caller-error.js';

/** How a failed attempt ends the call. */
type Verdict = 'retry' | 'accept' | GiveUpReason;

/** A retry policy; see `retry()`. */
/** Every attempt's context has this field beyond `signal` (see `attempt-context.ts`). */
const ATTEMPT_FIELD: ContextFields = Object.freeze(['attempt']);

export class Retry<R> implements RetryPolicyMembers<R> {
  /** `fn`'s context: `signal` and `attempt` (for `pipeline()`'s merge). */
  readonly [CONTEXT_FIELDS]: ContextFields = ATTEMPT_FIELD;
  readonly name: string;
  readonly maxAttempts: number;
  private readonly instruments: RetryInstruments;
  private readonly retryListeners = new Listeners<RetryEvent<R>>('retry onRetry');
  private readonly giveUpListeners = new Listeners<GiveUpEvent<R>>('retry onGiveUp');
  private readonly successListeners = new Listeners<SuccessEvent<R>>('retry onSuccess');

  constructor(private readonly settings: RetrySettings<R>) {
    this.name = settings.name;
    this.maxAttempts = settings.maxAttempts;
    this.instruments = retryInstruments(settings.name);
  }

  onRetry(listener: (event: RetryEvent<R>) => void): Disposer {
    return this.retryListeners.add(expectFunction('onRetry', listener));
  }

  onGiveUp(listener: (event: GiveUpEvent<R>) => void): Disposer {
    return this.giveUpListeners.add(expectFunction('onGiveUp', listener));
  }

  onSuccess(listener: (event: SuccessEvent<R>) => void): Disposer {
    return this.successListeners.add(expectFunction('onSuccess', listener));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  execute<T>(
    fn: (ctx: RetryContext) => T | PromiseLike<T>,
    options?: RetryExecuteOptions,
  ): Promise<T> {
    // Checked here because calling a non-function would throw a TypeError that looks retryable.
    if (typeof fn !== 'function') return Promise.reject(expectedFunctionError('fn', fn));
    // Inside a pipeline the options are the outer policy's lazy context: its aborts are followed
    // through its controller, so no signal is created unless `fn` reads `ctx.signal`. An outer
    // policy's never-aborted signal is no signal: nothing listens to it.
    const lazyParent = lazyAbortSourceOf(options);
    const caller: CallerAbort | undefined = lazyParent ?? abortableSignal(options?.signal);
    if (caller?.aborted) return Promise.reject(caller.reason);
    // A coarse reading (see core's `coarseNow`): the start only begins an elapsed time, and on
    // Node 20.20 a `Date.now()` was ~50 ns of this call's ~100 ns on the success path.
    const startedAt = coarseNow(this.settings.clock);
    this.settings.budget?.recordCall();
    let pending: T | PromiseLike<T>;
    try {
      pending = fn(attemptContext(caller, lazyParent, 1));
    } catch (error) {
      return this.continueAfter(
        fn,
        options,
        caller,
        lazyParent,
        startedAt,
        false,
        undefined,
        error,
      );
    }
    // The first attempt is awaited without an async frame of our own: on the success path, which
    // is nearly every call, that saves a promise and a resumption per call.
    const onValue = (value: T): T | Promise<T> =>
      this.settings.shouldRetry === undefined
        ? this.succeed(value, 1, startedAt)
        : this.continueAfter(fn, options, caller, lazyParent, startedAt, true, value, undefined);
    const onError = (error: unknown): Promise<T> =>
      this.continueAfter(fn, options, caller, lazyParent, startedAt, false, undefined, error);
    if (lazyParent !== undefined)
      return this.followLazyParent(pending, lazyParent, onValue, onError);
    return settledOrAborted(pending, caller, undefined).then(onValue, onError);
  }

  /**
   * The first attempt's outcome under a lazy parent. Inside a pipeline, the attempt's promise is
   * usually that of the next policy in, which settles once the parent aborts already:
   * `raceLazyAbortThen` then judges it with a plain `.then`, not raced again (see core's
   * abort-marks.ts, measured on Node 20.20: part of the five-strategy pipeline's gain there);
   * otherwise the race and the judging share one promise.
   *
   * The call's promise is marked as following the parent when nothing between the parent's abort
   * and its rejection can wait on I/O or user code: no retry budget (a store) and no dead-letter
   * sink (awaited before giving up). Backoff waits listen to the parent's signal.
   */
  private followLazyParent<T>(
    pending: T | PromiseLike<T>,
    lazyParent: LazyAbortController,
    onValue: (value: T) => T | Promise<T>,
    onError: (error: unknown) => Promise<T>,
  ): Promise<T> {
    const call = raceLazyAbortThen(pending, lazyParent, onValue, onError);
    const { budget, deadLetter } = this.settings;
    return budget === undefined && deadLetter === undefined
      ? markFollowsAbort(call, lazyParent)
      : call;
  }

  /**
   * The rest of a call once an attempt needs judging: decide, wait, run the next attempt, repeat.
   * `ok`, `value` and `error` are the outcome of the attempt that just ended.
   */
  private async continueAfter<T>(
    fn: (ctx: RetryContext) => T | PromiseLike<T>,
    options: RetryExecuteOptions | undefined,
    caller: CallerAbort | undefined,
    lazyParent: LazyAbortController | undefined,
    startedAt: number,
    firstOk: boolean,
    firstValue: T | undefined,
    firstError: unknown,
  ): Promise<T> {
    const { clock, budget } = this.settings;
    let ok = firstOk;
    let value = firstValue;
    let error = firstError;
    let attempt = 1;
    let lastDelayMs = 0;
    for (;;) {
      // The caller stopped waiting: whatever the attempt did, it is neither retried nor reported.
      if (caller?.aborted) throw caller.reason;
      if (ok && this.settings.shouldRetry === undefined) {
        return this.succeed(value as T, attempt, startedAt);
      }

      const outcome = (
        ok
          ? { ok, result: value, attempt, elapsedMs: clock.now() - startedAt }
          : { ok, error, attempt, elapsedMs: clock.now() - startedAt }
      ) as AttemptOutcome<R>;
      const verdict = this.judge(outcome);
      if (verdict === 'accept') return this.succeed(value as T, attempt, startedAt);
      if (verdict !== 'retry') return this.giveUp(verdict, outcome, startedAt, options, undefined);

      const baseDelayMs = this.nextDelay(attempt, lastDelayMs);
      const hint = this.settings.retryAfter(outcome);
      let delayMs = baseDelayMs;
      if (isDelay(hint) && hint > baseDelayMs) {
        // A hint past what the caller agreed to wait (an open breaker's whole break) is an
        // answer, not a delay: waiting it out would hold the caller and then spend the attempt
        // on a half-open probe.
        if (
          hint > this.settings.maxHintMs ||
          clock.now() - startedAt + hint > this.settings.maxElapsedMs
        ) {
          return this.giveUp('hint-too-long', outcome, startedAt, options, undefined);
        }
        delayMs = hint;
      }
      if (clock.now() - startedAt + delayMs > this.settings.maxElapsedMs) {
        return this.giveUp('max-elapsed', outcome, startedAt, options, undefined);
      }
      if (budget !== undefined) {
        const decision = await budget.tryAcquire(waitSignalOf(caller, lazyParent));
        if (caller?.aborted) throw caller.reason;
        if (!decision.granted) {
          const refusal = new RetryBudgetExhaustedError(
            `Retry budget "${budget.name}" is exhausted; policy "${this.name}" did not retry`,
            // A refusal `onStoreError` gave names the store failure it stood in for.
            { policyName: this.name, available: decision.available, cause: decision.storeError },
          );
          return this.giveUp('budget-exhausted', outcome, startedAt, options, refusal);
        }
      }
      this.reportRetry(outcome, delayMs);
      if (delayMs > 0) await clock.sleep(delayMs, waitSignalOf(caller, lazyParent));
      lastDelayMs = baseDelayMs;
      attempt++;

      ok = true;
      error = undefined;
      try {
        value = await settledOrAborted(
          fn(attemptContext(caller, lazyParent, attempt)),
          caller,
          lazyParent,
        );
      } catch (thrown) {
        ok = false;
        value = undefined;
        error = thrown;
      }
    }
  }

  /** Decides what a failed attempt (or a result `shouldRetry` must see) leads to. */
  private judge(outcome: AttemptOutcome<R>): Verdict {
    if (!outcome.ok && isNonRetryableError(outcome.error)) return 'not-retryable';
    // A throwing predicate propagates on purpose: it is a bug to surface, not a reason to retry.
    const retryable =
      this.settings.shouldRetry === undefined
        ? !outcome.ok
        : this.settings.shouldRetry(outcome) === true;
    if (!retryable) return outcome.ok ? 'accept' : 'not-retryable';
    if (outcome.attempt >= this.maxAttempts) return 'max-attempts';
    return 'retry';
  }

  private nextDelay(attempt: number, lastDelayMs: number): number {
    const delay = this.settings.backoff(attempt, lastDelayMs);
    if (!isDelay(delay)) {
      throw new RangeError(
        `Expected \`backoff\` to return a finite number >= 0, got ${String(delay)}`,
      );
    }
    return delay;
  }

  private succeed<T>(value: T, attempts: number, startedAt: number): T {
    const { instruments } = this;
    instruments.attempts.add(1, instruments.success);
    if (this.successListeners.active) {
      this.successListeners.emit({
        policyName: this.name,
        attempts,
        elapsedMs: this.settings.clock.now() - startedAt,
        result: value as unknown as R,
      });
    }
    return value;
  }

  private reportRetry(outcome: AttemptOutcome<R>, delayMs: number): void {
    const { instruments } = this;
    instruments.attempts.add(1, instruments.retry);
    instruments.delay.record(delayMs / 1000, instruments.base);
    instruments.telemetry.addSpanEvent(EVENT_RETRY, {
      ...instruments.base,
      [ATTR_ATTEMPT]: outcome.attempt,
      [ATTR_DELAY_MS]: delayMs,
    });
    if (this.retryListeners.active) {
      this.retryListeners.emit({
        policyName: this.name,
        attempt: outcome.attempt,
        delayMs,
        elapsedMs: outcome.elapsedMs,
        ok: outcome.ok,
        error: outcome.error,
        result: outcome.result,
      });
    }
  }

  private async giveUp<T>(
    reason: GiveUpReason,
    outcome: AttemptOutcome<R>,
    startedAt: number,
    options: RetryExecuteOptions | undefined,
    budgetError: RetryBudgetExhaustedError | undefined,
  ): Promise<T> {
    const { instruments, settings } = this;
    instruments.attempts.add(1, budgetError ? instruments.budgetExhausted : instruments.giveUp);
    instruments.telemetry.addSpanEvent(EVENT_GIVE_UP, {
      ...instruments.base,
      [ATTR_ATTEMPT]: outcome.attempt,
      [ATTR_REASON]: reason,
    });
    const error = outcome.ok ? undefined : unwrap(outcome.error);
    if (budgetError !== undefined && !outcome.ok) attachCause(error, budgetError);
    const failure: RetryFailure<R> = {
      policyName: this.name,
      reason,
      attempts: outcome.attempt,
      elapsedMs: settings.clock.now() - startedAt,
      startedAt,
      error,
      result: outcome.result,
      ok: outcome.ok,
      input: options?.input,
      budgetError,
    };
    let deadLetterError: unknown;
    if (settings.deadLetter !== undefined) {
      try {
        await settings.deadLetter(failure);
        instruments.deadLetters.add(1, instruments.deadLetterWritten);
      } catch (thrown) {
        deadLetterError = thrown;
        instruments.deadLetters.add(1, instruments.deadLetterFailed);
      }
    }
    if (this.giveUpListeners.active) {
      this.giveUpListeners.emit({ ...failure, deadLetterError });
    }
    if (outcome.ok) return outcome.result as unknown as T;
    throw error;
  }
}

/** `pending`, or the caller's abort reason as soon as the caller aborts first. */
function settledOrAborted<T>(
  pending: T | PromiseLike<T>,
  caller: CallerAbort | undefined,
  lazyParent: LazyAbortController | undefined,
): Promise<T> {
  if (caller === undefined) return Promise.resolve(pending);
  if (lazyParent !== undefined) return raceLazyAbort(pending, lazyParent);
  return raceAbort(pending, caller as AbortSignal);
}

function isDelay(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && Number.isFinite(value);
}
