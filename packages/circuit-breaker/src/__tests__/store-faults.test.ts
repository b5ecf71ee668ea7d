/**
 * The breaker and its Redis store against a private Redis the test breaks: refused (killed) and
 * hung (SIGSTOP). Nothing waits on the store past `storeDeadlineMs`: not `close()` (which ends the
 * subscriber connection the store opened, and leaves the user's), not `isolate()` / `reset()` /
 * `disable()`; and once degraded, the store is probed in the background until it answers again.
 * The clients are built as a new user would, with ioredis's default options.
 */

import { fileURLToPath } from 'node:url';
import { isStoreError, isStoreTimeoutError, type StoreStatusChange } from '@breakwater/core';
import {
  describeWithRedis,
  expectExitsByItself,
  type RedisServer,
  startRedisServer,
} from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import type { CircuitBreakerOptions } from '../options.js';
import { type RedisBreakerStore, redisStore } from '../stores/redis.js';

const DEADLINE_MS = 200;
const EXIT_SCRIPT = fileURLToPath(new URL('./fault-scripts/close-and-exit.ts', import.meta.url));
/** Event-loop delay a loaded test machine may add. */
const SLACK_MS = 150;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ok = () => 'ok';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close().catch(() => {});
});

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

/** How long `run` took, in milliseconds. */
async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

type Fault = 'refused' | 'hung';

/** Counts the calls of `method` on `connection`. */
function spyOn(connection: Redis, method: 'quit' | 'disconnect'): { calls: number } {
  const spy = { calls: 0 };
  const original = connection[method].bind(connection) as (...args: never[]) => unknown;
  connection[method] = ((...args: never[]) => {
    spy.calls++;
    return original(...args);
  }) as never;
  return spy;
}

/**
 * Asserts that the store ended the subscriber it opened: with `disconnect()`, never `quit()`
 * (which a reconnecting client never completes), so it no longer reconnects; with Redis hung, its
 * socket is destroyed at once (core's router does not wait for ioredis's `disconnectTimeout`), and
 * the connection's status is `end`. (A connection waiting to reconnect keeps its status.)
 */
async function expectEnded(subscriber: Redis, spies: Spies, fault: Fault): Promise<void> {
  expect(spies.quit.calls).toBe(0);
  expect(spies.disconnect.calls).toBe(1);
  if (fault === 'hung') await waitFor(() => subscriber.status === 'end', 200);
  else expect(['end', 'reconnecting', 'close']).toContain(subscriber.status);
}

interface Spies {
  quit: { calls: number };
  disconnect: { calls: number };
}

interface Setup {
  server: RedisServer;
  client: Redis;
  /** The user's own subscriber connection, when the test passes one to the store. */
  userSubscriber: Redis | undefined;
  store: RedisBreakerStore;
  breaker: CircuitBreaker;
  /** The connections the store opened with `client.duplicate()`, and spies on their closing. */
  duplicates: Redis[];
  spies: Spies[];
  statuses: StoreStatusChange[];
  /**
   * Runs a first call, and waits until the store's subscriber is subscribed and the re-read that
   * follows (the subscription's gap) has been answered: nothing of the start is left in flight.
   */
  started(): Promise<void>;
  /** Breaks the server: kills it, or stops it (SIGSTOP; SIGCONT in cleanup). */
  breakServer(fault: Fault): Promise<void>;
  /** Lets a stopped server run again. */
  resume(): void;
}

