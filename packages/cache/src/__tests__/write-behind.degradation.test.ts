// testkit's degradation suite (Principle 4) for write-behind, on Redis, Redis Cluster and
// DynamoDB, with the store refused and hung: a call is one `write()` as a user makes it (through
// a cache, into the queue) and a read of the value through the cache; see
// degradation/write-behind-subject.ts.
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { build, type WrittenAndRead } from './degradation/write-behind-subject.js';

runDegradationSuite({
  pattern: 'write-behind',
  build,
  childScript: fileURLToPath(new URL('./degradation/write-behind-child.ts', import.meta.url)),
  // Write-behind has no `onStoreError` choice: a write the queue did not take is never
  // acknowledged, so `write()` always rejects with the StoreError — core's 'fail-closed', which
  // the write-behind resolves its store options with. The other two modes would build the very
  // same subject.
  modes: ['fail-closed'],
  expectAnswer(outcome, { phase }) {
    if (phase === 'healthy') {
      expect(outcome.status, 'the write was acknowledged').toBe('fulfilled');
      const { version, written, read } = (outcome as { value: WrittenAndRead }).value;
      expect(version, 'a version from the store').toBeGreaterThan(0);
      expect(read, 'the value is readable through the cache').toEqual(written);
      return;
    }
    expect(outcome.status, 'a write the store did not take is never acknowledged').toBe('rejected');
    const error = (outcome as { error: unknown }).error;
    expect(isStoreError(error), `a StoreError, got ${String(error)}`).toBe(true);
  },
});
