/**
 * Nemesis replica: a fleet bulkhead on Redis (through this replica's fault proxy). Each call acts
 * on the shared resource in steps, checking its signal before every step, as a call that honours
 * `ctx.signal` does; a call that finds its signal aborted stops and records why.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { loadBulkhead } from '../patterns.js';
import { replicaRun } from '../replica-run.js';
import { connectSharedResource } from '../resource.js';

/** Parameters of the bulkhead scenario. */
export interface BulkheadParams {
  maxConcurrent: number;
  leaseTtlMs: number;
  renewIntervalMs: number;
  storeDeadlineMs: number;
  /** Concurrent callers per replica. */
  loops: number;
  /** Steps of one call, and the pause between two steps, in ms. */
  steps: number;
  stepMs: number;
}

const run = replicaRun<BulkheadParams>();
const { bulkhead, redisStore } = await loadBulkhead();
const { params } = run;
const resource = await connectSharedResource();
const store = redisStore({ client: run.client, prefix: run.prefix });
const policy = bulkhead({
  name: 'nemesis',
  maxConcurrent: params.maxConcurrent,
  maxQueue: Number.POSITIVE_INFINITY,
  maxWaitMs: 2_000,
  store,
  leaseTtlMs: params.leaseTtlMs,
  renewIntervalMs: params.renewIntervalMs,
  wakeupPollMs: 100,
  // Explicit, whatever the package's default becomes: no permit, no call.
  onStoreError: 'fail-closed',
  storeDeadlineMs: params.storeDeadlineMs,
  storeProbeIntervalMs: 100,
});

await reportMessage('ready');
await run.waitForStart();
let calls = 0;
let lost = 0;
await Promise.all(
  Array.from({ length: params.loops }, async () => {
    while (run.running()) {
      const id = run.history.invoke('call');
      try {
        const outcome = await policy.execute(async ({ signal, fencingToken }) => {
          for (let step = 0; step < params.steps; step++) {
            if (signal.aborted) {
              lost++;
              run.history.info(
                'aborted',
                { call: id, reason: String(signal.reason) },
                fencingToken,
              );
              return 'aborted';
            }
            await resource.act({
              replica: run.index,
              pid: process.pid,
              call: id,
              token: fencingToken,
            });
            await sleep(params.stepMs);
          }
          return 'done';
        });
        run.history.complete(id, 'ok', 'call', { outcome });
      } catch (error) {
        run.history.complete(id, 'fail', 'call', {
          error: (error as { name?: string }).name ?? String(error),
          reason: (error as { reason?: string }).reason,
        });
        await sleep(20);
      }
      calls++;
    }
  }),
);
await policy.close();
await store.close();
resource.close();
await run.close();
await reportResult({ calls, lost });
