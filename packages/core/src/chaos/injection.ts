/**
 * How a chaos policy runs a call: straight through while it is off or the draw spares the call,
 * or with the fault, latency or outcome it injects.
 */
import type { Counter } from '@opentelemetry/api';
import { abortableSignal, contextWithoutSignal, raceAbort } from '../abort.js';
import type { Clock } from '../clock.js';
import { type LazyAbortController, lazyAbortSourceOf } from '../lazy-abort.js';
import type { LazyInstruments } from '../lazy-instruments.js';
import type { ExecuteOptions, ExecutionContext } from '../policy.js';
import type { Telemetry } from '../telemetry.js';
import { expectedFunctionError, expectNonNegative } from '../validate.js';

/** The injection a policy was built for, as functions of the call's context. */
export type ChaosSettings<R> =
  | { readonly kind: 'fault'; readonly makeFault: (ctx: ExecutionContext) => unknown }
  | { readonly kind: 'latency'; readonly latencyOf: (ctx: ExecutionContext) => number }
  | {
      readonly kind: 'outcome';
      readonly makeOutcome: (ctx: ExecutionContext) => R | PromiseLike<R>;
    };

/**
 * One chaos policy's injection, its switches (changed at run time) and its telemetry. The
 * injection sits in a field of its own so that the states of every kind share one shape: the
 * switched-off path reads `enabled` from a single hidden class.
 */
export interface ChaosState<R> {
  readonly injection: ChaosSettings<R>;
  enabled: boolean;
  injectionRate: number;
  readonly random: () => number;
  readonly clock: Clock;
  readonly telemetry: Telemetry;
  readonly injections: LazyInstruments<Counter>;
  readonly attributes: Record<string, string>;
}

/** Runs `fn` under a chaos policy. */
export function runChaos<T, R>(
  state: ChaosState<R>,
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  options: ExecuteOptions | undefined,
): Promise<T | R> {
  if (typeof fn !== 'function') return Promise.reject(expectedFunctionError('fn', fn));
  // Off, or spared by the draw: the policy is not there.
  if (!state.enabled || !(state.random() < state.injectionRate)) {
    if (options === undefined) return invoke(fn, contextWithoutSignal());
    return callThrough(fn, options);
  }
  return inject(state, fn, options);
}

/**
 * Calls `fn` as if no policy stood in between. Inside a pipeline `options` is the outer policy's
 * lazy context: it becomes `fn`'s context as is (no signal is created, and the outer policy,
 * which owns that abort, answers it as it would without this one). A caller's own signal is
 * honoured as every policy honours it: the call rejects with its reason as soon as it aborts.
 */
function callThrough<T>(
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  options: ExecuteOptions | undefined,
): Promise<T> {
  if (options === undefined) return invoke(fn, contextWithoutSignal());
  const lazyParent = lazyAbortSourceOf(options);
  if (lazyParent !== undefined) {
    if (lazyParent.aborted) return Promise.reject(lazyParent.reason);
    return invoke(fn, options as ExecutionContext);
  }
  const signal = abortableSignal(options.signal);
  if (signal === undefined) return invoke(fn, contextWithoutSignal());
  if (signal.aborted) return Promise.reject(signal.reason);
  return raceAbort(invoke(fn, { signal }), signal);
}

function inject<T, R>(
  state: ChaosState<R>,
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  options: ExecuteOptions | undefined,
): Promise<T | R> {
  const lazyParent = lazyAbortSourceOf(options);
  const signal = lazyParent === undefined ? abortableSignal(options?.signal) : undefined;
  if (lazyParent?.aborted) return Promise.reject(lazyParent.reason);
  if (signal?.aborted) return Promise.reject(signal.reason);
  const ctx =
    lazyParent !== undefined
      ? (options as ExecutionContext)
      : signal !== undefined
        ? { signal }
        : contextWithoutSignal();
  // Rare by design (a test or a game day): every injection is counted, none sampled.
  state.injections.instruments.add(1, state.attributes);
  state.telemetry.addSpanEvent('breakwater.chaos.injected', state.attributes);
  const injection = state.injection;
  switch (injection.kind) {
    case 'fault': {
      let fault: unknown;
      try {
        fault = injection.makeFault(ctx);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.reject(fault);
    }
    case 'outcome': {
      let outcome: Promise<R>;
      try {
        outcome = Promise.resolve(injection.makeOutcome(ctx));
      } catch (error) {
        return Promise.reject(error);
      }
      return signal === undefined ? outcome : raceAbort(outcome, signal);
    }
    case 'latency': {
      let ms: number;
      try {
        ms = expectNonNegative('latency', injection.latencyOf(ctx));
      } catch (error) {
        return Promise.reject(error);
      }
      return state.clock
        .sleep(ms, sleepSignal(lazyParent, signal))
        .then(() => callThrough(fn, options));
    }
  }
}

/**
 * The signal the injected wait listens to. A lazy parent's signal is created here: a latency
 * injection waits milliseconds, next to which creating it costs nothing.
 */
function sleepSignal(
  lazyParent: LazyAbortController | undefined,
  signal: AbortSignal | undefined,
): AbortSignal | undefined {
  return lazyParent === undefined ? signal : lazyParent.signal;
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
function invoke<T>(fn: (ctx: ExecutionContext) => T | PromiseLike<T>, ctx: ExecutionContext) {
  try {
    return Promise.resolve(fn(ctx));
  } catch (error) {
    return Promise.reject<T>(error);
  }
}
