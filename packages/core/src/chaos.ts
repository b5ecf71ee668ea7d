import { type ChaosSettings, type ChaosState, runChaos } from './chaos/injection.js';
import { type Clock, systemClock } from './clock.js';
import type { ExecutionContext, Policy } from './policy.js';
import { ATTR_POLICY_NAME, getTelemetry } from './telemetry.js';
import { type KnownOptions, warnUnknownOptions } from './unknown-options.js';
import {
  describeValue,
  expectFunction,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectUnitInterval,
} from './validate.js';
import { CORE_PACKAGE } from './version.js';

/** What a {@link chaos} policy injects: a thrown fault, a delay before the call, or a substitute result. */
export type ChaosKind = 'fault' | 'latency' | 'outcome';

/** Attribute naming what a chaos policy injected (`fault`, `latency`, `outcome`). */
export const ATTR_CHAOS_KIND = 'breakwater.chaos.kind';

/** Options of every {@link chaos} policy, whatever it injects. */
export interface ChaosCommonOptions {
  /**
   * Share of calls to inject into, in [0, 1]: a call is injected when `random() < injectionRate`,
   * so `0` never injects and `1` always does. Changeable at run time through
   * {@link ChaosPolicy.injectionRate}.
   * @default 0.1
   */
  injectionRate?: number;
  /**
   * Whether the policy injects at all. Off unless `true`, so a chaos policy left in production
   * code does nothing until switched on (at run time through {@link ChaosPolicy.enabled}); while
   * off, a call costs what calling `fn` costs.
   * @default false
   */
  enabled?: boolean;
  /**
   * Source of uniformly distributed numbers in [0, 1), drawn once per call while enabled. Give a
   * seeded generator to make a test's injections repeatable.
   * @default Math.random
   */
  random?: () => number;
  /**
   * The clock whose `sleep` makes an injected latency (testkit's `fakeClock()` in tests).
   * @default systemClock
   */
  clock?: Clock;
  /**
   * Name reported in telemetry.
   * @default 'chaos'
   */
  name?: string;
}

/** Options of a {@link chaos} policy that throws instead of calling `fn`. */
export interface ChaosFaultOptions extends ChaosCommonOptions {
  /**
   * What an injected call rejects with, without calling `fn`: an error (the same instance every
   * time), or a function of the call's context returning what to throw (a fresh error per call,
   * or one chosen from the context).
   */
  fault: Error | ((ctx: ExecutionContext) => unknown);
  /** Not with this kind: one kind per policy. */
  latency?: never;
  /** Not with this kind: one kind per policy. */
  outcome?: never;
}

/** Options of a {@link chaos} policy that delays the call. */
export interface ChaosLatencyOptions extends ChaosCommonOptions {
  /**
   * How long an injected call waits before `fn` runs, in milliseconds (finite, ≥ 0), or a
   * function of the call's context returning it (jitter, a slow tail). The wait ends at once, and
   * the call rejects with the abort reason, when the call's signal aborts.
   */
  latency: number | ((ctx: ExecutionContext) => number);
  /** Not with this kind: one kind per policy. */
  fault?: never;
  /** Not with this kind: one kind per policy. */
  outcome?: never;
}

/** Options of a {@link chaos} policy that answers instead of calling `fn`. */
export interface ChaosOutcomeOptions<R> extends ChaosCommonOptions {
  /**
   * What an injected call resolves to, without calling `fn`: a value, or a function of the call's
   * context returning it (may be async; if it throws or rejects, the call rejects with that). A
   * function is always called, so to substitute a function value, return it from one:
   * `outcome: () => handler`.
   */
  outcome: R | ((ctx: ExecutionContext) => R | PromiseLike<R>);
  /** Not with this kind: one kind per policy. */
  fault?: never;
  /** Not with this kind: one kind per policy. */
  latency?: never;
}

/** Options of {@link chaos}: exactly one of `fault`, `latency` or `outcome`, with the common ones. */
export type ChaosOptions<R = never> =
  | ChaosFaultOptions
  | ChaosLatencyOptions
  | ChaosOutcomeOptions<R>;

/**
 * A policy that injects one kind of chaos into a share of the calls it runs, and can be switched
 * on and off, or have its rate changed, while the program runs.
 *
 * @typeParam R - the substitute result of an `outcome` policy; `never` for the other kinds.
 */
export interface ChaosPolicy<R = never> extends Policy<ExecutionContext, R> {
  /** The policy's name. */
  readonly name: string;
  /** What it injects. */
  readonly kind: ChaosKind;
  /**
   * Whether it injects. Assign to switch it at run time; takes effect from the next call. Setting
   * anything but a boolean throws a `TypeError`.
   */
  enabled: boolean;
  /**
   * The share of calls it injects into while enabled. Assign to change it at run time; a value
   * outside [0, 1] throws a `RangeError` and leaves the rate as it was.
   */
  injectionRate: number;
}

/** The `injectionRate` of a chaos policy given none. */
export const DEFAULT_INJECTION_RATE = 0.1;

/** The options `chaos()` reads; any other draws a `BREAKWATER_UNKNOWN_OPTION` warning. */
export const CHAOS_OPTIONS = {
  fault: true,
  latency: true,
  outcome: true,
  injectionRate: true,
  enabled: true,
  random: true,
  clock: true,
  name: true,
} as const satisfies KnownOptions<ChaosOptions<unknown>>;

