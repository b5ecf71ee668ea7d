import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { type RedisServer, startRedisServer } from './redis-server.js';

const execFileAsync = promisify(execFile);

/** Name of the Redis CLI binary, looked up on `PATH`; it creates the cluster. */
export const REDIS_CLI_BINARY = 'redis-cli';

/** Name of each node's cluster config file in its working directory. */
export const CLUSTER_CONFIG_FILE = 'nodes.conf';

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /**
   * Number of master nodes (Redis Cluster needs at least 3).
   * @default 3
   */
  masters?: number;
  /** Extra `redis-server` arguments for every node. */
  args?: string[];
  /**
   * `cluster-node-timeout` of every node, in milliseconds.
   * @default 5000
   */
  nodeTimeoutMs?: number;
  /**
   * How long creating the cluster and waiting for `cluster_state:ok` may take.
   * @default 20000
   */
  timeoutMs?: number;
}

/** Address of one cluster node. */
export interface ClusterNodeAddress {
  /** Always `'127.0.0.1'`. */
  host: string;
  /** The node's client port (its bus port is this + 10000). */
  port: number;
}

/** A throwaway Redis Cluster of `redis-server` processes on free ports. */
export interface RedisCluster {
  /** Every master node's address, in the order they were started. */
  readonly nodes: ClusterNodeAddress[];
  /** The node processes, for tests that stop or kill one of them. */
  readonly servers: RedisServer[];
  /** Stops every node and removes their dirs. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a Redis Cluster of `masters` masters without replicas from the `redis-server` binary:
 * every node on a free port (with a free bus port), persistence off, its cluster config file in a
 * temp dir; joins them with `redis-cli --cluster create` and resolves once every node reports
 * `cluster_state:ok`. On any failure the nodes already started are stopped.
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 3) {
    throw new RangeError(`Expected \`masters\` to be an integer >= 3, got ${masters}`);
  }
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  const args = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    CLUSTER_CONFIG_FILE,
    '--cluster-node-timeout',
    String(options.nodeTimeoutMs ?? 5_000),
    ...(options.args ?? []),
  ];
  const started = await Promise.allSettled(
    Array.from({ length: masters }, () => startRedisServer({ args, clusterBus: true })),
  );
  const servers = started.flatMap((outcome) =>
    outcome.status === 'fulfilled' ? [outcome.value] : [],
  );
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    const nodes = servers.map((server) => ({ host: server.host, port: server.port }));
    await createCluster(nodes, deadline);
    await waitForClusterOk(nodes, deadline);
    return { nodes, servers, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function createCluster(nodes: ClusterNodeAddress[], deadline: number): Promise<void> {
  const argv = [
    '--cluster',
    'create',
    ...nodes.map((node) => `${node.host}:${node.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ];
  try {
    await execFileAsync(REDIS_CLI_BINARY, argv, {
      timeout: Math.max(1, deadline - Date.now()),
      killSignal: 'SIGKILL',
    });
  } catch (error) {
    const details = error as { stdout?: string; stderr?: string; message?: string };
    throw new Error(
      `${REDIS_CLI_BINARY} --cluster create failed: ${details.message ?? String(error)}\n` +
        `${details.stdout ?? ''}${details.stderr ?? ''}`,
      { cause: error },
    );
  }
}

/**
 * Resolves once every node reports `cluster_state:ok` in `CLUSTER INFO`; rejects at `deadline`
 * (epoch ms) with the first node's info that was not ok.
 */
export async function waitForClusterOk(
  nodes: ClusterNodeAddress[],
  deadline: number,
): Promise<void> {
  const clients = nodes.map(
    (node) =>
      new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 0 }),
  );
  try {
    let lastInfo = '';
    while (Date.now() < deadline) {
      const infos = await Promise.all(clients.map((client) => client.cluster('INFO')));
      if (infos.every((info) => info.includes('cluster_state:ok'))) return;
      lastInfo = infos.find((info) => !info.includes('cluster_state:ok')) ?? '';
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Redis Cluster did not reach cluster_state:ok in time:\n${lastInfo}`);
  } finally {
    for (const client of clients) client.disconnect();
  }
}
