/**
 * Nemesis replica: a fleet bulkhead on Redis (through this replica's fault proxy). Each call acts
 * on the shared resource in steps, checking its signal before every step, as a call that honours
 * `ctx.signal` does; a call that finds its signal aborted stops and records why. With
 * `permitQuota`, the calls are served from blocks of permits (one lease, one fencing token for
 * every call under a block).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { sharedMonotonicNow } from '../history.js';
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
  /** `permitQuota` of the bulkhead: calls served from blocks of permits. @default none */
  permitQuota?: number;
  /**
   * Callers per replica that join the `loops` callers in every other phase of `phaseMs` (the
   * first phase is calm, without them) and wait up to `thinkMs` (drawn uniformly) between two
   * calls: demand that comes and goes. @default 0
   */
  burstLoops?: number;
  /** How long a calm or a busy phase lasts, in ms. @default the whole run is busy */
  phaseMs?: number;
  /** Most time a burst caller waits between two calls, in ms. @default 0 */
  thinkMs?: number;
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
  ...(params.permitQuota === undefined ? {} : { permitQuota: params.permitQuota }),
});

await reportMessage('ready');
await run.waitForStart();
const startedAt = performance.now();
/** Waits for the next busy phase, if the current one is calm. */
async function busyPhase(): Promise<void> {
  if (params.phaseMs === undefined) return;
  const phase = Math.floor((performance.now() - startedAt) / params.phaseMs);
  if (phase % 2 === 0) {
    await sleep(startedAt + (phase + 1) * params.phaseMs - performance.now());
  }
}
let calls = 0;
let lost = 0;
await Promise.all(
  Array.from({ length: params.loops + (params.burstLoops ?? 0) }, async (_, caller) => {
    const burst = caller >= params.loops;
    while (run.running()) {
      if (burst) await busyPhase();
      if (!run.running()) break;
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
            const checkedAt = sharedMonotonicNow();
            await resource.act({
              replica: run.index,
              pid: process.pid,
              call: id,
              token: fencingToken,
            });
            // An action that took longer than a lease was in flight across a pause of this
            // process (its check passed before it): said so, for the checker to tell it from an
            // action decided after the pause.
            if (sharedMonotonicNow() - checkedAt > params.leaseTtlMs) {
              run.history.info('act-late', { call: id, checkedAt }, fencingToken);
            }
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
      // Demand that comes and goes: blocks serve the lulls, the per-call path the crowds.
      if (burst) await sleep(Math.random() * (params.thinkMs ?? 0));
    }
  }),
);
await policy.close();
await store.close();
resource.close();
await run.close();
await reportResult({ calls, lost });
