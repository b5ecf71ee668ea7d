/**
 * The child side of a nemesis scenario: what every replica script reads from its environment, its
 * Redis client (through its own fault proxy), its history, and the run's timing.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { type HistoryRecorder, replicaHistory } from './history.js';

/** Environment variable carrying the scenario's parameters (JSON) to its replicas. */
export const SCENARIO_PARAMS_ENV = 'BREAKWATER_NEMESIS_PARAMS';

/**
 * Environment variable carrying a Redis Cluster's startup nodes (JSON `[{ host, port }]`): when
 * set, a replica's client is an ioredis `Cluster` on them instead of a `Redis` on `REDIS_URL`.
 */
export const CLUSTER_NODES_ENV = 'BREAKWATER_NEMESIS_CLUSTER_NODES';

/**
 * Environment variable carrying Redis Sentinel's address and monitored name (JSON
 * `{ sentinels: [{ host, port }], name }`): when set, a replica's client finds the primary through
 * Sentinel (ioredis `new Redis({ sentinels, name })`).
 */
export const SENTINEL_ENV = 'BREAKWATER_NEMESIS_SENTINEL';

/**
 * A replica's wall clock, in the shape of `@breakwater/core`'s `Clock`: `Date.now()` plus an
 * offset the nemesis moves at run time (`clock-jump`), as NTP stepping a pod's clock would.
 * `sleep` runs on timers, which no wall-clock jump moves.
 */
export interface ReplicaClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** The current offset from `Date.now()`, in ms. */
  readonly offsetMs: number;
}

/** What every replica of a scenario gets. */
export interface ReplicaRun<P> {
  /** This replica's index and the fleet's size. */
  index: number;
  replicas: number;
  /** The scenario's parameters. */
  params: P;
  /** Key prefix shared by the fleet (unique per run). */
  prefix: string;
  /**
   * A Redis client connected through this replica's fault proxy, or a Cluster client; made on first
   * read (a replica on DynamoDB never reads it).
   */
  client: Redis | Cluster;
  /** This replica's history. */
  history: HistoryRecorder;
  /** This replica's wall clock: pass it as the policies' `clock` so a `clock-jump` reaches them. */
  clock: ReplicaClock;
  /**
   * Waits for the nemesis's start line on stdin (sent once every replica said `ready`), then until
   * the start time it names: the whole fleet starts and ends at the same moments.
   */
  waitForStart(): Promise<void>;
  /** Whether the run is still on. */
  running(): boolean;
  /** Closes the history and the client. */
  close(): Promise<void>;
}

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`Missing ${name}: run under the nemesis`);
  return value;
}

/** Reads the replica's side of a scenario from its environment. */
export function replicaRun<P>(): ReplicaRun<P> {
  const durationMs = Number(env('NEMESIS_DURATION_MS'));
  let endAt = Number.POSITIVE_INFINITY;
  // socketTimeout: a connection left half-open by the nemesis is dropped and reconnected, as a
  // service would configure it; without it a half-open connection hangs until TCP keepalive.
  const connection = { socketTimeout: 1_000, connectTimeout: 1_000, retryStrategy: () => 50 };
  // Built on first use: a replica on another store (DynamoDB) never makes one.
  let client: Redis | Cluster | undefined;
  const redisClient = (): Redis | Cluster => {
    if (client !== undefined) return client;
    const clusterNodes = process.env[CLUSTER_NODES_ENV];
    const sentinel = process.env[SENTINEL_ENV];
    client =
      clusterNodes === undefined
        ? sentinel === undefined
          ? new Redis(env('REDIS_URL'), connection)
          : new Redis({
              ...connection,
              ...(JSON.parse(sentinel) as {
                sentinels: { host: string; port: number }[];
                name: string;
              }),
              sentinelRetryStrategy: () => 50,
            })
        : // ASK and MOVED are followed by the client; a script that meets a slot half moved
          // (TRYAGAIN) is retried after 100 ms by ioredis, past the store deadline: a store error.
          new Cluster(JSON.parse(clusterNodes) as { host: string; port: number }[], {
            redisOptions: connection,
            clusterRetryStrategy: () => 50,
          });
    // Refused and reset connections are what the nemesis does: the policies cope.
    client.on('error', () => {});
    return client;
  };
  const history = replicaHistory();
  let offsetMs = 0;
  let control: ReturnType<typeof createInterface> | undefined;
  const clock: ReplicaClock = {
    now: () => Date.now() + offsetMs,
    sleep: (ms, signal) => sleep(ms, undefined, signal === undefined ? undefined : { signal }),
    get offsetMs() {
      return offsetMs;
    },
  };
  return {
    index: Number(env('BREAKWATER_REPLICA_INDEX')),
    replicas: Number(env('BREAKWATER_REPLICA_COUNT')),
    params: JSON.parse(env(SCENARIO_PARAMS_ENV)) as P,
    prefix: env('NEMESIS_PREFIX'),
    get client() {
      return redisClient();
    },
    history,
    clock,
    async waitForStart() {
      const lines = createInterface({ input: process.stdin });
      control = lines;
      const startAt = await new Promise<number>((resolve, reject) => {
        lines.once('line', (line) => resolve(Number(line.replace(/^start /, ''))));
        lines.once('close', () => reject(new Error('The nemesis closed stdin before the start')));
      });
      // Later lines are the nemesis's clock jumps: `clock <offsetMs>` (0 heals).
      lines.on('line', (line) => {
        const match = /^clock (-?\d+)$/.exec(line);
        if (match === null) return;
        offsetMs = Number(match[1]);
        history.info('clock', { offsetMs });
      });
      process.stdin.unref?.();
      endAt = startAt + durationMs;
      await sleep(Math.max(0, startAt - Date.now()));
    },
    running: () => Date.now() < endAt,
    async close() {
      control?.close();
      history.close();
      client?.disconnect();
    },
  };
}
