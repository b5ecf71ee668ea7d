// testkit's degradation suite (Principle 4) against a fleet bulkhead, on Redis, Redis Cluster and
// DynamoDB: every fault and every `onStoreError` mode.
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { type CallOutcome, DEGRADATION_SETTINGS, runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { isBulkheadRejectedError } from '../index.js';
import { build, type CallAnswer } from './degradation/subject.js';

function answerOf(outcome: CallOutcome): CallAnswer {
  expect(outcome.status, 'the call runs').toBe('fulfilled');
  return (outcome as { value: CallAnswer }).value;
}

runDegradationSuite({
  pattern: 'bulkhead',
  build,
  childScript: fileURLToPath(new URL('./degradation/child.ts', import.meta.url)),
  // A failing call gets no lease, so it releases none. But an acquire that waits out its
  // deadline (hung store; a refused Redis, whose client queues commands) may still have been
  // granted, so the bulkhead sends the release of that lease as it gives up: a second store
  // operation, which fails one deadline later, while the next call waits on its own acquire.
  // With a threshold of 2 the store degrades during the second call, as it does when each
  // acquire fails with an error and releases nothing (a refused DynamoDB): not after the first.
  callsToDegrade: DEGRADATION_SETTINGS.failureThreshold,
  expectAnswer(outcome, { mode, phase }) {
    if (phase === 'healthy') {
      // Only a lease from the store carries a fencing token.
      expect(answerOf(outcome).fencingToken).toBeGreaterThan(0);
      return;
    }
    if (mode === 'fail-closed') {
      expect(outcome.status, 'the call is refused').toBe('rejected');
      const error = (outcome as { error: unknown }).error;
      expect(isBulkheadRejectedError(error), `a BulkheadRejectedError, got ${String(error)}`).toBe(
        true,
      );
      if (!isBulkheadRejectedError(error)) return;
      expect(error.reason).toBe('store-unavailable');
      expect(isStoreError(error.cause), `its cause is a StoreError: ${String(error.cause)}`).toBe(
        true,
      );
      return;
    }
    // 'fail-open' and 'local': runs without a permit, so without a fencing token.
    expect(answerOf(outcome)).toEqual({ fencingToken: undefined });
  },
});
