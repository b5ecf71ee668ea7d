import type { RedisClientLibrary } from './default-clients.js';
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

/**
 * node-redis's default `reconnectStrategy` waits `min(50 · 2^n, 2000)` ms plus 0–199 ms of jitter
 * before retry n; the first retry after a lost connection is immediate, so the waits go 100, 200,
 * 400, 800, 1600, 2000, 2000… ms. Each wait is at most the time spent before it + 100 ms, so the
 * one pending when the server returns ends at most min(outage + 100, 2000) + 200 ms later; a
 * connect and the handshake (CLIENT SETINFO) are the last 100.
 */
export function nodeRedisReconnectBoundMs(outageMs: number): number {
  return Math.min(outageMs + 100, 2_000) + 200 + 100;
}

/**
 * How long a node-redis client destroyed while it waits to reconnect may keep a process alive:
 * the wait is an awaited `setTimeout` of `timers/promises` that `destroy()` cannot cancel (the
 * loop only sees the client closed when it ends), at most 2 s + 199 ms of jitter.
 */
export const NODE_REDIS_RECONNECT_LINGER_MS = 2_200;

/** Sends a signal to a server process unless it has exited. */
export function signalServer(server: RedisServer, signal: 'SIGSTOP' | 'SIGCONT'): void {
  if (server.exited) return;
  try {
    process.kill(server.pid, signal);
  } catch {
    // exited meanwhile
  }
}

/**
 * Starts a private `redis-server` that can be broken, its clients built with `library`; see
 * `startFaultyStore('redis')`.
 */
export async function startFaultyRedis<L extends RedisClientLibrary>(
  library: L,
): Promise<FaultyRedis<L>> {
  let server = await startRedisServer();
  const { port, url } = server;
  const address = { backend: 'redis' as const, url, client: library };
  const clients = new TrackedClients<'redis', L>(address);
  const nodeRedis = library === 'node-redis';
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
    clientLibrary: library,
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
    reconnectBoundMs: (fault: Fault, outageMs: number) => {
      if (fault !== 'refuse') return 0;
      return nodeRedis ? nodeRedisReconnectBoundMs(outageMs) : ioredisReconnectBoundMs(outageMs);
    },
    clientLingerMs: (fault: Fault) =>
      nodeRedis && fault === 'refuse' ? NODE_REDIS_RECONNECT_LINGER_MS : 0,
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
