/**
 * The retry budget as the degradation suite's subject: a retry policy with a budget in Redis,
 * Redis Cluster or DynamoDB, and a call that fails once, so that every call asks the budget for a
 * retry. No vitest here: the suite's child process imports this module too.
 *
 * What the store answers is chosen per mode so that a healthy answer is one only the store gives:
 *
 * | mode          | budget                                          | store (healthy) | store failing           |
 * | ------------- | ----------------------------------------------- | --------------- | ----------------------- |
 * | `fail-open`   | allows no retries (`ratio` 0, `minPerSecond` 0) | refused         | granted                 |
 * | `fail-closed` | funded by the rest of the fleet (see `fund`)    | granted         | refused                 |
 * | `local`       | funded by the rest of the fleet                 | granted         | refused: by the local window, which has seen only this replica's own few calls (each earns 0.1 of a retry) |
 */
import type { BuildSubject, DegradationBuildContext } from '@breakwater/testkit/degradation-child';
import { dynamoBudgetStore } from '../../dynamodb.js';
import { type RetryBudgetStore, type RetryContext, retry, retryBudget } from '../../index.js';
import { redisBudgetStore } from '../../redis.js';

/** What a call resolves with when its retry was granted: the second attempt's result. */
export const RETRIED = 'retried';

/** The first attempt's error: what the call rejects with when the retry is refused. */
export class FirstAttemptError extends Error {
  override name = 'FirstAttemptError';
}

/** Retries earned per call in a funded budget; this replica's own calls never earn a whole one. */
export const FUNDED_RATIO = 0.1;

/** Calls the rest of the fleet reports into a funded budget: FUNDED_RATIO × this = 100 retries. */
const FLEET_CALLS = 1_000;

/**
 * Longer than any scenario, so nothing leaves the window meanwhile, and so that calls are reported
 * only with the first call (its batch is due at once) and then with each withdrawal: after the
 * first call, every call makes exactly one store operation, the withdrawal (the suite's
 * `callsToDegrade` is `failureThreshold`), and no batched deposit of calls fails in the background.
 */
const LONG_MS = 60_000;

/**
 * The fleet's deposit may not be lost to a stalled machine: a budget without its funds would
 * refuse a healthy call, and that would look like the subject's fault.
 */
const FLEET_DEADLINE_MS = 5_000;

function budgetStore(ctx: DegradationBuildContext): RetryBudgetStore {
  return ctx.backend === 'dynamodb'
    ? dynamoBudgetStore({ client: ctx.client, tableName: ctx.tableName, prefix: ctx.prefix })
    : redisBudgetStore({ client: ctx.client, prefix: ctx.prefix });
}

function failsOnce({ attempt }: RetryContext): string {
  if (attempt === 1) throw new FirstAttemptError('the first attempt fails');
  return RETRIED;
}

export const build: BuildSubject = async (ctx) => {
  const store = budgetStore(ctx);
  const funded = ctx.mode !== 'fail-open';
  const shape = {
    name: ctx.policyName,
    store,
    ratio: funded ? FUNDED_RATIO : 0,
    minPerSecond: 0,
    windowMs: LONG_MS,
    flushIntervalMs: LONG_MS,
  };
  const budget = retryBudget({
    ...shape,
    onStoreError: ctx.mode,
    storeDeadlineMs: ctx.deadlineMs,
    storeFailureThreshold: ctx.failureThreshold,
    storeProbeIntervalMs: ctx.probeIntervalMs,
  });
  const policy = retry({ name: ctx.policyName, maxAttempts: 2, backoff: () => 0, budget });

  // The rest of the fleet: another replica of the same budget, whose calls earn the retries this
  // replica withdraws. A Redis killed by the fault comes back empty, so it reports them again once
  // the store is back.
  const fleet = funded ? retryBudget({ ...shape, storeDeadlineMs: FLEET_DEADLINE_MS }) : undefined;
  const fund = async () => {
    if (fleet === undefined) return;
    for (let i = 0; i < FLEET_CALLS; i++) fleet.recordCall();
    await fleet.flush();
  };
  let refund = false;
  budget.onStoreStatusChange(({ status }) => {
    if (status === 'healthy') refund = true;
  });
  await fund();

  return {
    async call() {
      if (refund) {
        refund = false;
        await fund();
      }
      return policy.execute(failsOnce);
    },
    onStoreStatusChange: (listener) => budget.onStoreStatusChange(listener),
    get storeStatus() {
      return budget.storeStatus;
    },
    async close() {
      await budget.close();
      await fleet?.close();
      await store.close();
    },
  };
};
