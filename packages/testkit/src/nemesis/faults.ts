/**
 * The faults a nemesis can inject, each applied to a running fleet and healed again, and recorded
 * in the history with what it means for the invariants (whether the store is unreachable, whether
 * it loses its state).
 */
import type { FaultProxy } from '../fault-proxy.js';
import type { ReplicaHandle } from '../fleet.js';
import type { RedisReplication } from '../redis-replication.js';
import { CLUSTER_FAULTS, type ClusterFaultName, injectClusterFault } from './cluster-faults.js';
import type { NemesisCluster } from './cluster-process.js';
import type { NemesisDynalite } from './dynalite-process.js';
import { recordFault } from './fault-log.js';
import type { HistoryRecorder } from './history.js';
import type { NemesisRedis } from './redis-process.js';
import type { NemesisSentinel } from './sentinel-process.js';

/** The name of a fault the nemesis knows. */
export type FaultName =
  | 'proxy-latency'
  | 'proxy-bandwidth'
  | 'proxy-drop'
  | 'proxy-drop-replies'
  | 'proxy-reset'
  | 'proxy-half-open'
  | 'store-pause'
  | 'store-crash'
  | 'store-crash-aof'
  | 'store-failover'
  | 'sentinel-failover'
  | 'replica-pause'
  | 'clock-jump'
  | ClusterFaultName;

/** Every fault, in the order the docs list them. */
export const ALL_FAULT_NAMES: readonly FaultName[] = [
  'proxy-latency',
  'proxy-bandwidth',
  'proxy-drop',
  'proxy-drop-replies',
  'proxy-reset',
  'proxy-half-open',
  'store-pause',
  'store-crash',
  'store-crash-aof',
  'store-failover',
  'sentinel-failover',
  'replica-pause',
  'clock-jump',
  ...CLUSTER_FAULTS,
];

/** How far a `clock-jump` moves a replica's wall clock, in ms (forwards or backwards). */
export const CLOCK_JUMP_MS = 30_000;

/** Faults that need the store to be a primary with a replica (and no other store fault). */
export const REPLICATION_FAULTS: readonly FaultName[] = ['store-failover'];

/**
 * Faults that need the single Redis to persist every write in an append-only file
 * (`appendfsync always`): a scenario that draws one runs on such a Redis, with its other faults.
 */
export const AOF_FAULTS: readonly FaultName[] = ['store-crash-aof'];

/**
 * Faults only a Redis store has (a replica promoted, Sentinel, a Cluster's slots and masters): a
 * scenario on DynamoDB refuses them. The store's process faults (`store-pause`, `store-crash`,
 * `store-crash-aof`) hit the dynalite process there; the link faults, the HTTP connections.
 */
export const REDIS_ONLY_FAULTS: readonly FaultName[] = [
  'store-failover',
  'sentinel-failover',
  ...CLUSTER_FAULTS,
];

/** What a fault acts on. */
export interface FaultTargets {
  /** The single Redis, for pause and crash faults (absent when the store is a replicated pair). */
  redis: NemesisRedis | undefined;
  /** The dynalite process, for pause and crash faults of a DynamoDB scenario (absent otherwise). */
  dynamo?: NemesisDynalite | undefined;
  /** The primary and replica, for the failover fault (absent for a single Redis). */
  replication: RedisReplication | undefined;
  /** The Redis Cluster, for the Cluster faults (absent unless the scenario runs on one). */
  cluster?: NemesisCluster | undefined;
  /** The primary, replica and Sentinel, for `sentinel-failover` (absent otherwise). */
  sentinel?: NemesisSentinel | undefined;
  /** One proxy per replica, by index. */
  proxies: FaultProxy[];
  /** The replica processes, by index. */
  replicas: ReplicaHandle[];
  /** The nemesis's history. */
  history: HistoryRecorder;
  /** The schedule's random source (a clock jump's direction). @default Math.random */
  random?: () => number;
  /** How far a `clock-jump` moves the clock, in ms. @default {@link CLOCK_JUMP_MS} */
  clockJumpMs?: number;
}

