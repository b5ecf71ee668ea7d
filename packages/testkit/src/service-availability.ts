/**
 * What the global setup found on this machine, handed to every test file through vitest's
 * `provide` / `inject` under the key {@link SERVICES_KEY}.
 */
export interface ServiceAvailability {
  /** The Redis the tests use: `REDIS_URL`, or `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** Whether that Redis answered PING. */
  redis: boolean;
  /**
   * Whether the `redis-server` and `redis-cli` binaries run, which the Redis Cluster fixture and
   * tests that own a throwaway server need.
   */
  redisServerBinary: boolean;
  /** Whether dynalite (the in-process DynamoDB) loads and starts. */
  dynamodb: boolean;
  /** The PostgreSQL the tests use: `DATABASE_URL`, or `postgres://postgres@127.0.0.1:5432/test`. */
  postgresUrl: string;
  /** Whether that PostgreSQL accepts connections. */
  postgres: boolean;
}

/** The `provide` / `inject` key of the {@link ServiceAvailability}. */
export const SERVICES_KEY = 'breakwaterServices';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Which test services this machine has; provided by `@breakwater/testkit/global-setup`. */
    breakwaterServices: ServiceAvailability;
  }
}
