import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { dynamoFixture } from './dynamo-fixture.js';
import { FixtureSlot } from './fixture-slot.js';
import {
  closeRedisClient,
  connectRedisClient,
  connectRedisClusterClient,
  DEFAULT_REDIS_CLIENT_KINDS,
  DEFAULT_REDIS_CLUSTER_CLIENT_KINDS,
  REDIS_CLUSTER_CLIENT_KINDS,
  type RedisClient,
  type RedisClientKind,
  redisClientKinds,
} from './redis-clients.js';
import { redisClusterFixture } from './redis-cluster-fixture.js';
import { redisFixture } from './redis-fixture.js';
import { describeWithDynamo, describeWithRedis, describeWithRedisCluster } from './services.js';

/** A store backend a contract suite runs against. */
export type Backend = 'memory' | 'redis' | 'redis-cluster' | 'dynamodb';

/** Every backend, in the order their suites are declared. */
export const ALL_BACKENDS: readonly Backend[] = ['memory', 'redis', 'redis-cluster', 'dynamodb'];

/** What a Redis store factory gets: a connected client and a fresh key prefix. */
export interface RedisStoreContext {
  /**
   * A single-node client for the `redis` backend, a Cluster client for `redis-cluster`, of the
   * library {@link clientKind} names.
   */
  client: RedisClient;
  /** Which client library (and version, and protocol) {@link client} is. */
  clientKind: RedisClientKind;
  /** A key prefix no other store of the run uses. */
  prefix: string;
}

/** What a DynamoDB store factory gets: a client, an existing table and a fresh key prefix. */
export interface DynamoStoreContext {
  /** A client of the suite's dynalite server. */
  client: DynamoDBClient;
  /** The suite's table (string partition key `pk`). */
  tableName: string;
  /** A key prefix no other store of the run uses. */
  prefix: string;
}

/** How to build the store under test on each backend; a backend without a factory is not run. */
export interface StoreFactories<S> {
  /** The in-process store. */
  memory?: () => S | Promise<S>;
  /** The Redis store, used for both the `redis` and the `redis-cluster` backends. */
  redis?: (ctx: RedisStoreContext) => S | Promise<S>;
  /** The DynamoDB store. */
  dynamodb?: (ctx: DynamoStoreContext) => S | Promise<S>;
}

/** What the tests of a contract suite get. */
export interface ContractContext<S> {
  /**
   * Builds a fresh store with a fresh key prefix (so tests never see each other's state). Call it
   * inside tests; stores with a `close()` method are closed after the test.
   */
  makeStore(): Promise<S>;
  /** The backend this copy of the suite runs against. */
  backend: Backend;
  /** The Redis client library of this copy (`undefined` on memory and DynamoDB). */
  clientKind: RedisClientKind | undefined;
}

/** Options of {@link runContractSuite}. */
export interface ContractSuiteOptions {
  /** Backends to run; default: every backend that has a factory. */
  backends?: Backend[];
  /**
   * Redis client kinds to run the `redis` backend on; default: `BREAKWATER_REDIS_CLIENTS`, or
   * `DEFAULT_REDIS_CLIENT_KINDS`. (The `ioredis` kind keeps the plain `[redis]` title.)
   */
  redisClients?: readonly RedisClientKind[];
  /**
   * The same for `redis-cluster`; default: `BREAKWATER_REDIS_CLIENTS` (its Cluster kinds), or
   * `DEFAULT_REDIS_CLUSTER_CLIENT_KINDS`.
   */
  redisClusterClients?: readonly RedisClientKind[];
}

function hasClose(value: unknown): value is { close(): unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { close?: unknown }).close === 'function'
  );
}

function factoryFor<S>(factories: StoreFactories<S>, backend: Backend): unknown {
  return backend === 'memory'
    ? factories.memory
    : backend === 'dynamodb'
      ? factories.dynamodb
      : factories.redis;
}

/**
 * Declares one store contract suite and runs it against each backend: a `describe` named
 * `<suiteName> [<backend>]` per backend, with the fixture that backend needs (Redis at
 * `REDIS_URL`, a throwaway Redis Cluster, dynalite), skipped when that service is unavailable.
 * `defineTests` is called once per backend and declares the tests with `it`/`test` as usual.
 */
