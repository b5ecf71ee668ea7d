// testkit's degradation suite (Principle 4) against a strict circuit breaker, on Redis, Redis
// Cluster and DynamoDB: every fault and every `onStoreError` mode. What a call is, and why it
// makes one store operation once the store fails: degradation/subject.ts.
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { DEGRADATION_SETTINGS, runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { isBrokenCircuitError } from '../index.js';
import { build, RAN } from './degradation/subject.js';

runDegradationSuite({
  pattern: 'circuit-breaker',
  build,
  childScript: fileURLToPath(new URL('./degradation/child.ts', import.meta.url)),
  // A healthy call makes two store operations (its read and its write), a failing one makes one:
  // 'fail-closed' rejects it when the read fails, and the others do not wait for a write while the
  // store fails. So `failureThreshold` failing calls degrade the store.
  callsToDegrade: DEGRADATION_SETTINGS.failureThreshold,
  expectAnswer(outcome, { mode, phase, deadlineMs }) {
    if (phase === 'healthy') {
      // The store's view admitted the call and took its outcome. A fallback would have answered
      // only an operation that missed its deadline: under 'fail-closed' by rejecting the call,
      // under 'fail-open' and 'local' by running it all the same, so there the time is the one
      // sign of it. (The suite tries a healthy call that waited out the deadline again: on a
      // stalled machine the retry, answered by the store, also clears the failure the slow one
      // left, which would otherwise degrade the store one failing call early.)
      expect(outcome).toMatchObject({ status: 'fulfilled', value: RAN });
      expect(outcome.elapsedMs, 'answered before the store deadline').toBeLessThan(deadlineMs);
      return;
    }
    if (mode !== 'fail-closed') {
      // 'fail-open': the call runs. 'local': decided from this process's state, closed: it runs.
      expect(outcome).toMatchObject({ status: 'fulfilled', value: RAN });
      return;
    }
    // Failing, 'fail-closed': refused as if the store had said no, the StoreError as the cause.
    expect(outcome.status, 'the call is refused').toBe('rejected');
    const error = (outcome as { error: unknown }).error;
    expect(isBrokenCircuitError(error), `a BrokenCircuitError, got ${String(error)}`).toBe(true);
    expect((error as Error).message).toMatch(/rejects calls while its store is unavailable/);
    const cause = (error as Error).cause;
    expect(isStoreError(cause), `its cause is a StoreError: ${String(cause)}`).toBe(true);
  },
});
