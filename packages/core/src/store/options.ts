/**
 * The store options every store-backed policy takes, with the same names, the same validation and
 * the same defaults everywhere (a pattern overrides a default only where its README says why).
 * See the core README, "When the store fails".
 */
import { describeValue, expectInteger, expectOneOf, expectPositive } from '../validate.js';

/**
 * What a store-backed policy does when its store fails, misses its deadline, or is degraded:
 *
 * - `'fail-open'`: act as if the store allowed the call (admit, treat the circuit as closed, …).
 * - `'fail-closed'`: act as if the store refused it (reject with the policy's error).
 * - `'local'`: decide with in-process state until the store is back.
 */
export type OnStoreError = 'fail-open' | 'fail-closed' | 'local';

/** The accepted values of {@link OnStoreError}, for validation and documentation. */
export const ON_STORE_ERROR_MODES: readonly OnStoreError[] = ['fail-open', 'fail-closed', 'local'];

/**
 * The longest deadline `setTimeout` can honour; Node fires longer delays after 1 ms, which would
 * turn a generous deadline into an instant timeout.
 */
export const MAX_STORE_DEADLINE_MS = 2_147_483_647;

/** The store settings of one policy, resolved and validated. */
export interface StoreSettings {
  /** What the policy answers when the store fails. */
  readonly onStoreError: OnStoreError;
  /** Deadline of each store operation, in milliseconds. */
  readonly deadlineMs: number;
  /** Consecutive failures after which the store counts as degraded. */
  readonly failureThreshold: number;
  /** While degraded, how often the store is probed, in milliseconds. */
  readonly probeIntervalMs: number;
}

/**
 * The defaults every pattern shares:
 *
 * - `deadlineMs: 500` — a Redis round trip takes well under a millisecond and a DynamoDB request a
 *   few; 500 ms is far past both (and past the SDK's own retry of a throttled request), yet short
 *   enough that a hung store costs a caller half a second once, not a socket timeout.
 * - `failureThreshold: 3` — one slow answer (a Redis fork, a GC pause) does not switch a fleet to
 *   its fallback; three in a row is an outage.
 * - `probeIntervalMs: 1000` — while degraded, one background probe per second: recovery is noticed
 *   within a second, at a cost of one cheap store request per second per policy.
 * - `onStoreError` has no shared default: each pattern picks the answer that is safe for it.
 */
export const STORE_DEFAULTS = {
  deadlineMs: 500,
  failureThreshold: 3,
  probeIntervalMs: 1000,
} as const;

/** The store options as users write them, with the names every pattern uses. */
export interface StoreOptions {
  /** What the policy answers when the store fails; see {@link OnStoreError}. */
  onStoreError?: OnStoreError | undefined;
  /**
   * Deadline of each store operation, in milliseconds (> 0, ≤ 2³¹−1). A slower answer counts as
   * a store failure; the call takes the `onStoreError` answer.
   */
  storeDeadlineMs?: number | undefined;
  /**
   * After this many consecutive store failures the store is `degraded`: calls take the
   * `onStoreError` answer at once, without waiting on the store, until a probe succeeds.
   */
  storeFailureThreshold?: number | undefined;
  /** While the store is degraded, how often it is probed in the background, in milliseconds. */
  storeProbeIntervalMs?: number | undefined;
}

/** The defaults of one pattern, the shared ones with its own `onStoreError` and overrides. */
export interface StoreDefaults {
  /** The pattern's default answer to a store failure. */
  readonly onStoreError: OnStoreError;
  /** The pattern's default `storeDeadlineMs`, if not the shared one. */
  readonly deadlineMs?: number | undefined;
  /** The pattern's default `storeFailureThreshold`, if not the shared one. */
  readonly failureThreshold?: number | undefined;
  /** The pattern's default `storeProbeIntervalMs`, if not the shared one. */
  readonly probeIntervalMs?: number | undefined;
}

/**
 * Validates the store options of a policy and fills in the defaults.
 *
 * @throws {RangeError | TypeError} naming the option and the value received:
 *   ``RangeError: Expected `storeDeadlineMs` to be at most 2147483647, got 3000000000``.
 */
export function resolveStoreOptions(options: StoreOptions, defaults: StoreDefaults): StoreSettings {
  return {
    onStoreError: expectOneOf(
      'onStoreError',
      options.onStoreError ?? defaults.onStoreError,
      ON_STORE_ERROR_MODES,
    ),
    deadlineMs: expectDeadline(
      'storeDeadlineMs',
      options.storeDeadlineMs ?? defaults.deadlineMs ?? STORE_DEFAULTS.deadlineMs,
    ),
    failureThreshold: expectInteger(
      'storeFailureThreshold',
      options.storeFailureThreshold ?? defaults.failureThreshold ?? STORE_DEFAULTS.failureThreshold,
    ),
    probeIntervalMs: expectDeadline(
      'storeProbeIntervalMs',
      options.storeProbeIntervalMs ?? defaults.probeIntervalMs ?? STORE_DEFAULTS.probeIntervalMs,
    ),
  };
}

/**
 * A duration a timer can honour: a finite number > 0 and ≤ {@link MAX_STORE_DEADLINE_MS}.
 * @throws {RangeError | TypeError} naming `name`.
 */
export function expectDeadline(name: string, value: unknown): number {
  const ms = expectPositive(name, value);
  if (ms > MAX_STORE_DEADLINE_MS) {
    throw new RangeError(
      `Expected \`${name}\` to be at most ${MAX_STORE_DEADLINE_MS}, got ${describeValue(value)}`,
    );
  }
  return ms;
}