async function setup(
  options: CircuitBreakerOptions = {},
  subscriber: 'own' | 'user' = 'own',
): Promise<Setup> {
  const server = await startRedisServer();
  let stopped = false;
  const resume = (): void => {
    if (stopped) process.kill(server.pid, 'SIGCONT');
    stopped = false;
  };
  cleanup.push(async () => {
    resume();
    await server.kill();
  });
  const client = new Redis(server.url);
  client.on('error', () => {});
  cleanup.push(async () => client.disconnect());
  const duplicates: Redis[] = [];
  const spies: Spies[] = [];
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (...args: Parameters<Redis['duplicate']>) => {
    const connection = duplicate(...args);
    duplicates.push(connection);
    spies.push({ quit: spyOn(connection, 'quit'), disconnect: spyOn(connection, 'disconnect') });
    cleanup.push(async () => connection.disconnect());
    return connection;
  };
  let userSubscriber: Redis | undefined;
  if (subscriber === 'user') {
    userSubscriber = new Redis(server.url);
    userSubscriber.on('error', () => {});
    const connection = userSubscriber;
    cleanup.push(async () => connection.disconnect());
  }
  const store = redisStore({ client, prefix: 'faults', subscriber: userSubscriber });
  const breaker = circuitBreaker({
    name: 'payments',
    store,
    storeDeadlineMs: DEADLINE_MS,
    ...options,
  });
  cleanup.push(
    () => breaker.close(),
    () => store.close(),
  );
  const statuses: StoreStatusChange[] = [];
  breaker.onStoreStatusChange((change) => statuses.push(change));
  return {
    server,
    client,
    userSubscriber,
    store,
    breaker,
    duplicates,
    spies,
    statuses,
    async started() {
      await breaker.execute(ok);
      if (subscriber === 'own') await waitFor(() => duplicates[0]?.status === 'ready', 2000);
      else await waitFor(() => userSubscriber!.listenerCount('message') === 1, 2000);
      await sleep(50);
    },
    async breakServer(fault) {
      if (fault === 'refused') {
        await server.kill();
      } else {
        process.kill(server.pid, 'SIGSTOP');
        stopped = true;
      }
    },
    resume,
  };
}

