// The dead-letter queue contract (`@breakwater/retry/testing`), run unchanged on every queue
// Breakwater ships: memory, Redis, Redis Cluster and DynamoDB (dynalite); the Redis queue on every
// client library the stores accept (narrow with BREAKWATER_REDIS_CLIENTS).
import {
  closeRedisClient,
  connectRedisClient,
  connectRedisClusterClient,
  DEFAULT_REDIS_CLIENT_KINDS,
  DEFAULT_REDIS_CLUSTER_CLIENT_KINDS,
  describeWithDynamo,
  describeWithRedis,
  describeWithRedisCluster,
  dynamoFixture,
  REDIS_CLUSTER_CLIENT_KINDS,
  type RedisClient,
  redisClientKinds,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createDeadLetterTable, dynamoDeadLetters } from '../dynamodb.js';
import { type DeadLetterQueue, memoryDeadLetters } from '../index.js';
import { redisDeadLetters } from '../redis.js';
import { type DeadLetterContractOptions, deadLetterQueueContract } from '../testing.js';

/** Runs the contract; `build` makes one replica's queue over the namespace's storage. */
function runContract(
  build: (namespace: string, options: DeadLetterContractOptions) => DeadLetterQueue,
): void {
  for (const check of deadLetterQueueContract(build)) it(check.name, check.run);
}

/** One value per namespace: what the replicas of a namespace share. */
function perNamespace<T>(make: () => T): (namespace: string) => T {
  const made = new Map<string, T>();
  return (namespace) => {
    let value = made.get(namespace);
    if (value === undefined) {
      value = make();
      made.set(namespace, value);
    }
    return value;
  };
}

describe('memoryDeadLetters', () => {
  // Replicas of one namespace share the one in-process queue: the contract's "two replicas" are
  // two callers racing on it, which the claims must still keep apart.
  const queues = new Map<string, DeadLetterQueue>();
  runContract((namespace, options) => {
    const queue = queues.get(namespace) ?? memoryDeadLetters(options);
    queues.set(namespace, queue);
    return queue;
  });
});

/** A client connected before the enclosing suite and closed after it; returns its getter. */
function clientOfSuite(connect: () => Promise<RedisClient>): () => RedisClient {
  let client: RedisClient | undefined;
  beforeAll(async () => {
    client = await connect();
  });
  afterAll(() => {
    if (client !== undefined) closeRedisClient(client);
    client = undefined;
  });
  return () => {
    if (client === undefined) throw new Error('the suite client is not connected');
    return client;
  };
}

describeWithRedis('redisDeadLetters [redis]', () => {
  const redis = redisFixture();
  for (const kind of redisClientKinds(DEFAULT_REDIS_CLIENT_KINDS)) {
    describe(kind, () => {
      const client = clientOfSuite(() => connectRedisClient(kind, redis.url));
      const prefixOf = perNamespace(() => redis.uniquePrefix());
      runContract((namespace, options) =>
        redisDeadLetters({ ...options, client: client(), prefix: prefixOf(namespace) }),
      );
    });
  }
});

describeWithRedisCluster('redisDeadLetters [redis-cluster]', () => {
  const cluster = redisClusterFixture();
  const kinds = redisClientKinds(DEFAULT_REDIS_CLUSTER_CLIENT_KINDS).filter((kind) =>
    REDIS_CLUSTER_CLIENT_KINDS.includes(kind),
  );
  for (const kind of kinds) {
    describe(kind, () => {
      const client = clientOfSuite(() => connectRedisClusterClient(kind, cluster.nodes));
      const prefixOf = perNamespace(() => cluster.uniquePrefix());
      runContract((namespace, options) =>
        redisDeadLetters({ ...options, client: client(), prefix: prefixOf(namespace) }),
      );
    });
  }
});

describeWithDynamo('dynamoDeadLetters [dynamodb]', () => {
  const dynamo = dynamoFixture();
  const table = () => `${dynamo.tableName}-dead-letters`;
  beforeAll(async () => {
    await createDeadLetterTable(dynamo.client, table());
  });
  const prefixOf = perNamespace(() => dynamo.uniquePrefix());
  runContract((namespace, options) =>
    dynamoDeadLetters({
      ...options,
      client: dynamo.client,
      tableName: table(),
      prefix: prefixOf(namespace),
    }),
  );
});
