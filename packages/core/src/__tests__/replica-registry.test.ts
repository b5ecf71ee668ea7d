import {
  describeWithDynamo,
  describeWithRedis,
  describeWithRedisCluster,
  dynamoFixture,
  fakeClock,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { dynamoReplicaBackend } from '../dynamodb.js';
import { keySlot, redisReplicaBackend } from '../redis.js';
import type { ReplicaBackend } from '../registry/backend.js';
import { memoryReplicaBackend } from '../registry/memory.js';
import { ReplicaRegistry, resolveReplicaTiming } from '../registry/replica-registry.js';
import { StoreCalls } from '../store/calls.js';
import { resolveStoreOptions } from '../store/options.js';
import { getTelemetry } from '../telemetry.js';

const TELEMETRY = { name: '@breakwater/core-test', version: '0.0.0' };
const DEADLINE_MS = 50;

function storeCalls(): StoreCalls {
  return new StoreCalls({
    pattern: 'rate-limit',
    policy: 'payments',
    store: 'redis',
    settings: resolveStoreOptions(
      { storeDeadlineMs: DEADLINE_MS, storeProbeIntervalMs: 100, storeFailureThreshold: 2 },
      { onStoreError: 'local' },
    ),
    telemetry: getTelemetry(TELEMETRY),
  });
}

function registry(backend: ReplicaBackend, ttlMs = 1000, renewIntervalMs = 200): ReplicaRegistry {
  return new ReplicaRegistry({ calls: storeCalls(), backend, ttlMs, renewIntervalMs });
}

/** A backend that answers, refuses or hangs as the test says. */
function switchable(inner: ReplicaBackend): ReplicaBackend & { mode: 'up' | 'refuse' | 'hang' } {
  const backend = {
    mode: 'up' as 'up' | 'refuse' | 'hang',
    heartbeat: (id: string, ttlMs: number, signal: AbortSignal | undefined) =>
      backend.mode === 'up'
        ? inner.heartbeat(id, ttlMs, signal)
        : backend.mode === 'refuse'
          ? Promise.reject(new Error('connect ECONNREFUSED'))
          : new Promise<number>(() => {}),
    leave: (id: string, signal: AbortSignal | undefined) =>
      backend.mode === 'up'
        ? inner.leave(id, signal)
        : backend.mode === 'refuse'
          ? Promise.reject(new Error('connect ECONNREFUSED'))
          : new Promise<void>(() => {}),
  };
  return backend;
}

describe('replica timing', () => {
  const names = { renewIntervalMs: 'replicaRenewIntervalMs', ttlMs: 'replicaTtlMs' };

  it('defaults to a 5 s renew interval and a 15 s TTL', () => {
    expect(resolveReplicaTiming({}, names)).toEqual({ renewIntervalMs: 5000, ttlMs: 15_000 });
    expect(resolveReplicaTiming({ renewIntervalMs: 10_000 }, names)).toEqual({
      renewIntervalMs: 10_000,
      ttlMs: 30_000,
    });
  });

  it('names the option of a bad value, and refuses a TTL not longer than the renew interval', () => {
    expect(() => resolveReplicaTiming({ renewIntervalMs: -1 }, names)).toThrow(
      'Expected `replicaRenewIntervalMs` to be a finite number > 0, got -1',
    );
    expect(() => resolveReplicaTiming({ ttlMs: 'long' }, names)).toThrow(TypeError);
    expect(() => resolveReplicaTiming({ renewIntervalMs: 1000, ttlMs: 999 }, names)).toThrow(
      'Expected `replicaTtlMs` to be longer than `replicaRenewIntervalMs` (1000), got 999',
    );
    expect(
      () =>
        new ReplicaRegistry({
          calls: storeCalls(),
          backend: memoryReplicaBackend(),
          renewIntervalMs: 100,
          ttlMs: 100,
        }),
    ).toThrow('Expected `ttlMs` to be longer than `renewIntervalMs` (100), got 100');
  });
});

describe('ReplicaRegistry', () => {
  it('counts the replicas sharing a backend, and forgets one that closes', async () => {
    const backend = memoryReplicaBackend();
    const replicas = [registry(backend), registry(backend), registry(backend)];
    for (const replica of replicas) replica.start();
    // The first heartbeats (sent by start()) saw 1, 2, 3 replicas; the next ones see all three.
    expect(await Promise.all(replicas.map((replica) => replica.renew()))).toEqual([1, 2, 3]);
    await Promise.all(replicas.map((replica) => replica.renew()));
    expect(replicas.map((replica) => replica.count)).toEqual([3, 3, 3]);
    expect(replicas[0]!.ageMs).toBeLessThan(100);
    await replicas[2]!.close();
    expect(await replicas[0]!.renew()).toBe(2);
    for (const replica of replicas) await replica.close();
  });

  it('forgets a replica silent for longer than the TTL', async () => {
    const clock = fakeClock(0);
    const backend = memoryReplicaBackend(clock);
    const [a, b] = [registry(backend, 1000), registry(backend, 1000)];
    await a.renew();
    expect(await b.renew()).toBe(2);
    await clock.advance(999);
    expect(await b.renew()).toBe(2);
    await clock.advance(2);
    // `a` last renewed 1001 ms ago: its heartbeat ran out.
    expect(await b.renew()).toBe(1);
  });

  it('keeps the last known count through an outage, and reports its age', async () => {
    const memory = memoryReplicaBackend();
    const backend = switchable(memory);
    await memory.heartbeat('other-1', 60_000, undefined);
    await memory.heartbeat('other-2', 60_000, undefined);
    const changes: number[] = [];
    const replica = registry(backend);
    replica.onCountChange((count) => changes.push(count));
    expect(replica.count).toBe(1);
    expect(replica.ageMs).toBeUndefined();
    expect(await replica.renew()).toBe(3);
    backend.mode = 'refuse';
    expect(await replica.renew()).toBe(3);
    backend.mode = 'hang';
    const started = performance.now();
    expect(await replica.renew()).toBe(3);
    // Bounded by the store deadline, not by the hung store.
    expect(performance.now() - started).toBeLessThan(DEADLINE_MS * 10);
    expect(replica.ageMs).toBeGreaterThanOrEqual(DEADLINE_MS - 5);
    expect(replica.count).toBe(3);
    expect(changes).toEqual([3]);
    await replica.close();
  });

  it('renews in the background on an unref’d timer', async () => {
    const backend = memoryReplicaBackend();
    const replica = registry(backend, 200, 20);
    replica.start();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(replica.count).toBe(1);
    // Another replica joins: the background heartbeat notices within one renew interval.
    await backend.heartbeat('other', 60_000, undefined);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(replica.count).toBe(2);
    await replica.close();
  });

  it.each(['up', 'refuse', 'hang'] as const)(
    'close() with the store %s completes within two deadlines, and stops renewing',
    async (mode) => {
      const memory = memoryReplicaBackend();
      const backend = switchable(memory);
      const replica = registry(backend, 1000, 20);
      replica.start();
      await replica.renew();
      backend.mode = mode;
      const started = performance.now();
      await replica.close();
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS * 2 + 40);
      backend.mode = 'up';
      // Up: the entry is gone at once; otherwise it stays until its TTL.
      const others = await memory.heartbeat('observer', 1000, undefined);
      expect(others).toBe(mode === 'up' ? 1 : 2);
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(await memory.heartbeat('observer', 1000, undefined)).toBe(others);
    },
  );
});

