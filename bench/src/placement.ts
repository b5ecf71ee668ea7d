/**
 * Where the benchmark and its Redis run: on cores of their own.
 *
 * A Redis round trip on localhost costs two wake-ups, one per process. On a 2-core VM the
 * scheduler sometimes puts the benchmark and Redis on the same core (the hand-off is then a
 * context switch) and sometimes on different ones (each side is woken from idle). Which one it
 * picks depends on how busy each process looks, so it differs from case to case: the same suite
 * measured a Breakwater L2 read at 0.90× and at 1.20× a raw GET in runs minutes apart, with
 * ±1 % margins each time. Ratios against a round trip only mean something when that placement is
 * the same for every case.
 *
 * So unless `REDIS_URL` names a Redis to use, the run starts a private `redis-server` (persistence
 * off) on the first core and moves itself, every thread, to the last one: every case pays the
 * cross-core round trip that a Redis on its own host would cost, and nothing is left to chance.
 * With one core, without `taskset`, or with `BENCH_PIN=0`, the run uses the private server
 * unpinned (or the given `REDIS_URL`) and says so in the report.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import process from 'node:process';
import { type RedisServer, startRedisServer } from '@breakwater/testkit/redis-server';

/** The Redis the suites use and how the processes are placed. */
export interface Placement {
  /** `redis://…` the suites connect to. */
  readonly redisUrl: string;
  /** One line for the report: which Redis, and on which cores. */
  readonly description: string;
  /** Process id of the private server, when the run started one. */
  readonly serverPid: number | undefined;
  /** Stops the private server, if the run started one. */
  stop(): Promise<void>;
}

/**
 * Decides where Redis and this process run, starting a private Redis when `REDIS_URL` is unset,
 * and sets `process.env.REDIS_URL` for the suites. Call it before the suites are imported.
 */
export async function placeProcesses(): Promise<Placement> {
  const given = process.env.REDIS_URL;
  if (given !== undefined && given !== '') {
    return {
      redisUrl: given,
      description: 'the Redis at REDIS_URL, placed by the OS scheduler (not pinned)',
      serverPid: undefined,
      stop: async () => {},
    };
  }
  const server = await startRedisServer();
  process.env.REDIS_URL = server.url;
  const version = redisVersion(server);
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const why = pinningUnavailable(cores);
  if (why !== undefined) {
    return {
      redisUrl: server.url,
      description: `a private redis-server ${version}, placed by the OS scheduler (not pinned: ${why})`,
      serverPid: server.pid,
      stop: () => server.stop(),
    };
  }
  const benchCore = cores - 1;
  pin(server.pid, 0);
  pin(process.pid, benchCore);
  return {
    redisUrl: server.url,
    description: `a private redis-server ${version} pinned to core 0, the benchmark pinned to core ${benchCore}`,
    serverPid: server.pid,
    stop: () => server.stop(),
  };
}

function pinningUnavailable(cores: number): string | undefined {
  if (process.env.BENCH_PIN === '0') return 'BENCH_PIN=0';
  if (process.platform !== 'linux') return `pinning is only done on Linux, not ${process.platform}`;
  if (cores < 2) return 'one core';
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'taskset is not installed';
  }
  return undefined;
}

/** Moves every thread of `pid` to `core`. */
function pin(pid: number, core: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

function redisVersion(server: RedisServer): string {
  try {
    const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    return /v=(\S+)/.exec(out)?.[1] ?? 'unknown';
  } catch {
    return `on port ${server.port}`;
  }
}
