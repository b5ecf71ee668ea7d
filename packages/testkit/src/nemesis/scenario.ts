/**
 * Runs one nemesis scenario: a private Redis (or dynalite, for a DynamoDB scenario), one fault
 * proxy per replica in front of it, a fleet of replica processes recording their histories, a
 * schedule of faults drawn from the scenario's fault set, then the checkers over the merged
 * history.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FaultProxy, startFaultProxy } from '../fault-proxy.js';
import { type FleetResult, type ReplicaHandle, spawnReplica } from '../fleet.js';
import { type RedisReplication, startRedisReplication } from '../redis-replication.js';
import { type CheckResult, formatViolations } from './checker.js';
import { isClusterFault } from './cluster-faults.js';
import { type NemesisCluster, startNemesisCluster } from './cluster-process.js';
import { type NemesisDynalite, startNemesisDynalite } from './dynalite-process.js';
import { DYNAMO_STORE_ENV, type NemesisStoreKind } from './dynamo-replica.js';
import {
  type ActiveFault,
  AOF_FAULTS,
  type FaultName,
  type FaultTargets,
  injectFault,
  REDIS_ONLY_FAULTS,
  REPLICATION_FAULTS,
  seededRandom,
} from './faults.js';
import { HISTORY_FILE_ENV, type HistoryEvent, openHistory, readHistory } from './history.js';
import { type NemesisRedis, startNemesisRedis } from './redis-process.js';
import { CLUSTER_NODES_ENV, SCENARIO_PARAMS_ENV, SENTINEL_ENV } from './replica-run.js';
import { RESOURCE_PORT_ENV, type SharedResource, startSharedResource } from './resource.js';
import { type NemesisSentinel, startNemesisSentinel } from './sentinel-process.js';

/** What a scenario is: a fleet, its faults and its invariants. */
export interface Scenario<P = unknown> {
  /** Name in reports, e.g. `rate-limit`. */
  name: string;
  /** Absolute path of the replica script. */
  script: string;
  /** Replica processes. */
  replicas: number;
  /** Parameters every replica receives (JSON). */
  params: P;
  /** The faults the schedule draws from. */
  faults: readonly FaultName[];
  /** Faults that hit one replica at a time rather than the whole fleet. @default proxy faults hit all */
  perReplica?: (fault: FaultName) => boolean;
  /** How long a fault lasts, in ms: `[min, max)`. */
  faultMs: [number, number];
  /** Healthy time between two faults, in ms: `[min, max)`. */
  healthyMs: [number, number];
  /** Start a {@link startSharedResource} shared resource for the replicas to act on. @default false */
  resource?: boolean;
  /**
   * The `lease` values of the resource's open calls (between a `-start` and an `-end` action) that
   * mean the caller holds a fleet lease now, e.g. `['acquired']` for cache loads, `['store']` for
   * half-open probes. A `replica-pause` then hits a replica holding one, waiting up to 1.5 s for
   * one (else the replica that acted last), and the nemesis records which in a `pause-target` event.
   * @default none: the pause hits the replica that acted last
   */
  leases?: readonly string[];
  /**
   * The store the fleet shares: a Redis (single, replicated, Cluster or Sentinel, as the faults
   * need), or DynamoDB (dynalite in a process of its own, each replica's client through its fault
   * proxy: the replicas must be told so by their params). @default 'redis'
   */
  store?: NemesisStoreKind;
  /** How far a `clock-jump` moves a replica's clock, in ms. @default CLOCK_JUMP_MS (30 s) */
  clockJumpMs?: number;
  /** The invariants, judged over the merged history. */
  check(history: HistoryEvent[]): CheckResult[];
}

/** Options of {@link runScenario}. */
export interface RunScenarioOptions {
  /** How long the fleet runs under the nemesis, in ms. */
  durationMs: number;
  /** Seed of the fault schedule. @default a random one (reported) */
  seed?: number;
  /** Keep the history files (their folder is in the report). @default only when violated */
  keepHistory?: boolean;
  /**
   * The fault the schedule starts with (one of the scenario's faults); the rest follow in the
   * seeded order. For a short run that must see one fault of several. @default seeded like the rest
   */
  firstFault?: FaultName;
}

