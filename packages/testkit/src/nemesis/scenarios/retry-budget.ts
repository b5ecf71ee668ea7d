/**
 * Retry budget under the nemesis: a fleet of replica processes calling a dependency that is down,
 * retrying through one budget in Redis, while the links and the store fail. Invariant: the
 * fleet's retries stay within the budget's bound (with the documented degraded and state-loss
 * allowances).
 */
import { fileURLToPath } from 'node:url';
import type { FaultName } from '../faults.js';
import { checkRetryBudget } from '../invariants/retry-budget.js';
import type { RetryBudgetParams } from '../replicas/retry-budget.js';
import type { Scenario } from '../scenario.js';

/** The faults the retry-budget scenario draws from. */
export const RETRY_BUDGET_FAULTS: readonly FaultName[] = [
  'proxy-latency',
  'proxy-drop',
  'proxy-reset',
  'store-pause',
  'store-crash',
  'store-crash-aof',
];

/** The retry-budget scenario, with `faults` (default: all of {@link RETRY_BUDGET_FAULTS}). */
export function retryBudgetScenario(
  faults: readonly FaultName[] = RETRY_BUDGET_FAULTS,
  replicas = 3,
): Scenario<RetryBudgetParams> {
  const params: RetryBudgetParams = {
    ratio: 0.2,
    minPerSecond: 5,
    windowMs: 2_000,
    slots: 4,
    maxAttempts: 4,
    storeDeadlineMs: 100,
    loops: 3,
    pauseMs: 10,
  };
  return {
    name: 'retry-budget',
    script: fileURLToPath(new URL('../replicas/retry-budget.ts', import.meta.url)),
    replicas,
    params,
    faults,
    perReplica: (fault) => fault.startsWith('proxy-') && fault !== 'proxy-drop',
    faultMs: [300, 1_500],
    healthyMs: [500, 1_500],
    check: (history) => [checkRetryBudget(history, { ...params, replicas })],
  };
}
