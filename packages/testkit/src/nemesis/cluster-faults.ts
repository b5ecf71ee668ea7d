/**
 * The Redis Cluster faults of the nemesis: a slot moved to another master mid-run, and a master's
 * replica promoted with `CLUSTER FAILOVER`. Both keep the store reachable and its state intact (a
 * moved slot carries its keys; a graceful failover waits for the replica to catch up), so the
 * invariants hold at their strict bounds, with no degraded or state-loss allowance.
 */

import type { NemesisCluster } from './cluster-process.js';
import { recordFault } from './fault-log.js';
import type { ActiveFault } from './faults.js';
import type { HistoryRecorder } from './history.js';

/** Faults that need the store to be a Redis Cluster with replicas (and no other fault kind). */
export const CLUSTER_FAULTS = ['cluster-slot-migration', 'cluster-failover'] as const;

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
