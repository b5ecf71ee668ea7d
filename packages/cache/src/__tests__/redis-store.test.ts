/**
 * Who owns the Redis store's subscriber connection (principle 8, core's `PubSubRouter`): the one
 * the store opens itself is closed by `store.close()`, so a process exits after shutdown; one you
 * pass stays yours; `false` means no bus. And the options it refuses.
 */
import { describeWithRedis, redisFixture } from '@breakwater/testkit';
import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { cache } from '../index.js';
import { redisStore } from '../redis.js';

/** How many connections are subscribed to `channel`. */
async function subscribers(client: Redis, channel: string): Promise<number> {
  const [, count] = (await client.pubsub('NUMSUB', channel)) as [string, number | string];
  return Number(count);
}

describeWithRedis('redisStore connections', () => {
  const redis = redisFixture();

  it('opens its own subscriber with client.duplicate() and ends it on close(), as the README shows', async () => {
    const prefix = redis.uniquePrefix();
    const channel = `${prefix}:cache:{profiles:}:bus`;
    const client = redis.newClient();
    const duplicate = vi.spyOn(client, 'duplicate');
    const store = redisStore({ client, prefix });
    // Nothing is opened before a cache needs the bus.
    expect(duplicate).not.toHaveBeenCalled();
    const profiles = cache({ name: 'profiles', store, ttlMs: 60_000 });
    const other = cache({ name: 'other', store, ttlMs: 60_000 });
    // One connection for every cache of the store.
    expect(duplicate).toHaveBeenCalledTimes(1);
    const subscriber = duplicate.mock.results[0]!.value as Redis;
    await vi.waitFor(async () => expect(await subscribers(client, channel)).toBe(1));
    expect(await profiles.getOrLoad('k', async () => 'v')).toBe('v');

    // The store closes it even while a cache still listens (a cache closed later does no harm).
    await other.close();
    await store.close();
    await vi.waitFor(() => expect(subscriber.status).toBe('end'), { timeout: 1000 });
    await profiles.close();
    await vi.waitFor(async () => expect(await subscribers(client, channel)).toBe(0));
    // The client stays the user's.
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it('leaves a subscriber of yours open, only unsubscribing it', async () => {
    const prefix = redis.uniquePrefix();
    const channel = `${prefix}:cache:{profiles:}:bus`;
    const subscriber = redis.newClient();
    const duplicate = vi.spyOn(redis.client, 'duplicate');
    const store = redisStore({ client: redis.client, subscriber, prefix });
    const c = cache({ name: 'profiles', store, ttlMs: 60_000 });
    await vi.waitFor(async () => expect(await subscribers(redis.client, channel)).toBe(1));
    await c.close();
    await store[Symbol.asyncDispose]();
    expect(duplicate).not.toHaveBeenCalled();
    duplicate.mockRestore();
    expect(subscriber.status).toBe('ready');
    await vi.waitFor(async () => expect(await subscribers(redis.client, channel)).toBe(0));
  });

  it('has no bus with subscriber: false', async () => {
    const prefix = redis.uniquePrefix();
    const client = redis.newClient();
    const duplicate = vi.spyOn(client, 'duplicate');
    const store = redisStore({ client, subscriber: false, prefix });
    expect(store.scope('profiles').subscribe).toBeUndefined();
    const c = cache({ name: 'profiles', store, ttlMs: 60_000 });
    expect(await c.getOrLoad('k', async () => 'v')).toBe('v');
    await c.close();
    await store.close();
    expect(duplicate).not.toHaveBeenCalled();
    client.disconnect();
  });
});

describe('redisStore options', () => {
  /** What core's adapter says for a client it does not accept. */
  const ACCEPTED_CLIENTS =
    /^Expected `client` to be an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client from `createClient\(\)` or `createCluster\(\)`, got /;

  it('rejects a client it does not accept, naming `client` and listing the accepted clients', () => {
    for (const [given, shown] of [
      [undefined, 'got undefined'],
      [{}, 'got {}'],
      ['redis://127.0.0.1:6379', 'got "redis://127.0.0.1:6379"'],
      [{ get() {}, duplicate() {} }, 'got {}'],
    ] as const) {
      const build = () => redisStore({ client: given as never });
      expect(build).toThrow(TypeError);
      expect(build).toThrow(ACCEPTED_CLIENTS);
      expect(build).toThrow(shown);
    }
  });

  it('rejects a subscriber that is not a Redis client, naming it', () => {
    // The shape core's adapter tells a node-redis client by; no command is sent here.
    const client = { sendCommand() {}, duplicate() {} } as never;
    for (const subscriber of [true, 'redis://localhost', {}, null]) {
      expect(() => redisStore({ client, subscriber: subscriber as never })).toThrow(
        /^Expected `subscriber` to be a Redis client \(ioredis or iovalkey `Redis` or `Cluster`, node-redis client or Cluster\) or false, got /,
      );
    }
  });
});