/** What one run of a scenario found. */
export interface ScenarioReport {
  /** The scenario's name. */
  scenario: string;
  /** The seed of the fault schedule (pass it back to replay the same schedule). */
  seed: number;
  /** How long the fleet ran under the nemesis, in ms. */
  durationMs: number;
  /** Operations recorded by the replicas (invokes). */
  operations: number;
  /** Faults injected, by name. */
  faults: Partial<Record<FaultName, number>>;
  /** Each invariant's verdict. */
  results: CheckResult[];
  /** Every violation with the history around it (empty when none). */
  details: string;
  /** The folder of the history files, if kept. */
  historyDir: string | undefined;
}

/** How long replica processes may take to start and say `ready`. */
const READY_WITHIN_MS = 30_000;

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const result = [...items];
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}

function between(random: () => number, [min, max]: [number, number]): number {
  return min + random() * (max - min);
}

/**
 * What a `pause-target` event says: the replica a `replica-pause` hit, and whether it held a fleet
 * lease then (`holding`, with the call, its kind, key and lease), or had only acted last.
 */
export interface PauseTarget {
  replica: number;
  holding: boolean;
  call?: string;
  kind?: string;
  key?: string;
  lease?: string;
}

/**
 * How long a `replica-pause` waits for a replica to hold a lease when none does, in ms: loads and
 * probes come and go, and a pause that catches one is the one the lease invariants are about.
 */
const HOLDER_WAIT_MS = 1_500;

/**
 * The replica a `replica-pause` should hit: one holding a lease of `leases` now (drawn at random
 * among them), waiting up to `waitMs` for one; else the one that acted last (`undefined` when
 * nobody acted yet).
 */
async function awaitHolder(
  resource: SharedResource,
  leases: readonly string[],
  random: () => number,
  waitMs: number,
): Promise<PauseTarget | undefined> {
  const until = Date.now() + waitMs;
  for (;;) {
    const holders = resource
      .open()
      .filter((action) => action.lease !== undefined && leases.includes(action.lease));
    if (holders.length > 0) {
      const { replica, call, kind, key, lease } = holders[Math.floor(random() * holders.length)]!;
      return { replica, holding: true, call, kind, ...(key === undefined ? {} : { key }), lease };
    }
    if (Date.now() >= until) break;
    await sleep(5);
  }
  const last = resource.lastActor;
  return last === undefined ? undefined : { replica: last, holding: false };
}

