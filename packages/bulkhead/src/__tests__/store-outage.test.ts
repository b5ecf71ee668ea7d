import type { StoreStatusChange } from '@breakwater/core';
import { describeWithRedisCluster, type RedisServer, startRedisServer } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { type BulkheadContext, bulkhead, isLeaseLostError } from '../index.js';
import { redisStore } from '../redis.js';
import { caught, deferred, until } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const DEADLINE_MS = 200;
/** Scheduling slack on top of a deadline (a loaded CI machine). */
const SLACK_MS = 150;

// A Redis of the test's own, to stop and restart (needs the redis-server binary, like clusters).
describeWithRedisCluster('fleet bulkhead when Redis goes away', () => {
  let server: RedisServer | undefined;
  let paused = false;
  const clients: Redis[] = [];
  const connect = async (url: string) => {
    // Fail fast while the server is down instead of queueing commands.
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => 50,
    });
    client.on('error', () => {});
    clients.push(client);
    await client.connect();
    return client;
  };
  /** Records the connections the store opens from `client` (its subscriber). */
  const duplicatesOf = (client: Redis): Redis[] => {
    const opened: Redis[] = [];
    const duplicate = client.duplicate.bind(client);
    Object.assign(client, {
      duplicate: (...args: Parameters<Redis['duplicate']>) => {
        const connection = duplicate(...args);
        opened.push(connection);
        // Closed by the test if the store failed to.
        clients.push(connection);
        return connection;
      },
    });
    return opened;
  };
  afterEach(async () => {
    if (paused && server !== undefined) process.kill(server.pid, 'SIGCONT');
    paused = false;
    for (const client of clients.splice(0)) client.disconnect();
    await server?.stop();
    server = undefined;
  });

  it('degrades after storeFailureThreshold failures, then answers at once until the probe finds Redis back', async () => {
    server = await startRedisServer();
    const port = server.port;
    const client = await connect(server.url);
    const store = redisStore({ client });
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 2,
      store,
      onStoreError: 'fail-closed',
      storeDeadlineMs: DEADLINE_MS,
      storeProbeIntervalMs: 50,
    });
    const changes: StoreStatusChange[] = [];
    b.onStoreStatusChange((change) => changes.push(change));
    await expect(b.execute(() => 'up')).resolves.toBe('up');
    await sleep(20); // the release runs after the call resolves
    await server.kill();
    for (let i = 0; i < 3; i++) {
      expect(b.storeStatus).toBe('healthy');
      const error = await caught(b.execute(() => 'down'));
      expect(error).toMatchObject({ name: 'BulkheadRejectedError', reason: 'store-unavailable' });
    }
    expect(b.storeStatus).toBe('degraded');
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      policy: 'db',
      pattern: 'bulkhead',
      store: 'redis',
      status: 'degraded',
      error: { name: 'StoreError', operation: 'acquire' },
    });
    // Degraded: no call waits on the store.
    const started = performance.now();
    const skipped = await caught(b.execute(() => 'down'));
    expect(performance.now() - started).toBeLessThan(50);
    expect(skipped).toMatchObject({ reason: 'store-unavailable' });
    expect((skipped as Error).cause).toMatchObject({
      message: expect.stringContaining('was not attempted: the store is degraded'),
    });
    server = await startRedisServer({ port });
    // No call is needed to notice: the background probe finds the store back.
    await until(() => b.storeStatus === 'healthy', 5_000);
    expect(changes.map((change) => change.status)).toEqual(['degraded', 'healthy']);
    await expect(b.execute(() => 'back')).resolves.toBe('back');
    await b.close();
    await store.close();
  });

  it('aborts a running call with LeaseLostError when renewals fail until the lease ends', async () => {
    server = await startRedisServer();
    const client = await connect(server.url);
    const store = redisStore({ client });
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 1,
      store,
      leaseTtlMs: 600,
      storeDeadlineMs: 100,
    });
    const gate = deferred();
    let ctx: BulkheadContext | undefined;
    const running = b.execute(async (c) => {
      ctx = c;
      await gate.promise;
    });
    for (let i = 0; i < 50 && ctx === undefined; i++) await sleep(5);
    const stoppedAt = Date.now();
    await server.kill();
    while (!ctx?.signal.aborted && Date.now() - stoppedAt < 3_000) await sleep(10);
    expect(isLeaseLostError(ctx?.signal.reason)).toBe(true);
    // Aborted by the lease's end (600 ms after the last renewal was sent), not later.
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual(700);
    gate.resolve();
    await running;
    await b.close();
    await store.close();
  });

  for (const fault of ['refused', 'hung'] as const) {
    it(`closes within the deadline with Redis ${fault}, disconnecting the subscriber the store opened`, async () => {
      server = await startRedisServer();
      const client = await connect(server.url);
      const opened = duplicatesOf(client);
      const store = redisStore({ client });
      const b = bulkhead({ name: 'db', maxConcurrent: 2, store, storeDeadlineMs: DEADLINE_MS });
      await expect(b.execute(() => 'up')).resolves.toBe('up');
      expect(opened).toHaveLength(1);
      const subscriber = opened[0]!;
      await until(() => subscriber.status === 'ready');
      const disconnects = new Map<Redis, number>();
      for (const connection of [client, subscriber]) {
        const disconnect = connection.disconnect.bind(connection);
        Object.assign(connection, {
          disconnect: (reconnect?: boolean) => {
            disconnects.set(connection, (disconnects.get(connection) ?? 0) + 1);
            disconnect(reconnect);
          },
        });
      }
      const gate = deferred();
      const running = b.execute(() => gate.promise);
      await sleep(20);
      if (fault === 'refused') {
        await server.kill();
      } else {
        process.kill(server.pid, 'SIGSTOP');
        paused = true;
      }
      // The caller gets its result at once; the release is left for close() to wait on.
      gate.resolve();
      await running;
      const started = performance.now();
      await b.close();
      await store.close();
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS + SLACK_MS);
      // Closed with disconnect(), which never waits on the server. (ioredis itself keeps the
      // dead socket up to its `disconnectTimeout` before destroying it.)
      expect(disconnects.get(subscriber)).toBe(1);
      // The client is the user's: the store leaves it alone.
      expect(disconnects.get(client)).toBeUndefined();
      expect(client.status).not.toBe('end');
    });
  }
});
