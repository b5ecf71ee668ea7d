// testkit's degradation suite for the retry budget, on Redis, Redis Cluster and DynamoDB: every
// fault, every onStoreError mode. A call is a retry policy running a function that fails once, so
// each call asks the budget for one retry (see degradation/budget-subject.ts for the budget each
// mode gets, chosen so that a healthy answer is one only the store gives). The dead-letter queue
// has its own file: dead-letters.degradation.test.ts.
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { type CallOutcome, runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { isRetryBudgetExhaustedError } from '../index.js';
import { build, FirstAttemptError, RETRIED } from './degradation/budget-subject.js';

/** The refusal a caller gets: the first attempt's error, with the budget's refusal as its cause. */
function expectRefused(outcome: CallOutcome): Error & { cause: unknown } {
  expect(outcome.status, 'the retry was granted; expected a refusal').toBe('rejected');
  const error = (outcome as { error: unknown }).error;
  expect(error, 'the call rejects with its own error').toBeInstanceOf(FirstAttemptError);
  const refusal = (error as Error).cause;
  expect(isRetryBudgetExhaustedError(refusal), 'its cause is the budget refusal').toBe(true);
  return refusal as Error & { cause: unknown };
}

runDegradationSuite({
  pattern: 'retry',
  build,
  childScript: fileURLToPath(new URL('./degradation/budget-child.ts', import.meta.url)),
  expectAnswer(outcome, { mode, phase }) {
    if (phase === 'healthy') {
      if (mode === 'fail-open') {
        // The budget allows no retries: only the store refuses here, and without a store error.
        const refusal = expectRefused(outcome);
        expect(refusal.cause, 'a refusal the store gave has no store error').toBeUndefined();
      } else {
        // Funded by the fleet's calls, which only the store has seen.
        expect(outcome).toMatchObject({ status: 'fulfilled', value: RETRIED });
      }
      return;
    }
    switch (mode) {
      case 'fail-open':
        expect(outcome).toMatchObject({ status: 'fulfilled', value: RETRIED });
        return;
      case 'fail-closed': {
        const refusal = expectRefused(outcome);
        expect(isStoreError(refusal.cause), 'the refusal names the store failure').toBe(true);
        return;
      }
      case 'local': {
        // The local window has seen only this replica's own calls, which earn less than a retry.
        const refusal = expectRefused(outcome) as Error & { available: number; cause: unknown };
        expect(refusal.available, "the local window's own count").toBeLessThan(1);
        expect(isStoreError(refusal.cause), 'the refusal names the store failure').toBe(true);
        return;
      }
    }
  },
});
