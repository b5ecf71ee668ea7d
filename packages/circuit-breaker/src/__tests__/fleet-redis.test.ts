import {
  closeRedisClient,
  connectRedisClient,
  connectRedisClusterClient,
  describeWithRedis,
  describeWithRedisCluster,
  type RedisClientKind,
  redisClientEnv,
  redisClusterFixture,
  redisFixture,
  services,
} from '@breakwater/testkit';
import { describe } from 'vitest';
import { redisStore } from '../stores/redis.js';
import { fleetTests, probeCapTest, SYNC_MS } from './fleet-helpers.js';

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

// The fleet-wide probe cap only (the scenario a breaker per replica would fail; the others hold
// no Cluster-specific logic): one Cluster for the file, three replicas per client library.
describeWithRedisCluster('circuit-breaker fleet on Redis Cluster', () => {
  const fixture = redisClusterFixture();
  describe.each(KINDS)('%s', (kind) => {
    probeCapTest(() => ({
      env: () => ({ BACKEND: 'redis', ...redisClientEnv(kind, { nodes: fixture.nodes }) }),
      prefix: () => fixture.uniquePrefix(),
      store: async (prefix) => {
        const client = await connectRedisClusterClient(kind, fixture.nodes);
        const store = redisStore({ client, prefix });
        return {
          store,
          close: async () => {
            await store.close();
            closeRedisClient(client);
          },
        };
      },
    }));
  });
});
