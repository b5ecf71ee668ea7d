/**
 * The cache as the degradation suite's subject: a cache without L1 over a Redis, Redis Cluster or
 * DynamoDB store, so that every call reaches the L2 until the store is degraded. No vitest here:
 * the suite's child process imports this module too.
 *
 * A call is a `getOrLoad` of one key whose value was written to the L2 beforehand and that the
 * loader would not return, so a healthy answer is one only the store gives:
 *
 * | mode          | store healthy | store failing or degraded                                    |
 * | ------------- | ------------- | ------------------------------------------------------------ |
 * | `fail-open`   | {@link STORED} | {@link LOADED}: the L2 counts as a miss, the loader runs    |
 * | `fail-closed` | {@link STORED} | rejects with the `StoreError`                               |
 * | `local`       | {@link STORED} | {@link LOADED}: no L1 entry to serve, so the loader runs    |
 *
 * While the store fails, a call makes exactly one store operation (the read): the load that
 * follows neither takes the fleet lease nor writes its value, since the store is known to fail.
 */
import type { BuildSubject, DegradationBuildContext } from '@breakwater/testkit/degradation-child';
import { dynamoStore } from '../../dynamodb.js';
import { type CacheStore, cache } from '../../index.js';
import { redisStore } from '../../redis.js';

/** The value written to the L2 before the calls: only the store answers with it. */
export const STORED = 'from-the-store';

/** What the loader returns: the answer of a call that could not use the store. */
export const LOADED = 'from-the-loader';

/** The one key every call reads. */
const KEY = 'profile:42';

function storeOf(ctx: DegradationBuildContext): CacheStore {
  return ctx.backend === 'dynamodb'
    ? dynamoStore({ client: ctx.client, tableName: ctx.tableName, prefix: ctx.prefix })
    : // The store opens its own subscriber (a duplicate of the client) and closes it on close().
      redisStore({ client: ctx.client, prefix: ctx.prefix });
}

export const build: BuildSubject = async (ctx) => {
  const store = storeOf(ctx);
  const c = cache({
    name: ctx.policyName,
    store,
    l1: false,
    ttlMs: 600_000,
    onStoreError: ctx.mode,
    storeDeadlineMs: ctx.deadlineMs,
    storeFailureThreshold: ctx.failureThreshold,
    storeProbeIntervalMs: ctx.probeIntervalMs,
  });
  const seed = () => c.set(KEY, STORED);
  await seed();
  // A Redis killed by the fault comes back empty: write the value again once the store is back.
  let reseed = false;
  c.onStoreStatusChange(({ status }) => {
    if (status === 'healthy') reseed = true;
  });
  const loader = async () => LOADED;

  return {
    async call() {
      if (reseed) {
        reseed = false;
        await seed();
      }
      return c.getOrLoad(KEY, loader);
    },
    onStoreStatusChange: (listener) => c.onStoreStatusChange(listener),
    get storeStatus() {
      return c.storeStatus;
    },
    async close() {
      await c.close();
      await store.close();
    },
  };
};
