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
 * off) on the first core it may use and moves itself, every thread, to the last one: every case pays the
 * cross-core round trip that a Redis on its own host would cost, and nothing is left to chance.
 * With one core, without `taskset` (or if it fails), or with `BENCH_PIN=0`, the run uses the
 * private server unpinned (or the given `REDIS_URL`) and says so in the report.
 */
import { execFileSync } from 'node:child_process';
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
  const unpinned = (why: string): Placement => ({
    redisUrl: server.url,
    description: `a private redis-server ${version}, placed by the OS scheduler (not pinned: ${why})`,
    serverPid: server.pid,
    stop: () => server.stop(),
  });
  if (process.env.BENCH_PIN === '0') return unpinned('BENCH_PIN=0');
  if (process.platform !== 'linux')
    return unpinned(`pinning is only done on Linux, not ${process.platform}`);
  let cores: number[];
  try {
    cores = allowedCores(process.pid);
  } catch {
    return unpinned('taskset is not installed');
  }
  if (cores.length < 2) return unpinned('one core available');
  const redisCore = cores[0]!;
  const benchCore = cores[cores.length - 1]!;
  try {
    pin(server.pid, redisCore);
    pin(process.pid, benchCore);
  } catch (error) {
    return unpinned(`taskset failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    redisUrl: server.url,
    description: `a private redis-server ${version} pinned to core ${redisCore}, the benchmark pinned to core ${benchCore}`,
    serverPid: server.pid,
    stop: () => server.stop(),
  };
}

/** The cores `pid` may run on, from `taskset -c -p` ("…: 0-3,6" → [0, 1, 2, 3, 6]). */
function allowedCores(pid: number): number[] {
  const out = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' });
  const list = out.slice(out.lastIndexOf(':') + 1).trim();
  const cores: number[] = [];
  for (const part of list.split(',')) {
    const [from, to = from] = part.split('-').map(Number);
    for (let core = from!; core <= to!; core++) cores.push(core);
  }
  return cores;
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
