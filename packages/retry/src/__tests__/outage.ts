/**
 * What the outage tests share: a private `redis-server` they can break (stop it: connections are
 * refused; SIGSTOP it: connections hang), a client configured as users run it (reconnecting, with
 * the offline queue on, so a command sent while Redis is down waits rather than failing), and a
 * timer for "settles within the deadline".
 */
import { type RedisServer, startRedisServer } from '@breakwater/testkit';
import { Redis } from 'ioredis';

/** A private Redis and a client of it; {@link PrivateRedis.cleanup} releases both. */
export interface PrivateRedis {
  readonly server: RedisServer;
  readonly client: Redis;
  /** Refuses connections from now on (the server is stopped). */
  refuse(): Promise<void>;
  /** Hangs from now on: the server is paused with SIGSTOP; connections stay open, unanswered. */
  hang(): void;
  /** Answers again: SIGCONT after {@link hang}, a new server on the same port after {@link refuse}. */
  restore(): Promise<void>;
  cleanup(): Promise<void>;
}

/** Starts a private Redis and a client that reconnects on its own, as a user's would. */
export async function privateRedis(): Promise<PrivateRedis> {
  let server = await startRedisServer();
  let paused = false;
  const client = new Redis(server.url, { retryStrategy: () => 50 });
  client.on('error', () => {});
  await new Promise((resolve) => client.once('ready', resolve));
  return {
    get server() {
      return server;
    },
    client,
    refuse: () => server.stop(),
    hang() {
      process.kill(server.pid, 'SIGSTOP');
      paused = true;
    },
    async restore() {
      if (paused) {
        process.kill(server.pid, 'SIGCONT');
        paused = false;
      } else {
        server = await startRedisServer({ port: server.port });
      }
    },
    async cleanup() {
      if (paused) process.kill(server.pid, 'SIGCONT');
      client.disconnect();
      await server.stop();
    },
  };
}

/** How a promise settled, and after how many milliseconds. */
export async function timed<T>(
  promise: Promise<T>,
): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await promise;
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

/** Scheduling slack allowed beyond a deadline (a loaded CI machine, a GC pause). */
export const SLACK_MS = 250;
