/**
 * Options of {@link retryBudget}, their defaults and their validation.
 */
import {
  type Clock,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectUnitInterval,
  type OnStoreError,
  resolveStoreOptions,
  type StoreSettings,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import { RETRY_BUDGET_OPTIONS } from './known-options.js';
import { DEFAULTS } from './options.js';
import type { BudgetSpec, RetryBudgetStore } from './store.js';
import { memoryBudgetStore } from './stores/memory.js';

/** Options of {@link retryBudget}. */
export interface RetryBudgetOptions {
  /**
   * The budget's name: replicas using the same name (and store and prefix) share one budget.
   * @default 'retry'
   */
  name?: string;
  /**
   * Retries earned per call, in [0, 1]: 0.2 lets retries add at most 20 % to the load the
   * dependency sees (plus the reserve).
   * @default 0.2
   */
  ratio?: number;
  /**
   * Retries per second allowed regardless of traffic (finite, ≥ 0), so a quiet service can still
   * retry. Over the window this is a reserve of `minPerSecond × windowMs / 1000` retries.
   * @default 10
   */
  minPerSecond?: number;
  /**
   * How far back calls and retries count, in milliseconds (an integer ≥ 10).
   * @default 10_000
   */
  windowMs?: number;
  /**
   * How many slots the window is kept in (an integer ≥ 1); a slot leaves the window as a whole.
   * @default 10
   */
  slots?: number;
  /**
   * Where the budget lives. The default keeps it in this process; `redisBudgetStore` (from
   * `@breakwater/retry/redis`) and `dynamoBudgetStore` (from `@breakwater/retry/dynamodb`) share it
   * across the fleet.
   * @default memoryBudgetStore()
   */
  store?: RetryBudgetStore;
  /**
   * Calls are counted locally and reported to the store at most this often (milliseconds, ≥ 0),
   * and with every retry request, so successful calls cost no store round trip. Other replicas
   * see this replica's calls at most this late (while it keeps receiving calls). 0 reports on
   * every call.
   * @default 1_000
   */
  flushIntervalMs?: number;
  /**
   * What happens when the store fails, misses its deadline, or is degraded: `'fail-open'` allows
   * the retry, `'fail-closed'` refuses it, `'local'` decides from this process's own view of the
   * window (so each replica enforces the budget alone until the store is back). A call's deposit
   * that fails is dropped in every mode (fewer calls counted: fewer retries, never more).
   * @default 'local'
   */
  onStoreError?: OnStoreError | undefined;
  /**
   * Deadline of each store operation, in milliseconds (> 0, ≤ 2³¹−1); a slower answer counts as a
   * store failure.
   * @default 500 (core's `STORE_DEFAULTS.deadlineMs`)
   */
  storeDeadlineMs?: number | undefined;
  /**
   * After this many consecutive store failures the store is `degraded`: retries take the
   * `onStoreError` answer at once, without waiting on the store, until a probe succeeds.
   * @default 3 (core's `STORE_DEFAULTS.failureThreshold`)
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the store is degraded, how often it is probed in the background, in milliseconds.
   * @default 1_000 (core's `STORE_DEFAULTS.probeIntervalMs`)
   */
  storeProbeIntervalMs?: number | undefined;
  /**
   * Time source of the flush interval and of the local window; tests pass a fake clock.
   * @default systemClock
   */
  clock?: Clock;
}

/** Default of {@link RetryBudgetOptions.ratio} (same as `DEFAULTS.budget.ratio`). */
export const DEFAULT_BUDGET_RATIO = DEFAULTS.budget.ratio;
/** Default of {@link RetryBudgetOptions.minPerSecond} (same as `DEFAULTS.budget.minPerSecond`). */
export const DEFAULT_BUDGET_MIN_PER_SECOND = DEFAULTS.budget.minPerSecond;
/** Default of {@link RetryBudgetOptions.windowMs} (same as `DEFAULTS.budget.windowMs`). */
export const DEFAULT_BUDGET_WINDOW_MS = DEFAULTS.budget.windowMs;
/** Default of {@link RetryBudgetOptions.slots} (same as `DEFAULTS.budget.slots`). */
export const DEFAULT_BUDGET_SLOTS = DEFAULTS.budget.slots;
/**
 * Default of {@link RetryBudgetOptions.flushIntervalMs} (same as
 * `DEFAULTS.budget.flushIntervalMs`).
 */
export const DEFAULT_BUDGET_FLUSH_INTERVAL_MS = DEFAULTS.budget.flushIntervalMs;

/** Validated budget options, with defaults applied. */
export interface RetryBudgetSettings {
  readonly name: string;
  readonly spec: BudgetSpec;
  readonly store: RetryBudgetStore;
  readonly flushIntervalMs: number;
  /** The store options, resolved by core's `resolveStoreOptions`. */
  readonly storeSettings: StoreSettings;
  readonly clock: Clock;
}

/** Validates `options` and applies defaults. Throws naming the option and the bad value. */
export function resolveBudgetOptions(options: RetryBudgetOptions): RetryBudgetSettings {
  expectObject('options', options);
  warnUnknownOptions('retryBudget()', options, { known: RETRY_BUDGET_OPTIONS });
  const ratio =
    options.ratio === undefined ? DEFAULT_BUDGET_RATIO : expectUnitInterval('ratio', options.ratio);
  const minPerSecond =
    options.minPerSecond === undefined
      ? DEFAULT_BUDGET_MIN_PER_SECOND
      : expectNonNegative('minPerSecond', options.minPerSecond);
  const windowMs =
    options.windowMs === undefined
      ? DEFAULT_BUDGET_WINDOW_MS
      : expectInteger('windowMs', options.windowMs, 10);
  const slots =
    options.slots === undefined ? DEFAULT_BUDGET_SLOTS : expectInteger('slots', options.slots);
  const clock = options.clock ?? systemClock;
  expectFunction('clock.now', clock.now);
  const store = options.store ?? memoryBudgetStore({ clock });
  expectObject('store', store);
  expectFunction('store.scope', store.scope);
  return {
    name:
      options.name === undefined
        ? DEFAULTS.budget.name
        : expectNonEmptyString('name', options.name),
    spec: Object.freeze({
      ratio,
      reserve: (minPerSecond * windowMs) / 1000,
      windowMs,
      slotMs: windowMs / slots,
    }),
    store,
    flushIntervalMs:
      options.flushIntervalMs === undefined
        ? DEFAULT_BUDGET_FLUSH_INTERVAL_MS
        : expectNonNegative('flushIntervalMs', options.flushIntervalMs),
    storeSettings: resolveStoreOptions(options, { onStoreError: DEFAULTS.budget.onStoreError }),
    clock,
  };
}
