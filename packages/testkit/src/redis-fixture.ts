import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { FixtureSlot } from './fixture-slot.js';
import { deleteKeysWithPrefix, uniquePrefix } from './key-prefix.js';
import { services } from './services.js';

/** What {@link redisFixture} gives the tests of its suite. */
export interface RedisFixture {
  /** A connected client of the Redis at `REDIS_URL`. */
  readonly client: Redis;
  /** The Redis URL. */
  readonly url: string;
  /**
   * This fixture's key prefix (`bwtest:<random>`); every key under it is deleted after the suite.
   * Available from collection time on.
   */
  readonly prefix: string;
  /**
   * A prefix of its own for one test (`<prefix>:<random>`), still under {@link prefix}, so it is
   * cleaned up with the rest.
   */
  uniquePrefix(): string;
  /**
   * Another client of the same Redis (for pub/sub, blocking commands, a second "replica"); it
   * connects in the background (commands queue until then) and is closed after the suite. Only
   * inside tests and hooks.
   */
  newClient(options?: RedisOptions): Redis;
}

/**
 * Registers `beforeAll` / `afterAll` hooks in the current file or `describe` that connect to the
 * Redis at `REDIS_URL`, and after the suite delete every key under the fixture's prefix and close
 * every client it made. Use it inside `describeWithRedis(...)` so that it is skipped without Redis.
 */
export function redisFixture(): RedisFixture {
  const prefix = uniquePrefix();
  const client = new FixtureSlot<Redis>('redisFixture().client');
  const url = new FixtureSlot<string>('redisFixture().url');
  const extraClients = new Set<Redis>();

  const connect = async (redisUrl: string, options: RedisOptions = {}): Promise<Redis> => {
    const redis = new Redis(redisUrl, { lazyConnect: true, ...options });
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw new Error(
        `redisFixture: cannot connect to ${redisUrl}. Wrap the suite in describeWithRedis() so it ` +
          'is skipped when Redis is unavailable.',
        { cause: error },
      );
    }
    return redis;
  };

  beforeAll(async () => {
    const redisUrl = services().redisUrl;
    url.set(redisUrl);
    client.set(await connect(redisUrl));
  });

  afterAll(async () => {
    url.take();
    const main = client.take();
    const others = [...extraClients];
    extraClients.clear();
    try {
      if (main !== undefined) await deleteKeysWithPrefix(main, prefix);
    } finally {
      await Promise.all([main, ...others].map((redis) => redis && quietly(redis)));
    }
  });

  return {
    get client() {
      return client.get();
    },
    get url() {
      return url.get();
    },
    prefix,
    uniquePrefix: () => uniquePrefix(prefix),
    newClient(options?: RedisOptions) {
      const redis = new Redis(url.get(), options ?? {});
      extraClients.add(redis);
      return redis;
    },
  };
}

/** Closes a client whatever its state (QUIT when it can, a hard disconnect otherwise). */
async function quietly(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  try {
    if (redis.status === 'ready') await redis.quit();
    else redis.disconnect();
  } catch {
    redis.disconnect();
  }
  await ended;
}
