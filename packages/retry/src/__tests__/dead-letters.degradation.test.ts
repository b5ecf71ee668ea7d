// testkit's degradation suite for the dead-letter queues, as a retry policy uses them: a call the
// policy gives up on is appended with `deadLetter: queue.append` (see
// degradation/dead-letters-subject.ts): redisDeadLetters on Redis and Redis Cluster,
// dynamoDeadLetters on DynamoDB.
import { fileURLToPath } from 'node:url';
import { isStoreError } from '@breakwater/core';
import { runDegradationSuite } from '@breakwater/testkit';
import { expect } from 'vitest';
import { build, GatewayError } from './degradation/dead-letters-subject.js';

runDegradationSuite({
  pattern: 'retry',
  build,
  childScript: fileURLToPath(new URL('./degradation/dead-letters-child.ts', import.meta.url)),
  backends: ['redis', 'redis-cluster', 'dynamodb'],
  // The queue has no `onStoreError` option: it has no answer of its own to give in the store's
  // place (an entry is stored or it is not), so every operation rejects with a StoreError when the
  // store fails, which is core's 'fail-closed' (the queue resolves its store options with that mode).
  // The other two modes would build the very same subject.
  modes: ['fail-closed'],
  expectAnswer(outcome, { phase }) {
    if (phase === 'healthy') {
      // The failure is in the queue: the caller gets its own error and nothing was lost.
      expect(outcome.status, 'the dead letter was not kept').toBe('fulfilled');
      expect((outcome as { value: unknown }).value).toBeInstanceOf(GatewayError);
      return;
    }
    // The call still rejected with its own error (the subject checked); the dead letter was lost
    // with a StoreError naming the append (the suite checks it is a timeout on a hung store).
    expect(outcome.status, 'a dead letter was kept while the store failed').toBe('rejected');
    const error = (outcome as { error: unknown }).error;
    expect(isStoreError(error), 'deadLetterError is a StoreError').toBe(true);
    expect(error).toMatchObject({ operation: 'append' });
  },
});
