import { execFile } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PLACEMENT = fileURLToPath(new URL('../placement.ts', import.meta.url));
const BENCH_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** Pinning needs two cores and Linux (`taskset`); the machines this runs on have both. */
const canPin = process.platform === 'linux' && os.availableParallelism() >= 2;

/**
 * Runs `placeProcesses()` in a child process (it pins the process that calls it, which must not
 * be a test worker) and reports what it did: the description, `REDIS_URL`, whether the server
 * answered, and the cores the server and the child may run on.
 */
async function place(env: Record<string, string | undefined>) {
  const script = `
    import { execFileSync } from 'node:child_process';
    import { createConnection } from 'node:net';
    const { placeProcesses } = await import(${JSON.stringify(PLACEMENT)});
    const placement = await placeProcesses();
    const url = new URL(placement.redisUrl);
    const pong = await new Promise((resolve) => {
      const socket = createConnection(Number(url.port), url.hostname, () => socket.write('PING\\r\\n'));
      socket.once('data', (data) => { resolve(String(data).trim()); socket.destroy(); });
      socket.once('error', (error) => resolve(error.message));
    });
    const cores = (pid) => execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' }).split(':')[1].trim();
    console.log(JSON.stringify({
      description: placement.description,
      redisUrl: placement.redisUrl,
      envUrl: process.env.REDIS_URL,
      pong,
      selfCores: cores(process.pid),
      serverCores: placement.serverPid === undefined ? undefined : cores(placement.serverPid),
    }));
    await placement.stop();
  `;
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    {
      cwd: BENCH_DIR,
      env: { ...process.env, REDIS_URL: undefined, BENCH_PIN: undefined, ...env },
      timeout: 30_000,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    description: string;
    redisUrl: string;
    envUrl: string;
    pong: string;
    selfCores: string;
    serverCores: string | undefined;
  };
}

describe('placeProcesses', () => {
  it.runIf(canPin)(
    'starts a private Redis on the first core and pins the benchmark to the last',
    async () => {
      const placed = await place({});
      expect(placed.pong).toBe('+PONG');
      expect(placed.redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(placed.envUrl).toBe(placed.redisUrl);
      expect(placed.redisUrl).not.toBe('redis://127.0.0.1:6379');
      expect(placed.description).toMatch(/^a private redis-server \S+ pinned to core 0/);
      const last = /benchmark pinned to core (\d+)/.exec(placed.description)![1];
      expect(placed.selfCores).toBe(last);
      expect(placed.serverCores).toBe('0');
    },
  );

  it.runIf(canPin)('keeps the private Redis but pins nothing with BENCH_PIN=0', async () => {
    const placed = await place({ BENCH_PIN: '0' });
    expect(placed.pong).toBe('+PONG');
    expect(placed.description).toMatch(/not pinned: BENCH_PIN=0/);
    expect(placed.selfCores).not.toMatch(/^\d+$/);
    expect(placed.serverCores).not.toMatch(/^\d+$/);
  });

  it.runIf(canPin)('uses the Redis at REDIS_URL as it is, unpinned', async () => {
    const placed = await place({ REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(placed.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(placed.description).toMatch(/REDIS_URL.*not pinned/);
    expect(placed.selfCores).not.toMatch(/^\d+$/);
  });
});
