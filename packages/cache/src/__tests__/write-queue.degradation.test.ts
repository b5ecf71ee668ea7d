// testkit's degradation suite (Principle 4) for write-behind without a cache, on Redis, Redis
// Cluster and DynamoDB, with the store refused and hung: a call is one `write()`, so the queue is
// the only store and what the suite sees is write-behind's own store call path — the append under
// the deadline, the queue's degraded mode and its probe (a `return 1` script on the stream key; a
// GetItem of the pending counter). write-behind.degradation.test.ts runs the same with a cache.
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { buildQueueOnly, type WrittenAndRead } from './degradation/write-behind-subject.js';

runDegradationSuite({
  pattern: 'write-behind',
  build: buildQueueOnly,
  childScript: fileURLToPath(new URL('./degradation/write-queue-child.ts', import.meta.url)),
  // No `onStoreError` choice (see write-behind.degradation.test.ts): 'fail-closed' only.
  modes: ['fail-closed'],
  expectAnswer(outcome, { phase }) {
    if (phase === 'healthy') {
      expect(outcome.status, 'the write was acknowledged').toBe('fulfilled');
      const { version } = (outcome as { value: WrittenAndRead }).value;
      expect(version, 'a version from the queue').toBeGreaterThan(0);
      return;
    }
    expect(outcome.status, 'a write the queue did not take is never acknowledged').toBe('rejected');
    const error = (outcome as { error: unknown }).error;
    expect(isStoreError(error), `a StoreError, got ${String(error)}`).toBe(true);
    // The queue's own append failed or was refused while degraded: never the cache's.
    expect(error).toMatchObject({ operation: expect.stringMatching(/append$/) });
  },
});
