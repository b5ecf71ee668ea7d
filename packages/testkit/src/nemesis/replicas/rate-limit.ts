/**
 * Nemesis replica: one fleet rate limiter on Redis (through this replica's fault proxy), hammered
 * on one key by a few concurrent loops; every decision is recorded with its source.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { loadRateLimit } from '../patterns.js';
import { replicaRun } from '../replica-run.js';

/** Parameters of the rate-limit scenario. */
export interface RateLimitParams {
  limit: number;
  burst: number;
  intervalMs: number;
  storeDeadlineMs: number;
  /** Concurrent loops per replica. */
  loops: number;
  /** Pause between two calls of one loop, in ms. */
  pauseMs: number;
  /** The limiter's `onStoreError`. */
  onStoreError: 'local' | 'fail-open' | 'fail-closed';
}

const run = replicaRun<RateLimitParams>();
const { rateLimiter, redisStore } = await loadRateLimit();
const { params } = run;
const store = redisStore({ client: run.client, prefix: run.prefix });
const limiter = rateLimiter({
  name: 'nemesis',
  limit: params.limit,
  burst: params.burst,
  intervalMs: params.intervalMs,
  store,
  // Explicit, whatever the package's defaults become ('local': each replica enforces its share
  // alone while the store is unreachable, and says so with `source: 'degraded'`).
  onStoreError: params.onStoreError,
  localShare: 1 / run.replicas,
  storeDeadlineMs: params.storeDeadlineMs,
  storeFailureThreshold: 3,
  storeProbeIntervalMs: 100,
  // The replica's wall clock, which a `clock-jump` moves.
  clock: run.clock,
});

await reportMessage('ready');
await run.waitForStart();
let decisions = 0;
await Promise.all(
  Array.from({ length: params.loops }, async () => {
    while (run.running()) {
      const id = run.history.invoke('limit', { cost: 1 });
      try {
        const decision = await limiter.limit('shared');
        run.history.complete(id, 'ok', 'limit', {
          allowed: decision.allowed,
          source: decision.source,
        });
      } catch (error) {
        run.history.complete(id, 'fail', 'limit', { error: String(error) });
      }
      decisions++;
      await sleep(params.pauseMs);
    }
  }),
);
await limiter.close();
await store.close();
await run.close();
await reportResult({ decisions });
