/**
 * The Redis Cluster faults of the nemesis: a slot moved to another master mid-run, a master's
 * replica promoted with `CLUSTER FAILOVER`, and one promoted with `CLUSTER FAILOVER FORCE` while its
 * master is frozen. The first two keep the store reachable and its state intact (a moved slot
 * carries its keys; a graceful failover waits for the replica to catch up), so the invariants hold
 * at their strict bounds. The forced one loses the latest writes (`losesWrites`): the master is cut
 * off from its replica and takes writes alone for the cluster's `replicaLagMs` before it is frozen
 * (the replica lags on purpose, as under `sentinel-failover`), and what it took when it woke before
 * it learned it had been demoted is lost too; the checkers excuse what was acknowledged while it
 * was in force, and nothing older.
 */

import type { NemesisCluster } from './cluster-process.js';
import { recordFault } from './fault-log.js';
import type { ActiveFault } from './faults.js';
import type { HistoryRecorder } from './history.js';

/** Faults that need the store to be a Redis Cluster with replicas (and no other fault kind). */
export const CLUSTER_FAULTS = [
  'cluster-slot-migration',
  'cluster-failover',
  'cluster-failover-force',
] as const;

/** The name of a Redis Cluster fault. */
export type ClusterFaultName = (typeof CLUSTER_FAULTS)[number];

/** Whether `name` is a {@link ClusterFaultName}. */
export function isClusterFault(name: string): name is ClusterFaultName {
  return (CLUSTER_FAULTS as readonly string[]).includes(name);
}

async function policySlot(cluster: NemesisCluster, random: () => number): Promise<number> {
  const slots = await cluster.slotsInUse();
  if (slots.length === 0) {
    throw new Error('Redis Cluster fault: the fleet has written no key yet, no slot to act on');
  }
  return slots[Math.floor(random() * slots.length)]!;
}

/**
 * Applies a Cluster fault to the slot of a policy key (one of the slots holding keys).
 * `cluster-slot-migration`: in force from `IMPORTING`/`MIGRATING` with the keys moved (clients are
 * sent ASK) until healed, when the slot is given to its new master everywhere (MOVED).
 * `cluster-failover`: the slot's master hands over to its replica; healing is a no-op (the old
 * master stays on as the new one's replica, ready for the next failover).
 * `cluster-failover-force`: the slot's master is cut off from its replica for the cluster's
 * `replicaLagMs`, then frozen (SIGSTOP), and its replica promoted with `FAILOVER FORCE`; healing
 * wakes the old master (SIGCONT) and ends the fault once it knows it is the new master's replica.
 * In force from just before the replica was cut off (without a lag: before the master's last
 * replicated offset was read): what the master acknowledged from then on may be lost. The info
 * event says how far the replica was behind (`masterOffset − replicaOffset`, in bytes).
 */
export async function injectClusterFault(
  name: ClusterFaultName,
  cluster: NemesisCluster,
  history: HistoryRecorder,
  random: () => number,
): Promise<ActiveFault> {
  const slot = await policySlot(cluster, random);
  if (name === 'cluster-slot-migration') {
    const migration = await cluster.migrateSlot(slot, (count) => Math.floor(random() * count));
    const end = recordFault(history, {
      fault: name,
      target: 'store',
      unreachable: false,
      detail: { slot, from: migration.from, to: migration.to, keys: migration.keys },
    });
    return {
      name,
      async heal() {
        end();
        await migration.finish();
      },
    };
  }
  if (name === 'cluster-failover-force') {
    let ended: (() => void) | undefined;
    const forced = await cluster.forceFailover(slot, {
      beforeStop: () => {
        ended = recordFault(history, {
          fault: name,
          target: 'store',
          unreachable: false,
          losesWrites: true,
          detail: { slot },
        });
      },
    });
    history.info('cluster-failover-force', {
      slot,
      promoted: forced.promoted,
      stopped: forced.stopped,
      masterOffset: forced.masterOffset,
      replicaOffset: forced.replicaOffset,
      requests: forced.requests,
    });
    return {
      name,
      async heal() {
        await forced.resume();
        ended?.();
      },
    };
  }
  const started = recordFault(history, {
    fault: name,
    target: 'store',
    unreachable: false,
    detail: { slot },
  });
  const promoted = await cluster.failover(slot);
  history.info('cluster-failover', { slot, promoted });
  return { name, heal: async () => started() };
}
