/**
 * Faults that keep the store reachable and its state: a Redis Cluster's slot moved with its keys,
 * and a graceful `CLUSTER FAILOVER` (the replica has every write before it takes over). A store
 * call that meets one may still fail or outlive its deadline (TRYAGAIN while a slot is half moved,
 * a master pausing its clients while it hands over), and the decision it leaves to the policy
 * alone (`onStoreError: 'local'`) is then labelled by the replica that made it: a cache load's
 * `lease`, a half-open probe's `lease`. A checker that reads those labels gives these faults' time
 * windows no allowance of their own: its bound stays the strict one.
 */
export const STATE_KEEPING_FAULTS: ReadonlySet<string> = new Set([
  'cluster-slot-migration',
  'cluster-failover',
]);
