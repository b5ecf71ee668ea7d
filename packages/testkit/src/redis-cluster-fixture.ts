import { Cluster, type ClusterOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { FixtureSlot } from './fixture-slot.js';
import { uniquePrefix } from './key-prefix.js';
import {
  type ClusterNodeAddress,
  type RedisCluster,
  type StartRedisClusterOptions,
  startRedisCluster,
} from './redis-cluster.js';

/** What {@link redisClusterFixture} gives the tests of its suite. */
export interface RedisClusterFixture {
  /** A connected ioredis `Cluster` client of the fixture's cluster. */
  readonly client: Cluster;
  /** A key prefix unique to this fixture (`bwtest:<random>`). Available from collection time on. */
  readonly prefix: string;
  /** The master nodes' addresses. */
  readonly nodes: ClusterNodeAddress[];
  /** The running cluster (its node processes), for tests that stop or kill a node. */
  readonly cluster: RedisCluster;
  /** A prefix of its own for one test (`<prefix>:<random>`). */
  uniquePrefix(): string;
  /** Another `Cluster` client of the same cluster, closed after the suite. */
  newClient(options?: ClusterOptions): Cluster;
  /** Closes the clients and stops every node now (also done after the suite). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Registers hooks in the current file or `describe` that start a throwaway 3-master Redis Cluster
 * from the `redis-server` binary (see {@link startRedisCluster}) and connect a `Cluster` client to
 * it; after the suite (also when tests failed) the clients are closed and the nodes stopped. Use
 * it inside `describeWithRedisCluster(...)` so it is skipped where the binaries are missing.
 */
export function redisClusterFixture(options: StartRedisClusterOptions = {}): RedisClusterFixture {
  const prefix = uniquePrefix();
  const cluster = new FixtureSlot<RedisCluster>('redisClusterFixture().cluster');
  const client = new FixtureSlot<Cluster>('redisClusterFixture().client');
  const clients = new Set<Cluster>();

  const connect = (clusterOptions: ClusterOptions = {}): Cluster => {
    const redis = new Cluster(cluster.get().nodes, clusterOptions);
    clients.add(redis);
    return redis;
  };

  const stop = async (): Promise<void> => {
    const running = cluster.take();
    client.take();
    const open = [...clients];
    clients.clear();
    for (const redis of open) redis.disconnect();
    await running?.stop();
  };

  beforeAll(async () => {
    cluster.set(await startRedisCluster(options));
    try {
      const redis = connect();
      client.set(redis);
      await new Promise<void>((resolve, reject) => {
        redis.once('ready', () => resolve());
        redis.once('error', reject);
      });
    } catch (error) {
      await stop();
      throw error;
    }
  });

  afterAll(stop);

  return {
    get client() {
      return client.get();
    },
    get cluster() {
      return cluster.get();
    },
    get nodes() {
      return cluster.get().nodes;
    },
    prefix,
    uniquePrefix: () => uniquePrefix(prefix),
    newClient: connect,
    stop,
  };
}
