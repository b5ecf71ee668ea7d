/**
 * Backoff schedules: how long to wait before each retry. A backoff is a plain function, so a
 * custom one is just `(attempt, lastDelayMs) => ms`; the factories below validate their options
 * once and return such a function. Backoffs are stateless (the policy passes the previous delay),
 * so one instance can serve any number of concurrent calls.
 */
import {
  expectFunction,
  expectNonNegative,
  expectObject,
  expectOneOf,
  expectPositive,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  decorrelated,
  EXPONENTIAL_JITTER_MODES,
  type ExponentialJitter,
  JITTER_MODES,
  type Jitter,
  jittered,
  type RandomSource,
} from './jitter.js';
import {
  BACKOFF_RENAMES,
  CONSTANT_BACKOFF_OPTIONS,
  EXPONENTIAL_BACKOFF_OPTIONS,
  LINEAR_BACKOFF_OPTIONS,
} from './known-options.js';

/**
 * Computes the delay before the next attempt, in milliseconds (a finite number ≥ 0): a function
 * `(attempt, lastDelayMs) => ms`, which may say how long it can wait at most
 * (`longestDelayMs`, below).
 *
 * `attempt` is the attempt that just failed: 1 before the first retry, 2 before the second, …
 * `lastDelayMs` is the delay this backoff returned before the failed attempt (0 before the first
 * retry). Server hints (`Retry-After`) do not feed into it.
 */
export type Backoff = ((attempt: number, lastDelayMs: number) => number) & {
  /**
   * The longest delay the backoff can return before any of the first `retries` retries, in
   * milliseconds. A retry policy waits out a server or policy hint (`retryAfterMs`) only up to
   * this for its `maxAttempts − 1` retries, unless its `maxHintMs` says otherwise. The built-in
   * backoffs have it; give a function of your own one with
   * `Object.assign((attempt) => …, { longestDelayMs: (retries) => … })`.
   */
  readonly longestDelayMs?: ((retries: number) => number) | undefined;
};

/** Options shared by the backoff factories. */
export interface BackoffCommonOptions {
  /**
   * Uniform random numbers in [0, 1) used for jitter; inject a seeded one for reproducible tests.
   * @default Math.random
   */
  random?: RandomSource;
}

/** Options of {@link constant}. */
export interface ConstantBackoffOptions extends BackoffCommonOptions {
  /** The delay before every retry, in milliseconds (finite, ≥ 0). */
  delayMs: number;
  /**
   * Jitter mode; with `'full'` or `'equal'`, `delayMs` is the ceiling of the drawn delay.
   * @default 'none'
   */
  jitter?: Jitter;
}

/** Options of {@link linear}. */
export interface LinearBackoffOptions extends BackoffCommonOptions {
  /** The delay before the first retry, in milliseconds (finite, ≥ 0). */
  initialMs: number;
  /**
   * Added to the delay for every further retry, in milliseconds (finite, ≥ 0).
   * @default initialMs
   */
  stepMs?: number;
  /**
   * Cap on the delay before jitter, in milliseconds (≥ `initialMs`).
   * @default 30_000
   */
  maxMs?: number;
  /**
   * Jitter mode; with `'full'` or `'equal'` the linear value is the ceiling of the drawn delay.
   * @default 'none'
   */
  jitter?: Jitter;
}

/** Options of {@link exponential}. */
export interface ExponentialBackoffOptions extends BackoffCommonOptions {
  /**
   * The delay before the first retry (and the base of decorrelated jitter), in milliseconds.
   * @default 100
   */
  initialMs?: number;
  /**
   * Growth per retry (≥ 1): the ceiling before retry n is `initialMs × factor^(n-1)`.
   * @default 2
   */
  factor?: number;
  /**
   * Cap on the delay, in milliseconds (≥ `initialMs`).
   * @default 10_000
   */
  maxMs?: number;
  /**
   * Jitter mode. `'full'` is what the AWS study found to do the least total work under contention.
   * @default 'full'
   */
  jitter?: ExponentialJitter;
}

/** Default cap of {@link linear}, in milliseconds. */
export const DEFAULT_LINEAR_MAX_MS = 30_000;
/** Default `initialMs` of {@link exponential}. */
export const DEFAULT_EXPONENTIAL_INITIAL_MS = 100;
/** Default `factor` of {@link exponential}. */
export const DEFAULT_EXPONENTIAL_FACTOR = 2;
/** Default `maxMs` of {@link exponential}. */
export const DEFAULT_EXPONENTIAL_MAX_MS = 10_000;

function randomOption(options: BackoffCommonOptions): RandomSource {
  return options.random === undefined
    ? Math.random
    : expectFunction<RandomSource>('random', options.random);
}

function capOption(value: number | undefined, fallback: number, floor: number): number {
  // The default cap must not fall below a large initial delay the user chose.
  const cap = value === undefined ? Math.max(fallback, floor) : expectNonNegative('maxMs', value);
  if (cap < floor) {
    throw new RangeError(`Expected \`maxMs\` to be >= initialMs (${floor}), got ${cap}`);
  }
  return cap;
}