/** A fault in force: `heal()` ends it (and records the end). */
export interface ActiveFault {
  readonly name: FaultName;
  heal(): Promise<void>;
}

/** A small deterministic PRNG (mulberry32), so a run is reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function single(targets: FaultTargets, name: FaultName): NemesisRedis {
  if (targets.redis === undefined) throw new Error(`${name} needs a single Redis store`);
  return targets.redis;
}

/**
 * Applies fault `name`: proxy faults hit one replica's proxy (`replica`) or all of them
 * (`undefined`); store faults hit the store; `replica-pause` SIGSTOPs one replica process.
 */
export async function injectFault(
  name: FaultName,
  targets: FaultTargets,
  replica: number | undefined,
): Promise<ActiveFault> {
  const proxies =
    replica === undefined ? targets.proxies : [targets.proxies[replica]].filter((p) => !!p);
  const target = replica ?? 'store';
  const proxyFault = (
    faults: Parameters<FaultProxy['setFaults']>[0],
    unreachable: boolean,
    resetOnHeal = false,
  ): ActiveFault => {
    for (const proxy of proxies) proxy.setFaults(faults);
    const end = recordFault(targets.history, {
      fault: name,
      target,
      unreachable,
      detail: { ...(faults as Record<string, unknown>), ...(resetOnHeal ? { resetOnHeal } : {}) },
    });
    return {
      name,
      async heal() {
        end();
        for (const proxy of proxies) proxy.setFaults({});
        // A blackhole's connections do not survive it: TCP would retransmit what was lost or
        // fail the connection. Discarded bytes leave a gap in the Redis protocol stream of a
        // connection that lives on (replies matched to the wrong commands, later ones never
        // answered), which no network does: the connections are reset as the drop ends.
        if (resetOnHeal) for (const proxy of proxies) proxy.reset();
      },
    };
  };
  switch (name) {
    case 'proxy-latency': {
      const link = { latencyMs: 40, jitterMs: 60 };
      return proxyFault({ toUpstream: link, toDownstream: link }, false);
    }
    case 'proxy-bandwidth': {
      const link = { bytesPerSecond: 4_000 };
      return proxyFault({ toUpstream: link, toDownstream: link }, false);
    }
    case 'proxy-drop':
      return proxyFault({ toUpstream: { drop: true }, toDownstream: { drop: true } }, true, true);
    case 'proxy-drop-replies':
      // Commands still run on the store; their answers never arrive.
      return proxyFault({ toDownstream: { drop: true } }, true, true);
    case 'proxy-reset': {
      for (const proxy of proxies) proxy.reset();
      const end = recordFault(targets.history, { fault: name, target, unreachable: false });
      return { name, heal: async () => end() };
    }
    case 'proxy-half-open': {
      // Unreachable is not claimed: the client may notice and reconnect at any time.
      for (const proxy of proxies) proxy.halfOpen();
      const end = recordFault(targets.history, { fault: name, target, unreachable: false });
      return { name, heal: async () => end() };
    }
    case 'store-pause': {
      // dynalite is paused the same way: its HTTP connections stay open, nothing is answered.
      const store = targets.dynamo ?? single(targets, name);
      store.pause();
      const end = recordFault(targets.history, { fault: name, target: 'store', unreachable: true });
      return {
        name,
        async heal() {
          end();
          store.resume();
        },
      };
    }
    case 'store-crash': {
      // dynalite SIGKILLed and restarted empty (in memory, or its folder deleted): every item is
      // gone, the table is created again before the fault heals.
      const store = targets.dynamo ?? single(targets, name);
      await store.crash();
      const end = recordFault(targets.history, {
        fault: name,
        target: 'store',
        unreachable: true,
        losesState: true,
      });
      return {
        name,
        async heal() {
          end();
          // A store run with persistence (for `store-crash-aof` in the same scenario) loses it too.
          await store.restart({ empty: true });
        },
      };
    }
    case 'store-crash-aof': {
      if (targets.dynamo !== undefined) return crashDynamoKeepingState(targets.dynamo, targets);
      const redis = single(targets, name);
      if (!redis.aof) throw new Error(`${name} needs a Redis started with { aof: true }`);
      // SIGKILLed and restarted from its append-only file: with `appendfsync always` a write is on
      // disk before its reply is sent, so everything acknowledged survives (no `losesState`).
      await redis.crash();
      const end = recordFault(targets.history, {
        fault: name,
        target: 'store',
        unreachable: true,
        detail: { appendfsync: 'always' },
      });
      return {
        name,
        async heal() {
          end();
          await redis.restart();
        },
      };
    }
    case 'store-failover': {
      const pair = targets.replication;
      if (pair === undefined) throw new Error(`${name} needs a store with a replica`);
      // The primary is SIGKILLed and its replica promoted: the writes it had not replicated are
      // gone, and the store is out of reach until the promotion.
      const started = recordFault(targets.history, {
        fault: name,
        target: 'store',
        unreachable: false,
        losesState: true,
      });
      await pair.failover();
      return {
        name,
        async heal() {
          started();
          // A new replica for the next failover, as an operator or Sentinel set-up would add.
          await pair.startReplica();
        },
      };
    }
    case 'sentinel-failover': {
      const sentinel = targets.sentinel;
      if (sentinel === undefined) throw new Error(`${name} needs a store watched by Sentinel`);
      // From the kill until Sentinel has promoted the replica, there is no primary; what the
      // replica had not received is gone.
      const started = recordFault(targets.history, {
        fault: name,
        target: 'store',
        unreachable: false,
        losesState: true,
      });
      const promoted = await sentinel.killPrimary();
      targets.history.info('sentinel-failover', { promoted });
      return {
        name,
        async heal() {
          started();
          await sentinel.restoreReplica();
        },
      };
    }
    case 'replica-pause': {
      const index = replica ?? 0;
      const handle = targets.replicas[index];
      if (handle === undefined) throw new RangeError(`No replica ${index} to pause`);
      handle.kill('SIGSTOP');
      const end = recordFault(targets.history, { fault: name, target: index, unreachable: false });
      return {
        name,
        async heal() {
          end();
          handle.kill('SIGCONT');
        },
      };
    }
    case 'cluster-slot-migration':
    case 'cluster-failover':
    case 'cluster-failover-force': {
      if (targets.cluster === undefined) throw new Error(`${name} needs a Redis Cluster store`);
      return injectClusterFault(
        name,
        targets.cluster,
        targets.history,
        targets.random ?? Math.random,
      );
    }
    case 'clock-jump': {
      const index = replica ?? 0;
      const handle = targets.replicas[index];
      if (handle === undefined) throw new RangeError(`No replica ${index} to jump the clock of`);
      const jumpMs = targets.clockJumpMs ?? CLOCK_JUMP_MS;
      const offsetMs = ((targets.random ?? Math.random)() < 0.5 ? -1 : 1) * jumpMs;
      handle.send(`clock ${offsetMs}`);
      const end = recordFault(targets.history, {
        fault: name,
        target: index,
        unreachable: false,
        detail: { offsetMs },
      });
      return {
        name,
        async heal() {
          end();
          handle.send('clock 0');
        },
      };
    }
  }
}

/**
 * `store-crash-aof` on DynamoDB: the dynalite process SIGKILLed and restarted on its LevelDB
 * folder (`--path`). dynalite answers a write once LevelDB has written it to its log file, which a
 * killed process does not take back, so everything acknowledged survives (no `losesState`).
 */
async function crashDynamoKeepingState(
  dynamo: NemesisDynalite,
  targets: FaultTargets,
): Promise<ActiveFault> {
  const name = 'store-crash-aof';
  if (!dynamo.persistent)
    throw new Error(`${name} needs a dynalite started with { persistent: true }`);
  await dynamo.crash();
  const end = recordFault(targets.history, {
    fault: name,
    target: 'store',
    unreachable: true,
    detail: { dynalite: '--path' },
  });
  return {
    name,
    async heal() {
      end();
      await dynamo.restart();
    },
  };
}