/** Runs `scenario` once under its nemesis and judges its history. */
export async function runScenario<P>(
  scenario: Scenario<P>,
  options: RunScenarioOptions,
): Promise<ScenarioReport> {
  if (options.firstFault !== undefined && !scenario.faults.includes(options.firstFault)) {
    throw new TypeError(
      `runScenario: options.firstFault must be one of the scenario's faults (${scenario.faults.join(', ')}); received ${JSON.stringify(options.firstFault)}`,
    );
  }
  const store = scenario.store ?? 'redis';
  if (store !== 'redis' && store !== 'dynamodb') {
    throw new TypeError(
      `runScenario: scenario.store must be 'redis' or 'dynamodb'; received ${JSON.stringify(store)}`,
    );
  }
  if (
    scenario.clockJumpMs !== undefined &&
    !(Number.isFinite(scenario.clockJumpMs) && scenario.clockJumpMs > 0)
  ) {
    throw new RangeError(
      `runScenario: scenario.clockJumpMs must be a number of ms > 0; received ${scenario.clockJumpMs}`,
    );
  }
  const redisOnly = scenario.faults.filter((fault) => REDIS_ONLY_FAULTS.includes(fault));
  if (store === 'dynamodb' && redisOnly.length > 0) {
    throw new TypeError(
      `runScenario: ${scenario.name} runs on DynamoDB, which has no ${redisOnly.join(', ')} (Redis-only faults: ${REDIS_ONLY_FAULTS.join(', ')}); received faults ${JSON.stringify(scenario.faults)}`,
    );
  }
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const dir = mkdtempSync(join(tmpdir(), `bw-nemesis-${scenario.name}-`));
  const history = openHistory(join(dir, 'nemesis.jsonl'), -1);
  const resourceHistory = openHistory(join(dir, 'resource.jsonl'), -2);
  let resource: SharedResource | undefined;
  let redis: NemesisRedis | undefined;
  let dynamo: NemesisDynalite | undefined;
  let replication: RedisReplication | undefined;
  let cluster: NemesisCluster | undefined;
  let sentinel: NemesisSentinel | undefined;
  const proxies: FaultProxy[] = [];
  const replicas: ReplicaHandle[] = [];
  const active = new Set<ActiveFault>();
  const counts: Partial<Record<FaultName, number>> = {};
  let keep = options.keepHistory ?? false;
  try {
    // A failover needs a primary and a replica; the other store faults, one Redis process.
    const replicated = scenario.faults.some((fault) => REPLICATION_FAULTS.includes(fault));
    if (
      replicated &&
      scenario.faults.some(
        (fault) => fault.startsWith('store-') && !REPLICATION_FAULTS.includes(fault),
      )
    ) {
      throw new Error(`${scenario.name}: store-failover runs without the other store faults`);
    }
    // The Cluster faults run on a Redis Cluster with a Cluster client per replica (no proxies),
    // with no other fault but a replica's pause (which needs no proxy).
    const clustered = scenario.faults.some(isClusterFault);
    if (clustered && !scenario.faults.every((f) => isClusterFault(f) || f === 'replica-pause')) {
      throw new Error(`${scenario.name}: the Cluster faults run without the other faults`);
    }
    // Sentinel's failover too: its clients find the primary through Sentinel.
    const sentineled = scenario.faults.includes('sentinel-failover');
    const alongSentinel = (f: FaultName) => f === 'sentinel-failover' || f === 'replica-pause';
    if (sentineled && !scenario.faults.every(alongSentinel)) {
      throw new Error(`${scenario.name}: sentinel-failover runs without the other faults`);
    }
    let storePort = 0;
    if (store === 'dynamodb') {
      // A crash that must keep what was acknowledged needs a dynalite on a LevelDB folder.
      dynamo = await startNemesisDynalite({
        persistent: scenario.faults.some((fault) => AOF_FAULTS.includes(fault)),
      });
      storePort = dynamo.port;
    } else if (clustered) {
      cluster = await startNemesisCluster();
    } else if (sentineled) {
      sentinel = await startNemesisSentinel();
    } else if (replicated) {
      replication = await startRedisReplication();
      storePort = replication.port;
    } else {
      // A crash that must keep what was acknowledged needs a Redis writing an append-only file.
      redis = await startNemesisRedis({
        aof: scenario.faults.some((fault) => AOF_FAULTS.includes(fault)),
      });
      storePort = redis.port;
    }
    if (scenario.resource) resource = await startSharedResource(resourceHistory);
    for (let i = 0; i < (clustered || sentineled ? 0 : scenario.replicas); i++) {
      proxies.push(await startFaultProxy({ host: '127.0.0.1', port: storePort }));
    }
    const prefix = `bw-nemesis:${scenario.name}:${process.pid}:${seed}`;
    for (let index = 0; index < scenario.replicas; index++) {
      replicas.push(
        spawnReplica({
          script: scenario.script,
          index,
          replicas: scenario.replicas,
          stdin: true,
          timeoutMs: READY_WITHIN_MS + options.durationMs + 60_000,
          env: {
            ...(cluster !== undefined
              ? { [CLUSTER_NODES_ENV]: JSON.stringify(cluster.nodes) }
              : sentinel !== undefined
                ? {
                    [SENTINEL_ENV]: JSON.stringify({
                      sentinels: [sentinel.sentinel],
                      name: sentinel.name,
                    }),
                  }
                : dynamo !== undefined
                  ? {
                      [DYNAMO_STORE_ENV]: JSON.stringify({
                        endpoint: `http://127.0.0.1:${proxies[index]!.port}`,
                        tableName: dynamo.tableName,
                      }),
                    }
                  : { REDIS_URL: `redis://127.0.0.1:${proxies[index]!.port}` }),
            [HISTORY_FILE_ENV]: join(dir, `replica-${index}.jsonl`),
            [SCENARIO_PARAMS_ENV]: JSON.stringify(scenario.params),
            NEMESIS_PREFIX: prefix,
            NEMESIS_DURATION_MS: String(options.durationMs),
            ...(resource === undefined ? {} : { [RESOURCE_PORT_ENV]: String(resource.port) }),
          },
        }),
      );
    }
    // Replica processes (tsx) start slowly on a loaded 2-core machine; the run starts when all
    // are ready, at the same moment for all.
    await Promise.all(replicas.map((replica) => replica.waitForMessage('ready', READY_WITHIN_MS)));
    const startAt = Date.now() + 200;
    for (const replica of replicas) replica.send(`start ${startAt}`);
    await sleep(Math.max(0, startAt - Date.now()));
    const endAt = startAt + options.durationMs;
    const targets: FaultTargets = {
      redis,
      dynamo,
      clockJumpMs: scenario.clockJumpMs,
      replication,
      cluster,
      sentinel,
      proxies,
      replicas,
      history,
      random,
    };
    const perReplica = scenario.perReplica ?? ((fault: FaultName) => fault === 'replica-pause');

    // The schedule: healthy, a fault, healed, … until the end; nothing is left in force.
    const deck: FaultName[] = [];
    while (scenario.faults.length > 0) {
      await sleep(Math.min(between(random, scenario.healthyMs), Math.max(0, endAt - Date.now())));
      const left = endAt - Date.now();
      if (left < scenario.faultMs[0]) break;
      // Every fault of the set once, in a seeded order, before any repeats.
      if (deck.length === 0) deck.push(...shuffle(scenario.faults, random));
      if (options.firstFault !== undefined && Object.keys(counts).length === 0) {
        deck.splice(deck.indexOf(options.firstFault), 1);
        deck.unshift(options.firstFault);
      }
      const name = deck.shift()!;
      // A client pause hits a replica that holds a lease now (a load or a probe under the fleet's
      // lease), or else one that holds a permit now (it acted last), when the resource knows one:
      // that is the pause the invariants are about.
      const holder =
        name === 'replica-pause' && resource !== undefined && scenario.leases !== undefined
          ? await awaitHolder(
              resource,
              scenario.leases,
              random,
              Math.min(HOLDER_WAIT_MS, endAt - Date.now() - scenario.faultMs[0]),
            )
          : undefined;
      if (holder !== undefined) history.info('pause-target', holder);
      const replica =
        holder !== undefined
          ? holder.replica
          : name === 'replica-pause' && resource?.lastActor !== undefined
            ? resource.lastActor
            : perReplica(name) || name === 'clock-jump'
              ? Math.floor(random() * scenario.replicas)
              : undefined;
      const fault = await injectFault(name, targets, replica);
      active.add(fault);
      counts[name] = (counts[name] ?? 0) + 1;
      await sleep(Math.min(between(random, scenario.faultMs), Math.max(0, endAt - Date.now())));
      active.delete(fault);
      await fault.heal();
    }
    const results: FleetResult[] = await Promise.all(replicas.map((replica) => replica.result));
    for (const result of results) {
      if (result.exitCode !== 0) {
        throw new Error(
          `Nemesis replica ${result.index} of ${scenario.name} exited with ${result.exitCode ?? result.signal} (seed ${seed}):\n${result.stderr}`,
        );
      }
    }
    history.close();
    resourceHistory.close();
    const paths = [
      join(dir, 'nemesis.jsonl'),
      join(dir, 'resource.jsonl'),
      ...replicas.map((_, index) => join(dir, `replica-${index}.jsonl`)),
    ];
    const merged = readHistory(paths);
    const checks = scenario.check(merged);
    const violations = checks.flatMap((check) => check.violations);
    if (violations.length > 0) keep = true;
    return {
      scenario: scenario.name,
      seed,
      durationMs: options.durationMs,
      operations: merged.filter((event) => event.type === 'invoke' || event.f === 'act').length,
      faults: counts,
      results: checks,
      details: formatViolations(merged, violations),
      historyDir: keep ? dir : undefined,
    };
  } catch (error) {
    keep = true;
    throw error;
  } finally {
    for (const fault of active) await fault.heal().catch(() => {});
    for (const replica of replicas) {
      replica.kill('SIGCONT');
      replica.kill('SIGKILL');
    }
    history.close();
    await resource?.close();
    resourceHistory.close();
    for (const proxy of proxies) await proxy.close();
    await redis?.stop();
    await dynamo?.stop();
    await replication?.stop();
    await cluster?.stop();
    await sentinel?.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
