import type { Counter } from '@opentelemetry/api';
import { abortableSignal, contextWithoutSignal, raceAbort, raceLazyAbort } from './abort.js';
import { lazyAbortSourceOf } from './lazy-abort.js';
import type { LazyInstruments } from './lazy-instruments.js';
import type { ExecuteOptions, ExecutionContext, Policy } from './policy.js';
import { ATTR_POLICY_NAME, getTelemetry, type Telemetry } from './telemetry.js';
import { type KnownOptions, warnUnknownOptions } from './unknown-options.js';
import {
  expectedFunctionError,
  expectFunction,
  expectNonEmptyString,
  expectObject,
} from './validate.js';
import { CORE_PACKAGE } from './version.js';

/** What a fallback handler learns about the failed call. */
export interface FallbackContext {
  /** What the call failed with. */
  readonly error: unknown;
  /** The caller's signal (a never-aborting one if the caller passed none). */
  readonly signal: AbortSignal;
}

/** Options shared by both forms of {@link FallbackOptions}. */
export interface FallbackCommonOptions {
  /**
   * Decides which errors the fallback answers; the others propagate. A call aborted by the
   * caller's own signal always propagates, whatever this says.
   * @default every error
   */
  shouldHandle?: (error: unknown) => boolean;
  /**
   * Name reported in telemetry.
   * @default 'fallback'
   */
  name?: string;
}

/** Options of {@link fallback}: either a fixed `value` or a `handler` computing one. */
export type FallbackOptions<R> = FallbackCommonOptions &
  (
    | { /** Returned in place of the failed call's result. */ value: R; handler?: never }
    | {
        /** Computes the replacement result from the error. May be async. */
        handler: (ctx: FallbackContext) => R | PromiseLike<R>;
        value?: never;
      }
  );

/** A policy that answers handled failures with a fallback result. */
export interface FallbackPolicy<R> extends Policy<ExecutionContext, R> {
  /** The policy's name. */
  readonly name: string;
}

/** The options `fallback()` reads; any other draws a `BREAKWATER_UNKNOWN_OPTION` warning. */
export const FALLBACK_OPTIONS = {
  value: true,
  handler: true,
  shouldHandle: true,
  name: true,
} as const satisfies KnownOptions<FallbackOptions<unknown>>;

/**
 * Answers a failed call with a replacement result instead of the error.
 *
 * @example
 * const safe = fallback({ handler: ({ error }) => cachedPrices(), shouldHandle: isTimeoutError });
 * const prices = await pipeline(safe, timeout({ ms: 200 })).execute(fetchPrices);
 */
export function fallback<R>(options: FallbackOptions<R>): FallbackPolicy<R> {
  expectObject('options', options);
  warnUnknownOptions('fallback()', options, { known: FALLBACK_OPTIONS });
  const hasValue = 'value' in options;
  if (hasValue && options.handler !== undefined) {
    throw new TypeError('Expected either `value` or `handler`, got both');
  }
  if (!hasValue) expectFunction('handler', options.handler);
  const shouldHandle =
    options.shouldHandle === undefined
      ? undefined
      : expectFunction<(error: unknown) => boolean>('shouldHandle', options.shouldHandle);
  const name = options.name === undefined ? 'fallback' : expectNonEmptyString('name', options.name);
  const telemetry = getTelemetry(CORE_PACKAGE);
  const state: FallbackState<R> = {
    value: options.value as R,
    handler: hasValue ? undefined : options.handler,
    shouldHandle,
    telemetry,
    used: telemetry.instruments((meter) =>
      meter.createCounter('breakwater.fallback.used', {
        description: 'Failed calls answered by a fallback.',
        unit: '{call}',
      }),
    ),
    attributes: { [ATTR_POLICY_NAME]: name },
  };
  return {
    name,
    execute: (fn, executeOptions) => runWithFallback(state, fn, executeOptions),
  };
}

interface FallbackState<R> {
  readonly value: R;
  readonly handler: ((ctx: FallbackContext) => R | PromiseLike<R>) | undefined;
  readonly shouldHandle: ((error: unknown) => boolean) | undefined;
  readonly telemetry: Telemetry;
  readonly used: LazyInstruments<Counter>;
  readonly attributes: Record<string, string>;
}

async function runWithFallback<T, R>(
  state: FallbackState<R>,
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  options: ExecuteOptions | undefined,
): Promise<T | R> {
  if (typeof fn !== 'function') throw expectedFunctionError('fn', fn);
  // Inside a pipeline the options are the outer policy's lazy context: pass it on as is, and
  // follow its aborts without creating its signal.
  const lazyParent = lazyAbortSourceOf(options);
  const signal = lazyParent ? undefined : abortableSignal(options?.signal);
  if (lazyParent?.aborted) throw lazyParent.reason;
  if (signal?.aborted) throw signal.reason;
  const ctx = lazyParent
    ? (options as ExecutionContext)
    : signal
      ? { signal }
      : contextWithoutSignal();
  try {
    const pending = invoke(fn, ctx);
    return await (lazyParent
      ? raceLazyAbort(pending, lazyParent)
      : signal
        ? raceAbort(pending, signal)
        : pending);
  } catch (error) {
    if (lazyParent?.aborted) throw lazyParent.reason;
    if (signal?.aborted) throw signal.reason;
    if (state.shouldHandle && !state.shouldHandle(error)) throw error;
    state.used.instruments.add(1, state.attributes);
    state.telemetry.addSpanEvent('breakwater.fallback.used', state.attributes);
    return state.handler ? state.handler({ error, signal: ctx.signal }) : state.value;
  }
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
function invoke<T>(
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  ctx: ExecutionContext,
): PromiseLike<T> | T {
  try {
    return fn(ctx);
  } catch (error) {
    return Promise.reject(error);
  }
}
