/**
 * startRedisReplication: a primary and a replica in sync, a stable address that follows the
 * failover, a stalled link that makes the failover lose what the replica had not received, a
 * replacement replica, and no process left behind.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type RedisReplication, startRedisReplication } from '../redis-replication.js';
import { services } from '../services.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!services().redisServerBinary)('startRedisReplication', () => {
  let pair: RedisReplication | undefined;
  const clients: Redis[] = [];
  const connect = (port: number) => {
    const client = new Redis({ port, retryStrategy: () => 20 });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };
  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await pair?.stop();
    pair = undefined;
  });

  it('replicates, fails over on the same address, and loses what the replica had not received', async () => {
    pair = await startRedisReplication();
    const first = pair.primary;
    const firstReplica = pair.replica!;
    const client = connect(pair.port);
    await client.set('synced', '1');
    await pair.waitForSync();
    expect(await connect(firstReplica.port).get('synced')).toBe('1');

    pair.link!.hang();
    await client.set('unreplicated', '1');
    // The replica never sees it: its link is stalled.
    await sleep(100);
    expect(await connect(firstReplica.port).get('unreplicated')).toBeNull();

    await pair.failover();
    expect(first.exited).toBe(true);
    expect(pair.primary).toBe(firstReplica);
    expect(pair.replica).toBeUndefined();
    expect(pair.link).toBeUndefined();
    expect(pair.failovers).toBe(1);
    // The same client, on the same address, now talks to the promoted replica.
    expect(await client.get('synced')).toBe('1');
    expect(await client.get('unreplicated')).toBeNull();
    await client.set('after', '1');
    expect(await client.info('replication')).toMatch(/role:master/);
    await expect(pair.failover()).rejects.toThrow(/no replica/);

    await pair.startReplica();
    const second = pair.replica!;
    await client.set('again', '1');
    await pair.waitForSync();
    expect(await connect(second.port).get('again')).toBe('1');
    expect(await connect(second.port).get('after')).toBe('1');
    await expect(pair.startReplica()).rejects.toThrow(/already has a replica/);

    await pair.stop();
    for (const server of [first, firstReplica, second]) expect(server.exited).toBe(true);
    await pair.stop(); // idempotent
  }, 30_000);
});
