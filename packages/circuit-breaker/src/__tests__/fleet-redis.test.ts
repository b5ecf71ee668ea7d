import { describeWithRedis, redisFixture, services } from '@breakwater/testkit';
import { redisStore } from '../stores/redis.js';
import { fleetTests, SYNC_MS } from './fleet-helpers.js';

describeWithRedis('circuit-breaker fleet on Redis', () => {
  const fixture = redisFixture();
  fleetTests(
    () => ({
      env: () => ({ BACKEND: 'redis', REDIS_URL: services().redisUrl }),
      prefix: () => fixture.uniquePrefix(),
      store: (prefix) => {
        const client = fixture.newClient();
        const store = redisStore({ client, prefix });
        return { store, close: () => store.close() };
      },
    }),
    2 * SYNC_MS,
  );
});
