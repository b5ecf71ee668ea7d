/**
 * The degradation suite's subject for the circuit breaker: one breaker with its Redis or DynamoDB
 * store on the suite's client. No vitest here: the suite's child process imports it too.
 *
 * The suite needs every call to reach the store until the store is degraded, and a breaker's
 * closed path is local-first: it admits calls from its cached view and counts outcomes locally.
 * The calls that do wait on the store are those of a strict breaker (`consistency: 'strict'`),
 * the breaker of a fleet too quiet for local counts (a Lambda fleet with a call a minute): before a
 * call whose last read is older than `syncIntervalMs` it re-reads the shared state, and it writes
 * every outcome before the call returns. So the subject is a strict breaker, and a call is one
 * `execute(fn)`:
 *
 * - `syncIntervalMs: 0` makes every call re-read, as every call of a quiet fleet does, rather than
 *   only those that come `syncIntervalMs` after the last answer (which would make the number of
 *   store operations per call depend on timing). With it there is no sync timer either.
 * - `window: { kind: 'count' }`: with `syncIntervalMs: 0` the first outcome of each new time bucket
 *   is written at once, also while the store fails; a count window has no buckets to cross.
 * - `subscriber: false` (Redis): a breaker that re-reads before every call gains nothing from
 *   pushed transitions, and the re-read a subscription makes when it becomes active would be a
 *   store operation outside any call, racing the suite's fault a few milliseconds after the first
 *   call. (Closing the subscriber the store opens is covered by store-faults.test.ts.)
 *
 * While the store answers, a call makes two store operations: the read, and the write of its
 * outcome. Once a store operation failed, the call makes one: `'fail-closed'` rejects the call when
 * its read fails, and under `'fail-open'` and `'local'` the outcome of a call whose read failed
 * stays in the local counts (a strict breaker writes outcomes only while the store answers, so a
 * call never waits on a failing store twice). So `failureThreshold` calls degrade the store: the
 * suite's default `callsToDegrade`.
 */
import type { BuildSubject } from '@breakwater/testkit/degradation-child';
import { dynamoStore } from '../../dynamodb.js';
import { circuitBreaker } from '../../index.js';
import { redisStore } from '../../redis.js';

/** What `fn` answers: the call ran. */
export const RAN = 'ran';

export const build: BuildSubject = (ctx) => {
  const store =
    ctx.backend === 'dynamodb'
      ? dynamoStore({ client: ctx.client, tableName: ctx.tableName, prefix: ctx.prefix })
      : redisStore({ client: ctx.client, prefix: ctx.prefix, subscriber: false });
  const breaker = circuitBreaker({
    name: ctx.policyName,
    store,
    consistency: 'strict',
    syncIntervalMs: 0,
    window: { kind: 'count', size: 20 },
    onStoreError: ctx.mode,
    storeDeadlineMs: ctx.deadlineMs,
    storeFailureThreshold: ctx.failureThreshold,
    storeProbeIntervalMs: ctx.probeIntervalMs,
  });
  return {
    call: () => breaker.execute(() => RAN),
    onStoreStatusChange: (listener) => breaker.onStoreStatusChange(listener),
    get storeStatus() {
      return breaker.storeStatus;
    },
    close: async () => {
      await breaker.close();
      // The store opened nothing of its own here, but closing it is what a user does; never the
      // client: it stays the user's.
      await store.close();
    },
  };
};
