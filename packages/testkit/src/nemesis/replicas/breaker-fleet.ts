/**
 * Nemesis replica: calls through a fleet circuit breaker in Redis (through this replica's fault
 * proxy) to a dependency that is down and up in turns, on one schedule (by the wall clock,
 * staggered per replica), so the fleet opens, probes and closes again and again. It records every call the
 * breaker let through (`admitted`, with the state it was let through in), every state change it
 * saw (`state`), and its view every `sampleMs` (`view`, with its store status). Probes act on the
 * shared resource from their start to their end.
 */
import { setInterval as every, setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { sharedMonotonicNow } from '../history.js';
import { loadBreaker } from '../patterns.js';
import { ProbeGrants, recordingBreakerStore } from '../recording-breaker-store.js';
import { replicaRun } from '../replica-run.js';
import { connectSharedResource } from '../resource.js';

/** Parameters of the breaker-fleet scenario. */
export interface BreakerFleetParams {
  maxCalls: number;
  breakDurationMs: number;
  probeLeaseMs: number;
  syncIntervalMs: number;
  storeDeadlineMs: number;
  storeProbeIntervalMs: number;
  /** The dependency is down for `downMs`, then up for as long, on the wall clock. */
  downMs: number;
  /** How much later each replica (by index) sees the dependency go down and come back, in ms. */
  staggerMs: number;
  /** How long a probe takes, in ms. */
  probeMs: number;
  /** How often a replica records its view, in ms. */
  sampleMs: number;
  loops: number;
  pauseMs: number;
}

const run = replicaRun<BreakerFleetParams>();
const { circuitBreaker, redisStore } = await loadBreaker();
const { params } = run;
const resource = await connectSharedResource();
// Which probes ran on a lease of the store's, and which on one the breaker granted alone.
const grants = new ProbeGrants();
const store = recordingBreakerStore(
  redisStore({ client: run.client, prefix: run.prefix }),
  grants,
  params.storeDeadlineMs,
  // Every probe lease granted and outcome reported, and the record versions each call answered:
  // what a prober paused past its lease does to the fleet when it resumes.
  { onCall: (call) => run.history.info('probe-call', call), now: sharedMonotonicNow },
);
const breaker = circuitBreaker({
  name: 'nemesis-fleet',
  store,
  consecutiveFailures: 3,
  breakDurationMs: params.breakDurationMs,
  halfOpen: { maxCalls: params.maxCalls, probeLeaseMs: params.probeLeaseMs },
  // Explicit, whatever the package's defaults become.
  syncIntervalMs: params.syncIntervalMs,
  onStoreError: 'local',
  storeDeadlineMs: params.storeDeadlineMs,
  storeProbeIntervalMs: params.storeProbeIntervalMs,
});
// Replica i sees the dependency go down `staggerMs × i` later than replica 0: the fleet opens on
// replica 0's failures while the others' calls still succeed, so only the breaker stops them.
const down = () =>
  Math.floor((Date.now() - run.index * params.staggerMs) / params.downMs) % 2 === 1;
breaker.onStateChange(({ from, to }) => {
  run.history.info('state', { from, to, storeStatus: breaker.storeStatus });
});

await reportMessage('ready');
await run.waitForStart();
let admitted = 0;
let calls = 0;
const sampler = (async () => {
  for await (const _ of every(params.sampleMs)) {
    if (!run.running()) break;
    run.history.info('view', { state: breaker.state, storeStatus: breaker.storeStatus });
  }
})();
await Promise.all(
  Array.from({ length: params.loops }, async () => {
    while (run.running()) {
      const id = run.history.invoke('call');
      try {
        await breaker.execute(async () => {
          admitted++;
          const state = breaker.state;
          run.history.info('admitted', { call: id, state, storeStatus: breaker.storeStatus });
          if (state === 'half-open') {
            const lease = grants.claim();
            const action = { replica: run.index, pid: process.pid, call: id, token: undefined };
            await resource.act({
              ...action,
              kind: 'probe-start',
              storeStatus: breaker.storeStatus,
              lease,
            });
            await sleep(params.probeMs);
            await resource.act({ ...action, kind: 'probe-end' });
          }
          if (down()) throw new Error('the dependency is down');
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
await sampler;
await breaker.close();
await store.close();
resource.close();
await run.close();
await reportResult({ calls, admitted });
