/**
 * Nemesis replica: a cache on Redis (through this replica's fault proxy) in front of a slow
 * "database", read by a few callers in a loop over a handful of keys that expire quickly, so the
 * fleet misses and loads again and again. The loader acts on the shared resource from its start
 * to its end (`load-start`, `load-end`, with the key), and the value it returns carries a version:
 * the shared monotonic time its load started, so a newer load always has a higher version. Every
 * read records the version it was answered with.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { sharedMonotonicNow } from '../history.js';
import { loadCache } from '../patterns.js';
import { type LastStoreCall, recordingStore } from '../recording-cache-store.js';
import { replicaRun } from '../replica-run.js';
import { connectSharedResource } from '../resource.js';

/** Parameters of the cache scenario. */
export interface CacheParams {
  /** How many keys the fleet reads. */
  keys: number;
  ttlMs: number;
  leaseTtlMs: number;
  storeDeadlineMs: number;
  /** How long a load takes, in ms. */
  loadMs: number;
  /** Concurrent readers per replica, and the pause between two reads of one reader, in ms. */
  loops: number;
  pauseMs: number;
}

/** A cached value: who loaded it and its version. */
interface Versioned {
  version: number;
  replica: number;
}

const run = replicaRun<CacheParams>();
const { cache, redisStore } = await loadCache();
const { params } = run;
const resource = await connectSharedResource();
/**
 * Per key, how this replica's last store call on the key's way to a load went: the L2 read, then
 * the lease. A load records it, so the checker tells a load under the fleet lease from one the
 * cache ran alone because a store call failed or outlived its deadline (`onStoreError: 'local'`).
 */
const lastCall = new Map<string, LastStoreCall>();
const store = recordingStore(
  redisStore({ client: run.client, prefix: run.prefix }),
  lastCall,
  (failure) => run.history.info('store-call-failed', failure),
  params.storeDeadlineMs,
  // Every lease taken or renewed and every write: when a paused loader's lease lapsed, and what
  // its write did when it resumed.
  { onCall: (call) => run.history.info('lease-call', call), now: sharedMonotonicNow },
);
const values = cache({
  name: 'nemesis',
  store,
  l1: { maxEntries: 1_000, maxBytes: 1_048_576, maxStaleMs: 10_000 },
  ttlMs: params.ttlMs,
  // Explicit, whatever the package's defaults become.
  jitter: 0.1,
  staleMs: 0,
  graceMs: 0,
  beta: 1,
  negativeTtlMs: 0,
  lease: { ttlMs: params.leaseTtlMs },
  onStoreError: 'local',
  storeDeadlineMs: params.storeDeadlineMs,
  storeFailureThreshold: 3,
  storeProbeIntervalMs: 100,
});

await reportMessage('ready');
await run.waitForStart();
let reads = 0;
let loads = 0;
await Promise.all(
  Array.from({ length: params.loops }, async (_, loop) => {
    let n = loop;
    while (run.running()) {
      const key = `k${n++ % params.keys}`;
      const id = run.history.invoke('read', { key });
      try {
        const value = await values.getOrLoad<Versioned>(key, async ({ signal }) => {
          loads++;
          const load = run.history.invoke('load', { key });
          const version = sharedMonotonicNow();
          // A load without the fleet lease (the store failed) says so by the status it ran under.
          const action = {
            replica: run.index,
            pid: process.pid,
            call: load,
            token: undefined,
            key,
            storeStatus: values.storeStatus,
            lease: lastCall.get(key) ?? 'none',
          };
          await resource.act({ ...action, kind: 'load-start' });
          // A load the cache aborts (it closes) ends there, as a database call given the signal does.
          await sleep(params.loadMs, undefined, { signal }).catch(async (error: unknown) => {
            await resource.act({ ...action, kind: 'load-end' });
            throw error;
          });
          await resource.act({ ...action, kind: 'load-end' });
          // The next flight of the key starts from nothing: calls the cache does not make (its
          // store degraded) must not leave it this flight's outcome.
          lastCall.delete(key);
          run.history.complete(load, 'ok', 'load', {
            key,
            version,
            lease: action.lease,
            storeStatus: action.storeStatus,
          });
          return { version, replica: run.index };
        });
        run.history.complete(id, 'ok', 'read', {
          key,
          version: value.version,
          from: value.replica,
        });
      } catch (error) {
        run.history.complete(id, 'fail', 'read', { key, error: (error as Error).name });
      }
      reads++;
      await sleep(params.pauseMs);
    }
  }),
);
// Closing aborts the loads still running (a refresh nobody awaits) and releases their leases at
// once: the resource learns of it first, so no other replica's load can seem to overlap them.
const closing = run.history.invoke('close');
await resource.act({
  replica: run.index,
  pid: process.pid,
  call: closing,
  token: undefined,
  kind: 'close',
});
await values.close();
run.history.complete(closing, 'ok', 'close');
await store.close();
resource.close();
await run.close();
await reportResult({ reads, loads });
