import {
  closeRedisClient,
  connectRedisClient,
  describeWithRedis,
  type RedisClientKind,
  redisClientEnv,
  redisFixture,
  services,
} from '@breakwater/testkit';
import { describe } from 'vitest';
import { redisStore } from '../stores/redis.js';
import { fleetTests, SYNC_MS } from './fleet-helpers.js';

/** The replicas and the test's own breaker build their clients with each of these libraries. */
const KINDS: readonly RedisClientKind[] = ['ioredis', 'node-redis'];

describeWithRedis('circuit-breaker fleet on Redis', () => {
  const fixture = redisFixture();
  describe.each(KINDS)('%s', (kind) => {
    fleetTests(
      () => ({
        env: () => ({ BACKEND: 'redis', ...redisClientEnv(kind, { url: services().redisUrl }) }),
        prefix: () => fixture.uniquePrefix(),
        store: async (prefix) => {
          const client = await connectRedisClient(kind, services().redisUrl);
          const store = redisStore({ client, prefix });
          return {
            store,
            close: async () => {
              await store.close();
              closeRedisClient(client);
            },
          };
        },
      }),
      2 * SYNC_MS,
    );
  });
});
