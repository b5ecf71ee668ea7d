/**
 * Write-behind under the nemesis: a fleet of replica processes writing `(key, version)` through a
 * write-behind on one Redis queue, each persisting into the shared "database" (the resource), while
 * the links slow, drop and reset and the store pauses, crashes or fails over. Invariant: every
 * acknowledged write reaches the database at its version or above once the fleet has drained —
 * except, under `durability: 'primary'`, what a state loss of the store took with it (a restart
 * without persistence: everything still queued; a failover: what the replica had not received).
 */
import { fileURLToPath } from 'node:url';
import type { FaultName } from '../faults.js';
import { checkWritesPersisted } from '../invariants/write-behind.js';
import type { WriteBehindParams } from '../replicas/write-behind.js';
import type { Scenario } from '../scenario.js';

/** The faults the write-behind scenario (`durability: 'primary'`) draws from. */
export const WRITE_BEHIND_FAULTS: readonly FaultName[] = [
  'proxy-latency',
  'proxy-drop',
  'proxy-reset',
  'store-pause',
  'store-crash',
  'store-crash-aof',
  'store-failover',
];

/** The faults of the `durability: 'wait'` scenario: `'wait'` needs a replica, so a failover only. */
export const WRITE_BEHIND_WAIT_FAULTS: readonly FaultName[] = ['store-failover'];

/** How long each replica drains after the run, at most, in ms. */
export const WRITE_BEHIND_DRAIN_MS = 8_000;

/**
 * The write-behind scenario, with `faults` (default: all of {@link WRITE_BEHIND_FAULTS}) and the
 * queue's `durability` (default `'primary'`). Under `'primary'` a state loss of the store excuses
 * the writes it took with it (the documented bound); under `'wait'` nothing is excused.
 */
export function writeBehindScenario(
  faults: readonly FaultName[] = WRITE_BEHIND_FAULTS,
  durability: WriteBehindParams['durability'] = 'primary',
  replicas = 3,
): Scenario<WriteBehindParams> {
  const params: WriteBehindParams = {
    keys: 500,
    durability,
    storeDeadlineMs: 250,
    flushIntervalMs: 100,
    claimIdleMs: 1_000,
    // A slow database: the queue holds a backlog (what a crash of the store can take with it).
    persistMs: 100,
    batchSize: 50,
    loops: 3,
    pauseMs: 5,
    drainMs: WRITE_BEHIND_DRAIN_MS,
  };
  return {
    name: durability === 'wait' ? 'write-behind-wait' : 'write-behind',
    script: fileURLToPath(new URL('../replicas/write-behind.ts', import.meta.url)),
    replicas,
    params,
    faults,
    resource: true,
    perReplica: (fault) => fault.startsWith('proxy-') && fault !== 'proxy-drop',
    faultMs: [400, 1_200],
    healthyMs: [500, 1_200],
    check: (history) => [
      checkWritesPersisted(history, { excuseStateLoss: durability === 'primary' }),
    ],
  };
}