const KINDS = ['fault', 'latency', 'outcome'] as const;

/**
 * A policy that injects chaos into a share of its calls, to test that the policies around it (and
 * the code that calls them) hold up under faults, slow dependencies and odd answers. Each policy
 * injects one kind, chosen by which option it is given:
 *
 * - `fault`: rejects with the given error (or the one a function makes) without calling `fn`;
 * - `latency`: waits, then calls `fn`; the wait honours the call's signal;
 * - `outcome`: resolves with a substitute result without calling `fn`.
 *
 * It is **off until enabled** (`enabled: true`, or `policy.enabled = true` at run time). While
 * off, or for a call it does not inject into, it runs `fn` as if it were not there. Compose
 * several in a `pipeline()` for several kinds at once, innermost, next to the call they stand in
 * for: `pipeline(retry, breaker, chaos({ fault }), chaos({ latency }))`.
 *
 * @example
 * const outage = chaos({ fault: () => new Error('injected outage'), injectionRate: 0.2 });
 * const payments = pipeline(retry({ maxAttempts: 3 }), outage);
 * outage.enabled = process.env.CHAOS === 'on';
 */
export function chaos<R>(options: ChaosOutcomeOptions<R>): ChaosPolicy<R>;
export function chaos(options: ChaosFaultOptions | ChaosLatencyOptions): ChaosPolicy;
export function chaos<R>(options: ChaosOptions<R>): ChaosPolicy<R> {
  expectObject('options', options);
  warnUnknownOptions('chaos()', options, { known: CHAOS_OPTIONS });
  const settings = injectionOf<R>(options);
  const random =
    options.random === undefined
      ? Math.random
      : expectFunction<() => number>('random', options.random);
  const clock = options.clock === undefined ? systemClock : expectClock(options.clock);
  const name = options.name === undefined ? 'chaos' : expectNonEmptyString('name', options.name);
  const telemetry = getTelemetry(CORE_PACKAGE);
  const state: ChaosState<R> = {
    injection: settings,
    enabled: options.enabled === undefined ? false : expectBoolean('enabled', options.enabled),
    injectionRate:
      options.injectionRate === undefined
        ? DEFAULT_INJECTION_RATE
        : expectUnitInterval('injectionRate', options.injectionRate),
    random,
    clock,
    telemetry,
    injections: telemetry.instruments((meter) =>
      meter.createCounter('breakwater.chaos.injections', {
        description: 'Calls into which a chaos policy injected a fault, a latency or an outcome.',
        unit: '{call}',
      }),
    ),
    attributes: { [ATTR_POLICY_NAME]: name, [ATTR_CHAOS_KIND]: settings.kind },
  };
  return {
    name,
    kind: settings.kind,
    get enabled() {
      return state.enabled;
    },
    set enabled(value: boolean) {
      state.enabled = expectBoolean('enabled', value);
    },
    get injectionRate() {
      return state.injectionRate;
    },
    set injectionRate(value: number) {
      state.injectionRate = expectUnitInterval('injectionRate', value);
    },
    execute: (fn, executeOptions) => runChaos(state, fn, executeOptions),
  };
}

/** The one injection `options` asks for, validated. */
function injectionOf<R>(options: ChaosOptions<R>): ChaosSettings<R> {
  const given = KINDS.filter((kind) =>
    kind === 'outcome' ? 'outcome' in options : options[kind] !== undefined,
  );
  if (given.length !== 1) {
    throw new TypeError(
      `Expected exactly one of \`fault\`, \`latency\` or \`outcome\`, got ${
        given.length === 0 ? 'none' : given.map((kind) => `\`${kind}\``).join(' and ')
      }`,
    );
  }
  const kind = given[0]!;
  if (kind === 'fault') {
    const fault = (options as ChaosFaultOptions).fault as unknown;
    if (typeof fault === 'function') {
      return { kind, makeFault: fault as (ctx: ExecutionContext) => unknown };
    }
    if (typeof fault !== 'object' || fault === null) {
      throw new TypeError(
        `Expected \`fault\` to be an Error or a function returning what to throw, got ${describeValue(fault)}`,
      );
    }
    return { kind, makeFault: () => fault };
  }
  if (kind === 'latency') {
    const latency = (options as ChaosLatencyOptions).latency as unknown;
    if (typeof latency === 'function') {
      return { kind, latencyOf: latency as (ctx: ExecutionContext) => number };
    }
    const ms = expectNonNegative('latency', latency);
    return { kind, latencyOf: () => ms };
  }
  const outcome = (options as ChaosOutcomeOptions<R>).outcome;
  return {
    kind,
    makeOutcome:
      typeof outcome === 'function'
        ? (outcome as (ctx: ExecutionContext) => R | PromiseLike<R>)
        : () => outcome,
  };
}

function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describeValue(value)}`);
  }
  return value;
}

function expectClock(value: unknown): Clock {
  const clock = value as Partial<Clock> | null;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.sleep !== 'function'
  ) {
    throw new TypeError(
      `Expected \`clock\` to be a Clock (an object with now() and sleep()), got ${describeValue(value)}`,
    );
  }
  return clock as Clock;
}
