// testkit's degradation suite for the cache, on Redis, Redis Cluster and DynamoDB: every fault,
// every onStoreError mode. A call is a getOrLoad that reaches the L2 (the cache has no L1) for a
// value written there beforehand, which the loader would not return (see degradation/subject.ts).
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { build, LOADED, STORED } from './degradation/subject.js';

runDegradationSuite({
  pattern: 'cache',
  build,
  childScript: fileURLToPath(new URL('./degradation/child.ts', import.meta.url)),
  expectAnswer(outcome, { mode, phase }) {
    if (phase === 'healthy') {
      // Only the store has this value: the loader would answer LOADED.
      expect(outcome).toMatchObject({ status: 'fulfilled', value: STORED });
      return;
    }
    if (mode === 'fail-closed') {
      expect(outcome.status, 'fail-closed rejects when the store fails').toBe('rejected');
      const error = (outcome as { error: unknown }).error;
      expect(isStoreError(error), `rejects with the StoreError itself, got ${error}`).toBe(true);
      return;
    }
    // 'fail-open': the L2 counts as a miss; 'local': no L1 entry to serve. Either way the loader.
    expect(outcome).toMatchObject({ status: 'fulfilled', value: LOADED });
  },
});
