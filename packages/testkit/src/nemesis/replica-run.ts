/**
 * The child side of a nemesis scenario: what every replica script reads from its environment, its
 * Redis client (through its own fault proxy), its history, and the run's timing.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type HistoryRecorder, replicaHistory } from './history.js';

/** Environment variable carrying the scenario's parameters (JSON) to its replicas. */
export const SCENARIO_PARAMS_ENV = 'BREAKWATER_NEMESIS_PARAMS';

/** What every replica of a scenario gets. */
export interface ReplicaRun<P> {
  /** This replica's index and the fleet's size. */
  index: number;
  replicas: number;
  /** The scenario's parameters. */
  params: P;
  /** Key prefix shared by the fleet (unique per run). */
  prefix: string;
  /** A Redis client connected through this replica's fault proxy. */
  client: Redis;
  /** This replica's history. */
  history: HistoryRecorder;
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
  const client = new Redis(env('REDIS_URL'), {
    socketTimeout: 1_000,
    connectTimeout: 1_000,
    retryStrategy: () => 50,
  });
  // Refused and reset connections are what the nemesis does: the policies cope.
  client.on('error', () => {});
  const history = replicaHistory();
  return {
    index: Number(env('BREAKWATER_REPLICA_INDEX')),
    replicas: Number(env('BREAKWATER_REPLICA_COUNT')),
    params: JSON.parse(env(SCENARIO_PARAMS_ENV)) as P,
    prefix: env('NEMESIS_PREFIX'),
    client,
    history,
    async waitForStart() {
      const lines = createInterface({ input: process.stdin });
      const startAt = await new Promise<number>((resolve, reject) => {
        lines.once('line', (line) => resolve(Number(line.replace(/^start /, ''))));
        lines.once('close', () => reject(new Error('The nemesis closed stdin before the start')));
      });
      lines.close();
      process.stdin.unref?.();
      endAt = startAt + durationMs;
      await sleep(Math.max(0, startAt - Date.now()));
    },
    running: () => Date.now() < endAt,
    async close() {
      history.close();
      client.disconnect();
    },
  };
}
