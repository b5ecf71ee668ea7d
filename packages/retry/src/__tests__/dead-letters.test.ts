import { isStoreError, type StoreStatus } from '@breakwater/core';
import {
  describeWithRedis,
  describeWithRedisCluster,
  installOtel,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ATTR_DEAD_LETTER_OUTCOME, constant, METRIC_DEAD_LETTERS, retry } from '../index.js';
import { redisDeadLetters } from '../redis.js';

interface Order {
  id: number;
  amount: number;
}

function deadLetterSuite(fixture: () => { client: Redis | Cluster; prefix: string }) {
  it('give up → listed → replayed → removed; a failed replay stays', async () => {
    const { client, prefix } = fixture();
    const queue = redisDeadLetters({ client, prefix, stream: 'payments' });
    const policy = retry({
      name: 'charge',
      maxAttempts: 2,
      backoff: constant({ delayMs: 0 }),
      deadLetter: queue.append,
    });
    for (const order of [
      { id: 1, amount: 10 },
      { id: 2, amount: 20 },
      { id: 3, amount: 30 },
    ]) {
      await expect(
        policy.execute(
          () => {
            throw Object.assign(new Error(`gateway down for ${order.id}`), { code: 'ECONNRESET' });
          },
          { input: order },
        ),
      ).rejects.toThrow(`gateway down for ${order.id}`);
    }

    expect(await queue.size()).toBe(3);
    const listed = await queue.list();
    expect(listed.map((e) => e.input)).toEqual([
      { id: 1, amount: 10 },
      { id: 2, amount: 20 },
      { id: 3, amount: 30 },
    ]);
    expect(listed[0]).toMatchObject({
      policyName: 'charge',
      reason: 'max-attempts',
      attempts: 2,
      ok: false,
      error: { name: 'Error', message: 'gateway down for 1', code: 'ECONNRESET' },
      result: undefined,
    });
    expect(typeof listed[0]?.startedAt).toBe('number');
    expect(await queue.list({ after: listed[0]!.id, count: 1 })).toEqual([listed[1]]);
    expect(await queue.get(listed[2]!.id)).toEqual(listed[2]);

    // Replay one: removed only after it succeeded.
    const seen: Order[] = [];
    await expect(
      queue.replay(listed[0]!.id, (entry) => {
        seen.push(entry.input as Order);
      }),
    ).resolves.toBe(true);
    expect(await queue.size()).toBe(2);
    await expect(queue.replay(listed[0]!.id, () => {})).resolves.toBe(false);

    // A failing replay keeps the entry and surfaces the error.
    await expect(
      queue.replay(listed[1]!.id, () => {
        throw new Error('still down');
      }),
    ).rejects.toThrow('still down');
    expect(await queue.size()).toBe(2);

    // Replay all: order 2 fails again, order 3 succeeds.
    const result = await queue.replayAll(async (entry) => {
      const order = entry.input as Order;
      if (order.id === 2) throw new Error('order 2 rejected');
      seen.push(order);
    });
    expect(result.replayed).toBe(1);
    expect(result.failed).toEqual([{ id: listed[1]!.id, error: new Error('order 2 rejected') }]);
    expect(result.skipped).toBe(0);
    expect(seen.map((o) => o.id)).toEqual([1, 3]);
    expect((await queue.list()).map((e) => e.id)).toEqual([listed[1]!.id]);

    expect(await queue.remove(listed[1]!.id)).toBe(true);
    expect(await queue.remove(listed[1]!.id)).toBe(false);
    expect(await queue.size()).toBe(0);
    expect(await queue.replayAll(() => {})).toEqual({ replayed: 0, failed: [], skipped: 0 });
    await queue.close();
  });

  it('a failing command degrades the queue; the probe (on the queue registry key) brings it back', async () => {
    const { client, prefix } = fixture();
    const queue = redisDeadLetters({
      client,
      prefix,
      stream: 'wrongtype',
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 20,
    });
    const statuses: StoreStatus[] = [];
    queue.onStoreStatusChange((change) => statuses.push(change.status));
    // Redis answers, with an error: the key is not a stream.
    const key = `${prefix}:retry:{wrongtype:}:dead-letters`;
    await client.set(key, 'not a stream');
    const error = await queue
      .append({
        policyName: 'p',
        reason: 'max-attempts',
        attempts: 1,
        elapsedMs: 0,
        startedAt: 0,
        error: 'e',
        result: undefined,
        ok: false,
        input: 1,
        budgetError: undefined,
      })
      .catch((e: unknown) => e);
    expect(isStoreError(error)).toBe(true);
    expect(error).toMatchObject({ store: 'redis', operation: 'append' });
    expect((error as Error).message).toMatch(/WRONGTYPE/);
    expect(queue.storeStatus).toBe('degraded');
    // The probe runs a script on a key of the queue without touching it, so it answers: back to healthy,
    // with no call of ours.
    await expect.poll(() => queue.storeStatus, { timeout: 2_000, interval: 10 }).toBe('healthy');
    expect(statuses).toEqual(['degraded', 'healthy']);
    await client.del(key);
    expect(await queue.size()).toBe(0);
    await queue.close();
  });
}

