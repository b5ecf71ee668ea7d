import { describe, inject } from 'vitest';
import { SERVICES_KEY, type ServiceAvailability } from './service-availability.js';

/**
 * Which test services this machine has, as probed by the global setup. Synchronous, so it can
 * decide at collection time whether a suite runs. Throws when the global setup did not run (the
 * tests were started with a config that lacks `@breakwater/testkit/global-setup`).
 */
export function services(): ServiceAvailability {
  const provided = inject(SERVICES_KEY);
  if (provided === undefined) {
    throw new Error(
      `inject('${SERVICES_KEY}') is empty: run the tests through the root vitest.config.ts, whose ` +
        "globalSetup is '@breakwater/testkit/global-setup'.",
    );
  }
  return provided;
}

/** A `describe` that is skipped when the Redis at `REDIS_URL` is unavailable. */
export function describeWithRedis(name: string, fn: () => void): void {
  describe.skipIf(!services().redis)(name, fn);
}

/**
 * A `describe` that is skipped when the `redis-server` / `redis-cli` binaries are unavailable (so
 * no Redis Cluster or throwaway server can be started).
 */
export function describeWithRedisCluster(name: string, fn: () => void): void {
  describe.skipIf(!services().redisServerBinary)(name, fn);
}

/** A `describe` that is skipped when dynalite (the in-process DynamoDB) is unavailable. */
export function describeWithDynamo(name: string, fn: () => void): void {
  describe.skipIf(!services().dynamodb)(name, fn);
}

/** A `describe` that is skipped when the PostgreSQL at `DATABASE_URL` is unavailable. */
export function describeWithPostgres(name: string, fn: () => void): void {
  describe.skipIf(!services().postgres)(name, fn);
}
