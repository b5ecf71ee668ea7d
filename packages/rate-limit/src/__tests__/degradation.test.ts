// testkit's degradation suite (Principle 4) against the rate limiter, on Redis, Redis Cluster and
// DynamoDB: every fault and every `onStoreError` mode.
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { type CallOutcome, runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { isRateLimitedError, type RateLimitDecision } from '../index.js';
import { BURST, build, LIMIT, LOCAL_SHARE } from './degradation/subject.js';

function decisionOf(outcome: CallOutcome): RateLimitDecision {
  expect(outcome.status, 'the call is admitted').toBe('fulfilled');
  return (outcome as { value: RateLimitDecision }).value;
}

runDegradationSuite({
  pattern: 'rate-limit',
  build,
  childScript: fileURLToPath(new URL('./degradation/child.ts', import.meta.url)),
  expectAnswer(outcome, { mode, phase, deadlineMs }) {
    if (phase === 'healthy') {
      // Only the store says `source: 'store'`; each call's key is fresh, so it leaves the burst.
      expect(decisionOf(outcome)).toMatchObject({
        allowed: true,
        source: 'store',
        limit: LIMIT,
        remaining: BURST,
      });
      return;
    }
    switch (mode) {
      case 'fail-open':
        // Admitted without a store: the fixed degraded decision, nothing left to count.
        expect(decisionOf(outcome)).toEqual({
          allowed: true,
          limit: LIMIT,
          intervalMs: 1_000,
          remaining: 0,
          retryAfterMs: 0,
          resetAfterMs: 0,
          source: 'degraded',
        });
        return;
      case 'fail-closed': {
        expect(outcome.status, 'the call is refused').toBe('rejected');
        const error = (outcome as { error: unknown }).error;
        expect(isRateLimitedError(error), `a RateLimitedError, got ${String(error)}`).toBe(true);
        if (!isRateLimitedError(error)) return;
        expect(error.decision).toMatchObject({
          allowed: false,
          source: 'degraded',
          retryAfterMs: deadlineMs,
        });
        expect(error.retryAfterMs).toBe(deadlineMs);
        expect(isStoreError(error.cause), `its cause is a StoreError: ${String(error.cause)}`).toBe(
          true,
        );
        return;
      }
      case 'local':
        // Decided in memory on this replica's share of the limit: a fresh key leaves its burst.
        expect(decisionOf(outcome)).toMatchObject({
          allowed: true,
          source: 'degraded',
          limit: LIMIT * LOCAL_SHARE,
          remaining: Math.floor(BURST * LOCAL_SHARE),
        });
        expect(decisionOf(outcome).resetAfterMs).toBeGreaterThan(0);
        return;
    }
  },
});