describeWithRedis('redisDeadLetters() [redis]', () => {
  const redis = redisFixture();
  deadLetterSuite(() => ({ client: redis.client, prefix: redis.uniquePrefix() }));

  it('stores results given up on, with a custom codec', async () => {
    const queue = redisDeadLetters({
      client: redis.client,
      prefix: redis.uniquePrefix(),
      stream: 'http',
      codec: { encode: (v) => `<${JSON.stringify(v)}>`, decode: (t) => JSON.parse(t.slice(1, -1)) },
    });
    const policy = retry<{ status: number }>({
      maxAttempts: 1,
      shouldRetry: ({ result }) => result?.status === 503,
      deadLetter: queue.append,
    });
    await expect(policy.execute(() => ({ status: 503 }), { input: 'GET /x' })).resolves.toEqual({
      status: 503,
    });
    const [entry] = await queue.list();
    expect(entry).toMatchObject({
      ok: true,
      result: { status: 503 },
      error: undefined,
      input: 'GET /x',
    });
  });

  it('replayAll pages through many entries, ignores entries added meanwhile, and stops on request', async () => {
    const queue = redisDeadLetters({
      client: redis.client,
      prefix: redis.uniquePrefix(),
      stream: 'bulk',
    });
    const failure = (input: number) => ({
      policyName: 'bulk',
      reason: 'max-attempts' as const,
      attempts: 3,
      elapsedMs: 1,
      startedAt: 0,
      error: new Error('x'),
      result: undefined,
      ok: false,
      input,
      budgetError: undefined,
    });
    for (let i = 0; i < 250; i++) await queue.append(failure(i));
    const replayed: number[] = [];
    const result = await queue.replayAll(async (entry) => {
      replayed.push(entry.input as number);
      // A replay that dead-letters again must not make replayAll run forever.
      if (entry.input === 5) await queue.append(failure(1_000));
    });
    expect(result).toEqual({ replayed: 250, failed: [], skipped: 0 });
    expect(replayed).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect((await queue.list()).map((e) => e.input)).toEqual([1_000]);

    const controller = new AbortController();
    await queue.append(failure(1_001));
    await expect(
      queue.replayAll(
        () => {
          controller.abort('enough');
        },
        { signal: controller.signal },
      ),
    ).rejects.toBe('enough');
    expect(await queue.size()).toBe(1);

    await queue.append(failure(1_002));
    const stopped = await queue.replayAll(
      () => {
        throw new Error('no');
      },
      { stopOnError: true },
    );
    expect(stopped.failed).toHaveLength(1);
  });

  it('keeps at most maxLength entries per stream, dropping the oldest', async () => {
    const queue = redisDeadLetters({
      client: redis.client,
      prefix: redis.uniquePrefix(),
      stream: 'trim',
      maxLength: 10,
    });
    for (let i = 0; i < 500; i++) {
      await queue.append({
        policyName: 'p',
        reason: 'max-attempts',
        attempts: 1,
        elapsedMs: 0,
        startedAt: 0,
        error: 'e',
        result: undefined,
        ok: false,
        input: i,
        budgetError: undefined,
      });
    }
    expect(await queue.size()).toBe(10);
    expect((await queue.list()).map((e) => e.input)).toEqual(
      Array.from({ length: 10 }, (_, i) => 490 + i),
    );
  });

  it('counts replays', async () => {
    const otel = installOtel();
    try {
      const queue = redisDeadLetters({
        client: redis.client,
        prefix: redis.uniquePrefix(),
        stream: 'count',
      });
      const policy = retry({ name: 'counted', maxAttempts: 1, deadLetter: queue.append });
      await policy.execute(() => Promise.reject(new Error('a'))).catch(() => {});
      await policy.execute(() => Promise.reject(new Error('b'))).catch(() => {});
      await queue.replayAll((entry) => {
        if (entry.error?.message === 'b') throw new Error('again');
      });
      const count = (outcome: string) =>
        otel.sum(METRIC_DEAD_LETTERS, { [ATTR_DEAD_LETTER_OUTCOME]: outcome });
      expect(await count('written')).toBe(2);
      expect(await count('replayed')).toBe(1);
      expect(await count('replay-failed')).toBe(1);
    } finally {
      await otel.uninstall();
    }
  });
});

describeWithRedisCluster('redisDeadLetters() [redis-cluster]', () => {
  const cluster = redisClusterFixture();
  deadLetterSuite(() => ({ client: cluster.client, prefix: cluster.uniquePrefix() }));
});

/** What a Redis store factory says of a client none of the accepted libraries built. */
const UNACCEPTED_CLIENT =
  /^Expected `client` to be an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client from `createClient\(\)` or `createCluster\(\)`, got /;

describe('redisDeadLetters() options', () => {
  it('refuses a client no accepted library built, listing those libraries', () => {
    for (const [client, shown] of [
      [{}, '{}'],
      ['redis://127.0.0.1:6379', '"redis://127.0.0.1:6379"'],
    ] as const) {
      const make = () => redisDeadLetters({ client: client as never, stream: 's' });
      expect(make).toThrow(TypeError);
      expect(make).toThrow(UNACCEPTED_CLIENT);
      expect(make).toThrow(`, got ${shown}`);
    }
  });

  it('validates them', () => {
    // The shape of a node-redis client (never connected: construction sends nothing).
    const client = { sendCommand() {}, duplicate() {} } as never;
    expect(() => redisDeadLetters({ client, stream: '' })).toThrow(/`stream`/);
    expect(() => redisDeadLetters({ client, stream: 's', maxLength: 0 })).toThrow(
      'Expected `maxLength` to be an integer >= 1, got 0',
    );
    expect(() => redisDeadLetters({ client, stream: 's', codec: {} as never })).toThrow(
      /`codec.encode`/,
    );
    expect(() => redisDeadLetters({ client, stream: 's', storeDeadlineMs: 0 })).toThrow(
      /`storeDeadlineMs`/,
    );
    expect(() => redisDeadLetters({ client, stream: 's', storeFailureThreshold: 1.5 })).toThrow(
      /`storeFailureThreshold`/,
    );
    expect(() =>
      redisDeadLetters({ client, stream: 's', storeProbeIntervalMs: Number.NaN }),
    ).toThrow(/`storeProbeIntervalMs`/);
  });
});