/**
 * The same delay before every retry.
 *
 * @example
 * retry({ backoff: constant({ delayMs: 250, jitter: 'equal' }) }) // 125–250 ms each time
 */
export function constant(options: ConstantBackoffOptions): Backoff {
  expectObject('options', options);
  warnUnknownOptions('constant()', options, {
    known: CONSTANT_BACKOFF_OPTIONS,
    renames: BACKOFF_RENAMES,
  });
  const delayMs = expectNonNegative('delayMs', options.delayMs);
  const jitter =
    options.jitter === undefined ? 'none' : expectOneOf('jitter', options.jitter, JITTER_MODES);
  const random = randomOption(options);
  const longestDelayMs = (retries: number) => (retries > 0 ? delayMs : 0);
  if (jitter === 'none') return withLongest(() => delayMs, longestDelayMs);
  return withLongest(() => jittered(jitter, delayMs, random), longestDelayMs);
}

/**
 * A delay that grows by a fixed step: `initialMs + stepMs × (n-1)` before retry n, capped.
 *
 * @example
 * retry({ backoff: linear({ initialMs: 100, stepMs: 100, maxMs: 1_000 }) }) // 100, 200, 300, …
 */
export function linear(options: LinearBackoffOptions): Backoff {
  expectObject('options', options);
  warnUnknownOptions('linear()', options, {
    known: LINEAR_BACKOFF_OPTIONS,
    renames: BACKOFF_RENAMES,
  });
  const initialMs = expectNonNegative('initialMs', options.initialMs);
  const stepMs =
    options.stepMs === undefined ? initialMs : expectNonNegative('stepMs', options.stepMs);
  const maxMs = capOption(options.maxMs, DEFAULT_LINEAR_MAX_MS, initialMs);
  const jitter =
    options.jitter === undefined ? 'none' : expectOneOf('jitter', options.jitter, JITTER_MODES);
  const random = randomOption(options);
  const ceiling = (attempt: number) => Math.min(maxMs, initialMs + stepMs * (attempt - 1));
  return withLongest(
    (attempt) => jittered(jitter, ceiling(attempt), random),
    (retries) => (retries > 0 ? ceiling(retries) : 0),
  );
}

/**
 * A delay that multiplies by `factor` after every retry, capped at `maxMs`, with jitter (full by
 * default). The right choice for calls to a shared dependency: clients back off quickly when it
 * struggles and their retries spread out.
 *
 * @example
 * retry({ backoff: exponential({ initialMs: 100, maxMs: 10_000, factor: 2, jitter: 'full' }) })
 */
export function exponential(options: ExponentialBackoffOptions = {}): Backoff {
  expectObject('options', options);
  warnUnknownOptions('exponential()', options, {
    known: EXPONENTIAL_BACKOFF_OPTIONS,
    renames: BACKOFF_RENAMES,
  });
  const initialMs =
    options.initialMs === undefined
      ? DEFAULT_EXPONENTIAL_INITIAL_MS
      : expectNonNegative('initialMs', options.initialMs);
  const factor =
    options.factor === undefined
      ? DEFAULT_EXPONENTIAL_FACTOR
      : expectPositive('factor', options.factor);
  if (factor < 1) throw new RangeError(`Expected \`factor\` to be >= 1, got ${factor}`);
  const maxMs = capOption(options.maxMs, DEFAULT_EXPONENTIAL_MAX_MS, initialMs);
  const jitter =
    options.jitter === undefined
      ? 'full'
      : expectOneOf('jitter', options.jitter, EXPONENTIAL_JITTER_MODES);
  const random = randomOption(options);
  if (jitter === 'decorrelated') {
    // Each delay is below 3 × the previous one (and ≥ initialMs), so retry n waits < initialMs × 3^n.
    return withLongest(
      (_attempt, lastDelayMs) => decorrelated(initialMs, maxMs, lastDelayMs, random),
      (retries) => (retries > 0 ? exponentialCeiling(initialMs, 3, maxMs, retries + 1) : 0),
    );
  }
  return withLongest(
    (attempt) => jittered(jitter, exponentialCeiling(initialMs, factor, maxMs, attempt), random),
    (retries) => (retries > 0 ? exponentialCeiling(initialMs, factor, maxMs, retries) : 0),
  );
}

/** `delay` with its {@link Backoff.longestDelayMs}. */
function withLongest(
  delay: (attempt: number, lastDelayMs: number) => number,
  longestDelayMs: (retries: number) => number,
): Backoff {
  return Object.assign(delay, { longestDelayMs });
}

function exponentialCeiling(
  initialMs: number,
  factor: number,
  maxMs: number,
  attempt: number,
): number {
  // factor^(n-1) overflows to Infinity for large n, which Math.min turns into the cap; but
  // 0 × Infinity is NaN, so a zero base stays zero explicitly.
  if (initialMs === 0) return 0;
  return Math.min(maxMs, initialMs * factor ** (attempt - 1));
}
