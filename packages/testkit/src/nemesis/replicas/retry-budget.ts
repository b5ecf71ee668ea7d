/**
 * Nemesis replica: calls to a dependency that is down, through a retry policy whose fleet-wide
 * budget lives in Redis (through this replica's fault proxy). Every call and every attempt is
 * recorded, so the checker can count the fleet's retries against the budget.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { loadRetry } from '../patterns.js';
import { replicaRun } from '../replica-run.js';

/** Parameters of the retry-budget scenario. */
export interface RetryBudgetParams {
  ratio: number;
  minPerSecond: number;
  windowMs: number;
  slots: number;
  maxAttempts: number;
  storeDeadlineMs: number;
  /** Concurrent callers per replica, and the pause between two calls of one, in ms. */
  loops: number;
  pauseMs: number;
}

const run = replicaRun<RetryBudgetParams>();
const { retry, retryBudget, constant, redisBudgetStore } = await loadRetry();
const { params } = run;
const store = redisBudgetStore({ client: run.client, prefix: run.prefix });
const budget = retryBudget({
  name: 'nemesis',
  ratio: params.ratio,
  minPerSecond: params.minPerSecond,
  windowMs: params.windowMs,
  slots: params.slots,
  store,
  flushIntervalMs: 100,
  // Explicit, whatever the package's default becomes: each replica budgets alone while the store
  // is out of reach.
  onStoreError: 'local',
  storeDeadlineMs: params.storeDeadlineMs,
  storeProbeIntervalMs: 100,
});
const policy = retry({
  name: 'nemesis',
  maxAttempts: params.maxAttempts,
  backoff: constant({ delayMs: 5 }),
  budget,
});

await reportMessage('ready');
await run.waitForStart();
let calls = 0;
await Promise.all(
  Array.from({ length: params.loops }, async () => {
    while (run.running()) {
      const call = run.history.invoke('call');
      try {
        await policy.execute(async ({ attempt }) => {
          run.history.info('attempt', { call, attempt });
          await sleep(2);
          run.history.info('attempt-failed', { call, attempt });
          throw new Error('the dependency is down');
        });
        run.history.complete(call, 'ok', 'call');
      } catch (error) {
        run.history.complete(call, 'fail', 'call', { error: (error as Error).message });
      }
      calls++;
      await sleep(params.pauseMs);
    }
  }),
);
await budget.close();
await store.close();
await run.close();
await reportResult({ calls });
