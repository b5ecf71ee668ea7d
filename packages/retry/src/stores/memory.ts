/**
 * The in-process retry-budget store, the default: state lives in this process only, so each
 * replica enforces the budget on its own traffic.
 */
import {
  type Clock,
  expectNonEmptyString,
  expectObject,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import { BudgetWindow } from '../budget/window.js';
import { MEMORY_BUDGET_STORE_OPTIONS } from '../known-options.js';
import type {
  BudgetRequest,
  BudgetResult,
  BudgetScope,
  BudgetScopeOptions,
  BudgetSpec,
  RetryBudgetStore,
} from '../store.js';

/** Options of {@link memoryBudgetStore}. */
export interface MemoryBudgetStoreOptions {
  /**
   * Time source of the window; tests pass a fake clock.
   * @default systemClock
   */
  clock?: Clock;
}

/**
 * An in-process {@link RetryBudgetStore}. One store may hold any number of budgets (by name);
 * budgets scoped with the same name and spec share one window. A budget whose spec differs (a
 * new `ratio`, another window) starts a fresh one. It answers synchronously and can neither fail
 * nor hang.
 */
export function memoryBudgetStore(options: MemoryBudgetStoreOptions = {}): RetryBudgetStore {
  warnUnknownOptions('memoryBudgetStore()', options, { known: MEMORY_BUDGET_STORE_OPTIONS });
  const clock = options.clock ?? systemClock;
  const windows = new Map<string, { spec: BudgetSpec; window: BudgetWindow }>();
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'memory',
    inProcess: true,
    scope({ name, spec }: BudgetScopeOptions): BudgetScope {
      expectNonEmptyString('name', name);
      expectObject('spec', spec);
      let entry = windows.get(name);
      if (entry === undefined || !sameSpec(entry.spec, spec)) {
        entry = { spec, window: new BudgetWindow(spec) };
        windows.set(name, entry);
      }
      const window = entry.window;
      return {
        record: (request: BudgetRequest): BudgetResult =>
          window.record(clock.now(), request.calls, request.withdraw),
      };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function sameSpec(a: BudgetSpec, b: BudgetSpec): boolean {
  return (
    a === b ||
    (a.ratio === b.ratio &&
      a.reserve === b.reserve &&
      a.windowMs === b.windowMs &&
      a.slotMs === b.slotMs)
  );
}