export function runContractSuite<S>(
  suiteName: string,
  factories: StoreFactories<S>,
  defineTests: (ctx: ContractContext<S>) => void,
  options: ContractSuiteOptions = {},
): void {
  const requested = options.backends;
  if (requested !== undefined) {
    const missing = requested.filter((backend) => factoryFor(factories, backend) === undefined);
    if (missing.length > 0) {
      throw new Error(
        `runContractSuite('${suiteName}'): no store factory for backend(s) ${missing.join(', ')}`,
      );
    }
  }
  const backends = (requested ?? ALL_BACKENDS).filter(
    (backend) => factoryFor(factories, backend) !== undefined,
  );

  for (const backend of backends) {
    const title = `${suiteName} [${backend}]`;
    switch (backend) {
      case 'memory': {
        const memory = factories.memory!;
        describe(title, () => defineWithStores(backend, undefined, defineTests, () => memory()));
        break;
      }
      case 'redis': {
        const redis = factories.redis!;
        const kinds = options.redisClients ?? redisClientKinds(DEFAULT_REDIS_CLIENT_KINDS);
        for (const kind of kinds) {
          describeWithRedis(titleFor(title, kind), () => {
            const fixture = redisFixture();
            const client = clientFor(kind, () => connectRedisClient(kind, fixture.url));
            defineWithStores(backend, kind, defineTests, () =>
              redis({ client: client(), clientKind: kind, prefix: fixture.uniquePrefix() }),
            );
          });
        }
        break;
      }
      case 'redis-cluster': {
        const redis = factories.redis!;
        const kinds = (
          options.redisClusterClients ?? redisClientKinds(DEFAULT_REDIS_CLUSTER_CLIENT_KINDS)
        ).filter((kind) => REDIS_CLUSTER_CLIENT_KINDS.includes(kind));
        for (const kind of kinds) {
          describeWithRedisCluster(titleFor(title, kind), () => {
            const fixture = redisClusterFixture();
            const client = clientFor(kind, () => connectRedisClusterClient(kind, fixture.nodes));
            defineWithStores(backend, kind, defineTests, () =>
              redis({ client: client(), clientKind: kind, prefix: fixture.uniquePrefix() }),
            );
          });
        }
        break;
      }
      case 'dynamodb': {
        const dynamodb = factories.dynamodb!;
        describeWithDynamo(title, () => {
          const fixture = dynamoFixture();
          defineWithStores(backend, undefined, defineTests, () =>
            dynamodb({
              client: fixture.client,
              tableName: fixture.tableName,
              prefix: fixture.uniquePrefix(),
            }),
          );
        });
        break;
      }
    }
  }
}

/** `Suite [redis]` for ioredis 6 (the titles runs had before other clients), `Suite [redis · kind]` otherwise. */
function titleFor(title: string, kind: RedisClientKind): string {
  return kind === 'ioredis' ? title : `${title.slice(0, -1)} · ${kind}]`;
}

/**
 * A client of `kind` connected in `beforeAll` and closed in `afterAll` of the enclosing suite;
 * returns its getter.
 */
function clientFor(kind: RedisClientKind, connect: () => Promise<RedisClient>): () => RedisClient {
  const slot = new FixtureSlot<RedisClient>(`contract client (${kind})`);
  beforeAll(async () => {
    slot.set(await connect());
  });
  afterAll(() => {
    const client = slot.take();
    if (client !== undefined) closeRedisClient(client);
  });
  return () => slot.get();
}

/** Wires `makeStore` to `build` and closes the stores of each test after it. */
function defineWithStores<S>(
  backend: Backend,
  clientKind: RedisClientKind | undefined,
  defineTests: (ctx: ContractContext<S>) => void,
  build: () => S | Promise<S>,
): void {
  const openStores: S[] = [];
  afterEach(async () => {
    const stores = openStores.splice(0);
    await Promise.all(stores.map((store) => (hasClose(store) ? store.close() : undefined)));
  });
  defineTests({
    backend,
    clientKind,
    async makeStore() {
      const store = await build();
      openStores.push(store);
      return store;
    },
  });
}