describeWithRedis('breaker and Redis store with Redis refused or hung', () => {
  for (const fault of ['refused', 'hung'] as const) {
    it(`close() completes within the deadline with Redis ${fault}, and ends the subscriber the store opened`, async () => {
      const { breaker, store, duplicates, spies, started, breakServer } = await setup();
      await started();
      await breakServer(fault);
      // Unflushed counts: close() has a flush to make.
      for (let i = 0; i < 5; i++) await breaker.execute(ok);
      const tookMs = await timed(async () => {
        await breaker.close();
        await store.close();
      });
      expect(tookMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect(duplicates).toHaveLength(1);
      await expectEnded(duplicates[0]!, spies[0]!, fault);
    });

    it(`a process that closed its breaker, store and client with Redis ${fault} exits by itself`, async () => {
      const server = await startRedisServer();
      let stopped = false;
      cleanup.push(async () => {
        if (stopped) process.kill(server.pid, 'SIGCONT');
        await server.kill();
      });
      // Fails unless the child exits by itself within 2 s of having closed everything.
      const { messages } = await expectExitsByItself({
        script: EXIT_SCRIPT,
        env: { REDIS_URL: server.url, PREFIX: `exit-${fault}` },
        drive: async (child) => {
          await child.waitForMessage('ready', 10_000);
          if (fault === 'refused') await server.kill();
          else {
            process.kill(server.pid, 'SIGSTOP');
            stopped = true;
          }
          child.send('go');
        },
      });
      const closeMs = Number(/closed in (\d+) ms/.exec(messages.join('\n'))?.[1]);
      expect(closeMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    });

    it(`close() leaves a subscriber of the user's connected and theirs, with Redis ${fault}`, async () => {
      const { breaker, store, duplicates, userSubscriber, started, breakServer, resume } =
        await setup({}, 'user');
      const users = userSubscriber!;
      const quit = spyOn(users, 'quit');
      const disconnect = spyOn(users, 'disconnect');
      await started();
      await breakServer(fault);
      const tookMs = await timed(async () => {
        await breaker.close();
        await store.close();
      });
      // Unsubscribing the user's connection waits at most the shared default deadline.
      expect(tookMs).toBeLessThan(500 + SLACK_MS);
      expect(duplicates).toHaveLength(0);
      expect(quit.calls + disconnect.calls).toBe(0);
      expect(users.status).not.toBe('end');
      expect(users.listenerCount('message')).toBe(0);
      if (fault === 'hung') {
        resume();
        expect(await users.ping()).toBe('PONG');
      }
    });
  }

  it('close() with Redis hung completes also while a store operation is in flight', async () => {
    const { breaker, store, duplicates, spies, started, breakServer } = await setup({
      syncIntervalMs: 20,
    });
    await started();
    await breakServer('hung');
    await breaker.execute(ok);
    // The next tick flushes; that flush hangs.
    await sleep(40);
    await breaker.execute(ok);
    const tookMs = await timed(async () => {
      await breaker.close();
      await store.close();
    });
    expect(tookMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    await expectEnded(duplicates[0]!, spies[0]!, 'hung');
  });

  it("isolate(), reset() and disable() are bounded by the deadline while Redis hangs ('fail-closed')", async () => {
    // No sync timer: the controls are the only store operations.
    const { breaker, statuses, started, breakServer } = await setup({
      onStoreError: 'fail-closed',
      syncIntervalMs: 60_000,
    });
    await started();
    await breakServer('hung');
    for (const control of [
      () => breaker.isolate(),
      () => breaker.reset(),
      () => breaker.disable(),
    ]) {
      let error: unknown;
      const tookMs = await timed(() => control().catch((e: unknown) => (error = e)));
      expect(isStoreTimeoutError(error)).toBe(true);
      expect(error).toMatchObject({ operation: 'command', deadlineMs: DEADLINE_MS });
      expect(tookMs).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
      expect(tookMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    }
    // Three failures in a row: degraded. From now on nothing waits on the store.
    expect(statuses.map((s) => s.status)).toEqual(['degraded']);
    let error: unknown;
    const tookMs = await timed(() => breaker.reset().catch((e: unknown) => (error = e)));
    expect(tookMs).toBeLessThan(50);
    expect(isStoreError(error)).toBe(true);
    expect((error as Error).message).toMatch(/not attempted: the store is degraded/);
    expect(isStoreTimeoutError((error as Error).cause)).toBe(true);
  });

  it("isolate() and reset() apply to this process within the deadline while Redis hangs ('local')", async () => {
    const { breaker, started, breakServer } = await setup({
      onStoreError: 'local',
      syncIntervalMs: 60_000,
    });
    await started();
    await breakServer('hung');
    let tookMs = await timed(() => breaker.isolate());
    expect(tookMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(breaker.state).toBe('isolated');
    await expect(breaker.execute(ok)).rejects.toMatchObject({ name: 'IsolatedCircuitError' });
    tookMs = await timed(() => breaker.reset());
    expect(tookMs).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(breaker.state).toBe('closed');
  });

  it('degrades after storeFailureThreshold failures, probes in the background, and recovers without a call', async () => {
    const { breaker, statuses, started, breakServer, resume } = await setup({
      storeFailureThreshold: 2,
      storeProbeIntervalMs: 100,
      onStoreError: 'fail-closed',
      // No sync timer: the controls are the only store operations.
      syncIntervalMs: 60_000,
    });
    await started();
    await breakServer('hung');
    await breaker.reset().catch(() => {});
    expect(breaker.storeStatus).toBe('healthy');
    await breaker.reset().catch(() => {});
    expect(breaker.storeStatus).toBe('degraded');
    expect(statuses).toEqual([
      {
        policy: 'payments',
        pattern: 'circuit-breaker',
        store: 'redis',
        status: 'degraded',
        error: expect.objectContaining({ name: 'StoreTimeoutError', operation: 'command' }),
      },
    ]);
    // Degraded and 'fail-closed': every call is rejected at once, the store error as its cause.
    const rejected = await breaker.execute(ok).catch((e: unknown) => e);
    expect(rejected).toMatchObject({ name: 'BrokenCircuitError' });
    expect(isStoreError((rejected as Error).cause)).toBe(true);
    resume();
    // No call is made: the background probe notices that Redis answers again.
    await waitFor(() => statuses.length === 2, 2000);
    expect(statuses[1]).toEqual({
      policy: 'payments',
      pattern: 'circuit-breaker',
      store: 'redis',
      status: 'healthy',
    });
    expect(breaker.stats().storeStatus).toBe('healthy');
    await expect(breaker.execute(ok)).resolves.toBe('ok');
  });
});
