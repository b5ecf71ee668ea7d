/**
 * The in-process retry-budget store, the default: state lives in this process only, so each
 * replica enforces the budget on its own traffic.
 */
import { type Clock, systemClock } from '@breakwater/core';
import { BudgetWindow } from '../budget-window.js';
import type { BudgetRequest, BudgetResult, BudgetSpec, RetryBudgetStore } from '../store.js';

/** Options of {@link memoryBudgetStore}. */
export interface MemoryBudgetStoreOptions {
  /**
   * Time source of the window; tests pass a fake clock.
   * @default systemClock
   */
  clock?: Clock;
}

/**
 * An in-process {@link RetryBudgetStore}. One store may hold any number of budgets (by name).
 * A budget whose spec changes (a new `ratio`, another window) starts a fresh window.
 */
export function memoryBudgetStore(options: MemoryBudgetStoreOptions = {}): RetryBudgetStore {
  const clock = options.clock ?? systemClock;
  const windows = new Map<string, { spec: BudgetSpec; window: BudgetWindow }>();
  return {
    kind: 'memory',
    inProcess: true,
    record(request: BudgetRequest): Promise<BudgetResult> {
      let entry = windows.get(request.name);
      if (entry === undefined || !sameSpec(entry.spec, request.spec)) {
        entry = { spec: request.spec, window: new BudgetWindow(request.spec) };
        windows.set(request.name, entry);
      }
      return Promise.resolve(entry.window.record(clock.now(), request.calls, request.withdraw));
    },
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
