/**
 * Nemesis replica: calls to a dependency that is down, through a fleet circuit breaker in Redis
 * or DynamoDB (`params.store`, through this replica's fault proxy). The breaker opens, and after each break lets probes
 * through; every call the breaker runs while this replica sees it half-open is a probe, and acts
 * on the shared resource from its start to its end.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { loadBreakerDynamoStore } from '../dynamo-patterns.js';
import { type NemesisStoreKind, replicaDynamo } from '../dynamo-replica.js';
import { sharedMonotonicNow } from '../history.js';
import { loadBreaker } from '../patterns.js';
import { ProbeGrants, recordingBreakerStore } from '../recording-breaker-store.js';
import { replicaRun } from '../replica-run.js';
import { connectSharedResource } from '../resource.js';

/** Parameters of the breaker scenario. */
export interface BreakerParams {
  maxCalls: number;
  breakDurationMs: number;
  probeLeaseMs: number;
  storeDeadlineMs: number;
  /** How long a probe takes, in ms. */
  probeMs: number;
  loops: number;
  pauseMs: number;
  /** The store: Redis, or DynamoDB (the scenario's `store` must say the same). @default 'redis' */
  store?: NemesisStoreKind;
}

const run = replicaRun<BreakerParams>();
const { circuitBreaker, redisStore } = await loadBreaker();
const { params } = run;
const resource = await connectSharedResource();
// Which probes ran on a lease of the store's, and which on one the breaker granted alone.
const grants = new ProbeGrants();
const dynamo = params.store === 'dynamodb' ? await replicaDynamo() : undefined;
const store = recordingBreakerStore(
  dynamo === undefined
    ? redisStore({ client: run.client, prefix: run.prefix })
    : (await loadBreakerDynamoStore())({ ...dynamo, prefix: run.prefix }),
  grants,
  params.storeDeadlineMs,
  // Every probe lease granted and outcome reported, and the record versions each call answered:
  // what a prober paused past its lease does to the fleet when it resumes.
  { onCall: (call) => run.history.info('probe-call', call), now: sharedMonotonicNow },
);
const breaker = circuitBreaker({
  name: 'nemesis',
  store,
  consecutiveFailures: 3,
  breakDurationMs: params.breakDurationMs,
  halfOpen: { maxCalls: params.maxCalls, probeLeaseMs: params.probeLeaseMs },
  syncIntervalMs: 50,
  // Explicit, whatever the package's default becomes: decide locally while the store fails.
  onStoreError: 'local',
  storeDeadlineMs: params.storeDeadlineMs,
  storeProbeIntervalMs: 100,
  // The replica's wall clock, which a `clock-jump` moves.
  clock: run.clock,
});

await reportMessage('ready');
await run.waitForStart();
let probes = 0;
let calls = 0;
await Promise.all(
  Array.from({ length: params.loops }, async () => {
    while (run.running()) {
      const id = run.history.invoke('call');
      try {
        await breaker.execute(async () => {
          if (breaker.state === 'half-open') {
            probes++;
            const lease = grants.claim();
            const action = { replica: run.index, pid: process.pid, call: id, token: undefined };
            // A degraded breaker, or one whose lease request failed, decides alone ('local'): its
            // probe is not the fleet's.
            await resource.act({
              ...action,
              kind: 'probe-start',
              storeStatus: breaker.storeStatus,
              lease,
            });
            await sleep(params.probeMs);
            await resource.act({ ...action, kind: 'probe-end' });
          }
          throw new Error('the dependency is down');
        });
        run.history.complete(id, 'ok', 'call');
      } catch (error) {
        run.history.complete(id, 'fail', 'call', { error: (error as Error).name });
      }
      calls++;
      await sleep(params.pauseMs);
    }
  }),
);
await breaker.close();
await store.close();
dynamo?.client.destroy();
resource.close();
await run.close();
await reportResult({ calls, probes });
