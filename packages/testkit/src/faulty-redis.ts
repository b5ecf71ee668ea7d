import type { Fault, FaultState, FaultyRedis } from './faulty-store.js';
import { SerialQueue, TrackedClients } from './faulty-store.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/**
 * ioredis's default `retryStrategy` waits `min(50 · 2^(n−1), 5000)` ms plus up to 200 ms of
 * jitter before reconnect attempt n. The attempt pending when the server returns was scheduled at
 * most ~(outage + 50) ms before (the delays double, so each is about the sum of those before it),
 * and never more than 5 s: that, the jitter, and a connect plus ready check bound the wait.
 */
export function ioredisReconnectBoundMs(outageMs: number): number {
  return Math.min(outageMs + 50, 5_000) + 200 + 100;
}

/** Sends a signal to a server process unless it has exited. */
export function signalServer(server: RedisServer, signal: 'SIGSTOP' | 'SIGCONT'): void {
  if (server.exited) return;
  try {
    process.kill(server.pid, signal);
  } catch {
    // exited meanwhile
  }
}

/** Starts a private `redis-server` that can be broken; see `startFaultyStore('redis')`. */
export async function startFaultyRedis(): Promise<FaultyRedis> {
  let server = await startRedisServer();
  const { port, url } = server;
  const address = { backend: 'redis' as const, url };
  const clients = new TrackedClients(address);
  const queue = new SerialQueue();
  let state: FaultState = 'healthy';
  let stopped = false;

  const assertRunning = () => {
    if (stopped) throw new Error(`The faulty Redis at ${url} is stopped`);
  };

  const restore = async () => {
    assertRunning();
    if (state === 'hung') signalServer(server, 'SIGCONT');
    // Same port, so the user's client (reconnecting with its own backoff) finds it again.
    if (state === 'refused') server = await startRedisServer({ port });
    state = 'healthy';
  };

  const refuse = async () => {
    assertRunning();
    if (state === 'refused') return;
    // SIGKILL ends a stopped process too; no SIGCONT needed first.
    await server.kill();
    state = 'refused';
  };

  const hang = async () => {
    assertRunning();
    if (state === 'hung') return;
    if (state === 'refused') await restore();
    signalServer(server, 'SIGSTOP');
    state = 'hung';
  };

  return {
    backend: 'redis',
    address,
    url,
    get state() {
      return state;
    },
    get pids() {
      return server.exited ? [] : [server.pid];
    },
    refuse: () => queue.run(refuse),
    hang: () => queue.run(hang),
    inject: (fault: Fault) => queue.run(fault === 'refuse' ? refuse : hang),
    restore: () => queue.run(restore),
    reconnectBoundMs: (fault: Fault, outageMs: number) =>
      fault === 'refuse' ? ioredisReconnectBoundMs(outageMs) : 0,
    clientLingerMs: () => 0,
    newClient: () => {
      assertRunning();
      return clients.create();
    },
    stop: () =>
      queue.run(async () => {
        if (stopped) return;
        stopped = true;
        clients.closeAll();
        signalServer(server, 'SIGCONT');
        await server.kill();
      }),
  };
}