describeWithRedis('redisReplicaBackend', () => {
  const redis = redisFixture();

  it('counts live replicas in one sorted set that expires with its last member', async () => {
    const key = `${redis.uniquePrefix()}:rate-limit:{payments:}:replicas`;
    const backend = redisReplicaBackend(redis.client, key);
    expect(await backend.heartbeat('a', 300, undefined)).toBe(1);
    expect(await backend.heartbeat('b', 150, undefined)).toBe(2);
    expect(await backend.heartbeat('a', 300, undefined)).toBe(2);
    expect(await redis.client.pttl(key)).toBeGreaterThan(150);
    await new Promise((resolve) => setTimeout(resolve, 170));
    // `b` ran out; `a` is still alive.
    expect(await backend.heartbeat('a', 300, undefined)).toBe(1);
    await backend.leave('a', undefined);
    expect(await redis.client.exists(key)).toBe(0);
  });
});

describeWithRedisCluster('redisReplicaBackend on a Redis Cluster', () => {
  const cluster = redisClusterFixture();

  it('runs on the node owning the policy key’s slot', async () => {
    const key = `${cluster.prefix}:rate-limit:{payments:}:replicas`;
    const backend = redisReplicaBackend(cluster.client, key);
    expect(keySlot(key)).toBe(keySlot(`${cluster.prefix}:rate-limit:{payments:}:tat`));
    expect(await backend.heartbeat('a', 1000, undefined)).toBe(1);
    expect(await backend.heartbeat('b', 1000, undefined)).toBe(2);
    await backend.leave('b', undefined);
    expect(await cluster.client.zcard(key)).toBe(1);
    await backend.leave('a', undefined);
  });
});

describeWithDynamo('dynamoReplicaBackend', () => {
  const dynamo = dynamoFixture();

  it('counts live replicas on one item, and removes the expired ones', async () => {
    const pk = `${dynamo.prefix}#replicas`;
    const a = dynamoReplicaBackend(dynamo.client, dynamo.tableName, pk);
    const b = dynamoReplicaBackend(dynamo.client, dynamo.tableName, pk);
    expect(await a.heartbeat('a', 400, undefined)).toBe(1);
    expect(await b.heartbeat('b', 100, undefined)).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 150));
    // `b` ran out: `a` no longer counts it, and its next heartbeat removes it.
    expect(await a.heartbeat('a', 400, undefined)).toBe(1);
    expect(await a.heartbeat('a', 400, undefined)).toBe(1);
    const item = await dynamo.client.send(
      new (await import('@aws-sdk/client-dynamodb')).GetItemCommand({
        TableName: dynamo.tableName,
        Key: { pk: { S: pk } },
      }),
    );
    expect(Object.keys(item.Item ?? {}).sort()).toEqual(['pk', 'r_a', 'ttl']);
    await a.leave('a', undefined);
    expect(await b.heartbeat('b', 100, undefined)).toBe(1);
  });
});
