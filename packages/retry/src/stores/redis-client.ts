/** Validation of the ioredis client users pass to the Redis stores. */
import { describeValue } from '@breakwater/core';
import type { RedisClient } from '@breakwater/core/redis';

/**
 * `client` itself when it looks like an ioredis `Redis` or `Cluster` (duck-typed, so a second
 * ioredis copy in the application still qualifies); a TypeError naming the option otherwise.
 */
export function expectRedisClient(client: unknown): RedisClient {
  const candidate = client as { evalsha?: unknown; xadd?: unknown } | null | undefined;
  if (typeof candidate?.evalsha !== 'function' || typeof candidate.xadd !== 'function') {
    throw new TypeError(
      `Expected \`client\` to be an ioredis Redis or Cluster client, got ${describeValue(client)}`,
    );
  }
  return client as RedisClient;
}
