/**
 * The degradation suite's subject for the rate limiter: one limiter with its Redis or DynamoDB
 * store on the suite's client. No vitest here: the suite's child process imports it too.
 *
 * A call is one decision that reaches the store: every call asks for a key of its own, so neither
 * the deny cache (which only remembers refusals and spent keys) nor the coalescing of one key's
 * decisions can answer it locally, and with no `reserve` every decision is a round trip. The call
 * is `acquire(key, { maxWaitMs: 0 })`: it resolves the decision itself (its `source` tells the
 * store's answer from a fallback) and rejects a refusal with the `RateLimitedError` that
 * `execute()` throws, whose `cause` is the `StoreError` under `'fail-closed'`.
 */
import type { BuildSubject } from '@breakwater/testkit/degradation-child';
import { dynamoStore } from '../../dynamodb.js';
import { rateLimiter } from '../../index.js';
import { redisStore } from '../../redis.js';

/** The limit: far more than the suite asks of one key (one unit), so the store always admits. */
export const LIMIT = 1_000;
/** GCRA's burst: a fresh key admits `BURST + 1` at once, so one call leaves `BURST`. */
export const BURST = 8;
/**
 * Under `'local'` each limit and burst is this share of the fleet's: `1 / N`, and the suite runs
 * one replica. No `localShare` is given, so the limiter runs its replica registry (its first
 * heartbeat and the removal on `close()` are store operations the suite's faults reach too).
 */
export const LOCAL_SHARE = 1;

/**
 * The heartbeat interval: longer than a scenario, so that no heartbeat lands among the failing
 * calls. One that did failed on the faulty store and counted towards `failureThreshold`, and the
 * store degraded one call early (CI once, Redis Cluster, hang · local, after a slow healthy phase
 * reached the default 5 s).
 */
const HEARTBEAT_MS = 60_000;

export const build: BuildSubject = (ctx) => {
  const store =
    ctx.backend === 'dynamodb'
      ? dynamoStore({ client: ctx.client, tableName: ctx.tableName, prefix: ctx.prefix })
      : redisStore({ client: ctx.client, prefix: ctx.prefix });
  const limiter = rateLimiter({
    name: ctx.policyName,
    limit: LIMIT,
    intervalMs: 1_000,
    burst: BURST,
    store,
    onStoreError: ctx.mode,
    storeDeadlineMs: ctx.deadlineMs,
    storeFailureThreshold: ctx.failureThreshold,
    storeProbeIntervalMs: ctx.probeIntervalMs,
    replicaRenewIntervalMs: HEARTBEAT_MS,
  });
  let calls = 0;
  return {
    call: () => limiter.acquire(`caller-${++calls}`, { maxWaitMs: 0 }),
    onStoreStatusChange: (listener) => limiter.onStoreStatusChange(listener),
    get storeStatus() {
      return limiter.storeStatus;
    },
    close: async () => {
      await limiter.close();
      // Not the client: it stays the user's.
      await store.close();
    },
  };
};
