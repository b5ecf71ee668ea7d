/**
 * Cache under the nemesis: a fleet of replica processes reading a few keys that expire quickly,
 * through a cache on Redis with fleet load leases, while the store pauses or crashes, the links
 * drop, slow or reset, and a replica is paused while it loads under the fleet lease (one that acted
 * on the resource last when none does). Invariants: at most one loader per key per lease across
 * the fleet; per key and per replica, a read never returns a version older than one it has already
 * returned; a loader resumed past its lease never writes over a value written since it took it.
 */
import { fileURLToPath } from 'node:url';
import type { FaultName } from '../faults.js';
import {
  checkMonotonicReads,
  checkOneLoaderPerKey,
  checkStaleLoadWrites,
} from '../invariants/cache.js';
import type { CacheParams } from '../replicas/cache.js';
import type { Scenario } from '../scenario.js';

/** The faults the cache scenario draws from. */
export const CACHE_FAULTS: readonly FaultName[] = [
  'replica-pause',
  'store-pause',
  'store-crash',
  'store-crash-aof',
  'proxy-drop',
  'proxy-latency',
  'proxy-reset',
];

/**
 * How long after a fault healed a replica may still find its store reads failing: ioredis drops a
 * dead connection after its `socketTimeout` (1 s) and reconnects, and the cache's probe then finds
 * the store back within `storeProbeIntervalMs`.
 */
export const CACHE_LOCAL_TAIL_MS = 1_500;

/** The cache scenario, with `faults` (default: all of {@link CACHE_FAULTS}). */
export function cacheScenario(
  faults: readonly FaultName[] = CACHE_FAULTS,
  replicas = 3,
): Scenario<CacheParams> {
  const params: CacheParams = {
    keys: 3,
    ttlMs: 300,
    leaseTtlMs: 600,
    storeDeadlineMs: 250,
    loadMs: 120,
    loops: 3,
    pauseMs: 10,
  };
  return {
    name: 'cache',
    script: fileURLToPath(new URL('../replicas/cache.ts', import.meta.url)),
    replicas,
    params,
    faults,
    resource: true,
    // A pause hits a replica loading under the fleet lease when one is.
    leases: ['acquired'],
    perReplica: (fault) => fault === 'replica-pause' || fault.startsWith('proxy-'),
    // A pause outlives the lease (600 ms): another replica takes the key over meanwhile.
    faultMs: [800, 1_500],
    healthyMs: [400, 1_000],
    check: (history) => [
      checkOneLoaderPerKey(history, {
        leaseTtlMs: params.leaseTtlMs,
        localTailMs: CACHE_LOCAL_TAIL_MS,
      }),
      checkMonotonicReads(history, CACHE_LOCAL_TAIL_MS),
      checkStaleLoadWrites(history, { leaseTtlMs: params.leaseTtlMs }),
    ],
  };
}
