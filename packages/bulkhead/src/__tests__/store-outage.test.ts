import { describeWithRedisCluster, type RedisServer, startRedisServer } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { type BulkheadContext, bulkhead, isLeaseLostError } from '../index.js';
import { redisStore } from '../redis.js';
import { caught, deferred } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A Redis of the test's own, to stop and restart (needs the redis-server binary, like clusters).
describeWithRedisCluster('fleet bulkhead when Redis goes away', () => {
  let server: RedisServer | undefined;
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
  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await server?.stop();
    server = undefined;
  });

  it('fail-closed rejects while Redis is down and recovers when it is back', async () => {
    server = await startRedisServer();
    const port = server.port;
    const client = await connect(server.url);
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 2,
      store: redisStore({ client }),
      storeDeadlineMs: 200,
    });
    const statuses: string[] = [];
    b.onStoreStatusChange((change) => statuses.push(change.status));
    await expect(b.execute(() => 'up')).resolves.toBe('up');
    await server.kill();
    const error = await caught(b.execute(() => 'down'));
    expect(error).toMatchObject({ name: 'BulkheadRejectedError', reason: 'store-unavailable' });
    expect(statuses).toEqual(['degraded']);
    server = await startRedisServer({ port });
    for (let i = 0; i < 100 && client.status !== 'ready'; i++) await sleep(20);
    await expect(b.execute(() => 'back')).resolves.toBe('back');
    expect(statuses).toEqual(['degraded', 'healthy']);
    await b.close();
  });

  it('aborts a running call with LeaseLostError when renewals fail until the lease ends', async () => {
    server = await startRedisServer();
    const client = await connect(server.url);
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 1,
      store: redisStore({ client }),
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
  });
});
