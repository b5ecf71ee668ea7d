import type { Counter } from '@opentelemetry/api';
import { abortableSignal } from './abort.js';
import { TimeoutError } from './errors.js';
import { LazyAbortController, lazyAbortSourceOf, lazyContext } from './lazy-abort.js';
import type { LazyInstruments } from './lazy-instruments.js';
import type { ExecuteOptions, ExecutionContext, Policy } from './policy.js';
import { ATTR_POLICY_NAME, getTelemetry, type Telemetry } from './telemetry.js';
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
 * {@link TimeoutError} as its reason) or when the caller's signal aborts. The timer and the
 * listener on the caller's signal are removed as soon as the call settles.
 *
 * If the caller's signal aborts, the call rejects at once with `signal.reason`, whatever the
 * strategy: the caller has stopped waiting.
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
  const context: TimeoutContext = {
    name,
    ms,
    aggressive: strategy === 'aggressive',
    telemetry,
    timeouts,
    attributes,
  };
  return {
    name,
    ms,
    strategy,
    execute: (fn, executeOptions) => runWithTimeout(context, fn, executeOptions),
  };
}

interface TimeoutContext {
  readonly name: string;
  readonly ms: number;
  readonly aggressive: boolean;
  readonly telemetry: Telemetry;
  readonly timeouts: LazyInstruments<Counter>;
  readonly attributes: Record<string, string>;
}

function runWithTimeout<T>(
  policy: TimeoutContext,
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  options: ExecuteOptions | undefined,
): Promise<T> {
  if (typeof fn !== 'function') return Promise.reject(expectedFunctionError('fn', fn));
  // A parent that is itself a lazy context (inside a pipeline) is followed through its
  // controller, so neither its signal nor ours is created unless someone reads it.
  const lazyParent = lazyAbortSourceOf(options);
  const parent = lazyParent ? undefined : abortableSignal(options?.signal);
  if (lazyParent?.aborted) return Promise.reject(lazyParent.reason);
  if (parent?.aborted) return Promise.reject(parent.reason);

  return new Promise<T>((resolve, reject) => {
    const controller = new LazyAbortController();
    let settled = false;
    let timeoutError: TimeoutError | undefined;
    let unsubscribeParent: (() => void) | undefined;

    const settle = (ok: boolean, value: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (unsubscribeParent) unsubscribeParent();
      else parent?.removeEventListener('abort', onParentAbort);
      if (ok) resolve(value as T);
      else reject(value);
    };
    const onParentAbort = () => {
      const reason = lazyParent ? lazyParent.reason : parent!.reason;
      controller.abort(reason);
      settle(false, reason);
    };
    const timer = setTimeout(() => {
      timeoutError = new TimeoutError(`Policy "${policy.name}" timed out after ${policy.ms} ms`, {
        policyName: policy.name,
        timeoutMs: policy.ms,
      });
      policy.timeouts.instruments.add(1, policy.attributes);
      policy.telemetry.addSpanEvent('breakwater.timeout.timed_out', policy.attributes);
      controller.abort(timeoutError);
      if (policy.aggressive) settle(false, timeoutError);
    }, policy.ms);
    if (lazyParent) unsubscribeParent = lazyParent.onAbort(onParentAbort);
    else parent?.addEventListener('abort', onParentAbort, { once: true });

    let result: T | PromiseLike<T>;
    try {
      result = fn(lazyContext(controller));
    } catch (error) {
      settle(false, error);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        if (timeoutError) settle(false, timeoutError);
        else settle(true, value);
      },
      (error: unknown) => {
        if (timeoutError && error !== timeoutError) {
          // Keep what `fn` died of reachable for diagnosis, without hiding that time ran out.
          Object.defineProperty(timeoutError, 'cause', {
            value: error,
            configurable: true,
            writable: true,
          });
        }
        settle(false, timeoutError ?? error);
      },
    );
  });
}
