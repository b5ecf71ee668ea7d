/**
 * Nemesis replica: one fleet rate limiter on Redis or DynamoDB (`params.store`, through this
 * replica's fault proxy), hammered on one key by a few concurrent loops; every decision is recorded
 * with its source.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { loadRateLimitDynamoStore } from '../dynamo-patterns.js';
import { type NemesisStoreKind, replicaDynamo } from '../dynamo-replica.js';
import { sharedMonotonicNow } from '../history.js';
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
  /** The store: Redis, or DynamoDB (the scenario's `store` must say the same). @default 'redis' */
  store?: NemesisStoreKind;
  /** The limiter's `reserve` (reservation mode: `batch` permits per round trip). @default off */
  reserve?: { batch: number };
  /**
   * Quiet phases: every other `everyMs` (on the machine's shared monotonic clock, so the fleet
   * is in step) the loops pause `pauseMs` instead. @default never quiet
   */
  quiet?: { everyMs: number; pauseMs: number };
}

const run = replicaRun<RateLimitParams>();
const { rateLimiter, redisStore } = await loadRateLimit();
const { params } = run;
const dynamo = params.store === 'dynamodb' ? await replicaDynamo() : undefined;
const store =
  dynamo === undefined
    ? redisStore({ client: run.client, prefix: run.prefix })
    : (await loadRateLimitDynamoStore())({ ...dynamo, prefix: run.prefix });
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
  // Spent locally with `source: 'reservation'`, held for `intervalMs` (the default `holdMs`).
  ...(params.reserve === undefined ? {} : { reserve: params.reserve }),
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
      const quiet =
        params.quiet !== undefined &&
        Math.floor(sharedMonotonicNow() / params.quiet.everyMs) % 2 === 1;
      await sleep(quiet ? params.quiet!.pauseMs : params.pauseMs);
    }
  }),
);
await limiter.close();
await store.close();
dynamo?.client.destroy();
await run.close();
await reportResult({ decisions });
