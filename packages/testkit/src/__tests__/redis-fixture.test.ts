import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from '../key-prefix.js';
import { redisFixture } from '../redis-fixture.js';
import { describeWithRedis, services } from '../services.js';

async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

describeWithRedis('redisFixture', () => {
  let observer: Redis;
  beforeAll(() => {
    observer = new Redis(services().redisUrl);
  });
  afterAll(async () => {
    await observer.quit();
  });

  let fixturePrefix = '';
  let fixtureClient: Redis | undefined;

  describe('a suite using the fixture', () => {
    const redis = redisFixture();
    fixturePrefix = redis.prefix;

    it('hands out a prefix at collection time but the client only inside tests', () => {
      expect(redis.prefix).toMatch(/^bwtest:[0-9a-f]{16}$/);
      expect(redis.url).toBe(services().redisUrl);
    });

    it('gives a connected client', async () => {
      fixtureClient = redis.client;
      expect(await redis.client.ping()).toBe('PONG');
    });

    it('writes keys under its prefix and under per-test prefixes', async () => {
      const own = redis.uniquePrefix();
      expect(own.startsWith(`${redis.prefix}:`)).toBe(true);
      expect(redis.uniquePrefix()).not.toBe(own);
      await redis.client.set(`${redis.prefix}:a`, '1');
      await redis.client.hset(`${redis.prefix}:{tag}:h`, 'f', 'v');
      await redis.client.set(`${own}:b`, '2');
      expect((await keysUnder(observer, redis.prefix)).sort()).toHaveLength(3);
    });

    it('gives extra clients, e.g. for pub/sub', async () => {
      const subscriber = redis.newClient();
      const channel = `${redis.prefix}:channel`;
      const received = new Promise<string>((resolve) =>
        subscriber.on('message', (_channel, message: string) => resolve(message)),
      );
      await subscriber.subscribe(channel);
      await redis.client.publish(channel, 'hello');
      expect(await received).toBe('hello');
    });
  });

  it('deleted every key under the prefix and closed its client after the suite', async () => {
    expect(fixturePrefix).not.toBe('');
    expect(await keysUnder(observer, fixturePrefix)).toEqual([]);
    expect(fixtureClient?.status).toBe('end');
  });

  it('deleteKeysWithPrefix does not touch keys of other prefixes', async () => {
    const mine = `bwtest:del-${Date.now()}`;
    const other = `${mine}x`;
    await observer.set(`${mine}:1`, '1');
    await observer.set(`${mine}:2`, '1');
    await observer.set(`${other}:1`, '1');
    try {
      expect(await deleteKeysWithPrefix(observer, `${mine}:`)).toBe(2);
      expect(await keysUnder(observer, `${mine}:`)).toEqual([]);
      expect(await observer.exists(`${other}:1`)).toBe(1);
    } finally {
      await observer.del(`${mine}:1`, `${mine}:2`, `${other}:1`);
    }
    await expect(deleteKeysWithPrefix(observer, '')).rejects.toThrow(RangeError);
  });
});

describe('fixture getters', () => {
  let fixture: ReturnType<typeof redisFixture> | undefined;
  describe.skip('a skipped suite', () => {
    fixture = redisFixture();
    it('never runs', () => {});
  });

  it('throw a helpful error where the fixture hooks did not run', () => {
    expect(fixture).toBeDefined();
    expect(() => fixture?.client).toThrow(/only available inside tests/);
    expect(() => fixture?.url).toThrow(/redisFixture\(\)\.url/);
  });
});
