import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClientLibrary } from './default-clients.js';
import {
  NODE_REDIS_RECONNECT_LINGER_MS,
  nodeRedisReconnectBoundMs,
  signalServer,
} from './faulty-redis.js';
import type { Fault, FaultState, FaultyRedisCluster } from './faulty-store.js';
import { SerialQueue, TrackedClients } from './faulty-store.js';
import { CLUSTER_CONFIG_FILE, startRedisCluster, waitForClusterOk } from './redis-cluster.js';
import { type RedisServer, startRedisServer } from './redis-server.js';
import { createScratchDir } from './scratch-dir.js';

/**
 * `cluster-node-timeout` of the faulty cluster. Every fault hits all nodes at once, so no node
 * ever sees another fail; but nodes resumed after a long SIGSTOP would compare their clocks with
 * the last pong, mark each other failed and keep the cluster down for twice this timeout. A long
 * timeout keeps `restore()` after `hang()` instant.
 */
const NODE_TIMEOUT_MS = 60_000;

/** ioredis's default `disconnectTimeout`: how long an ended socket may stay before it is destroyed. */
const IOREDIS_DISCONNECT_TIMEOUT_MS = 2_000;

/** How long a restarted cluster may take to report `cluster_state:ok` on every node. */
const RESTART_TIMEOUT_MS = 20_000;

/**
 * ioredis `Cluster` retries with `clusterRetryStrategy(n) = min(100 + 2n, 2000)` ms, about every
 * 100 ms (n ≈ outage / 100); then it refreshes the slots and runs its ready check (measured: ready
 * ~60 ms after the last node reports `cluster_state:ok`).
 */
function clusterReconnectBoundMs(outageMs: number): number {
  return Math.min(100 + Math.ceil(outageMs / 50), 2_000) + 250;
}

/**
 * node-redis `createCluster`: each master's node client reconnects on its own with node-redis's
 * default strategy (see `nodeRedisReconnectBoundMs`), so the same bound holds. In practice a
 * restarted node accepts connections during its 2 s `CLUSTER_WRITABLE_DELAY`, so every node
 * client is back before `restore()` resolves (measured: +0 ms after outages of 2.4–5.2 s).
 */
const nodeRedisClusterReconnectBoundMs = nodeRedisReconnectBoundMs;

/**
 * Starts a private 3-master Redis Cluster that can be broken, its clients built with `library`;
 * see `startFaultyStore`.
 */
export async function startFaultyRedisCluster<L extends RedisClientLibrary>(
  library: L,
): Promise<FaultyRedisCluster<L>> {
  const cluster = await startRedisCluster({ nodeTimeoutMs: NODE_TIMEOUT_MS });
  const nodes = cluster.nodes;
  let servers: RedisServer[] = cluster.servers;
  // Each node's cluster config (its id, epoch and slots) must outlive the process, so that a
  // restarted node is the same node. The server dirs are removed when a node dies; this one stays.
  const keptDir = createScratchDir('redis-cluster-config');
  const keptConfig = (port: number) => join(keptDir.path, `nodes-${port}.conf`);
  const address = { backend: 'redis-cluster' as const, nodes, client: library };
  const clients = new TrackedClients<'redis-cluster', L>(address);
  const nodeRedis = library === 'node-redis';
  const queue = new SerialQueue();
  let state: FaultState = 'healthy';
  let stopped = false;

  const assertRunning = () => {
    if (stopped) throw new Error('The faulty Redis Cluster is stopped');
  };

  const restore = async () => {
    assertRunning();
    if (state === 'hung') for (const server of servers) signalServer(server, 'SIGCONT');
    if (state === 'refused') {
      servers = await Promise.all(
        nodes.map(({ port }) =>
          startRedisServer({
            port,
            args: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              keptConfig(port),
              '--cluster-node-timeout',
              String(NODE_TIMEOUT_MS),
            ],
          }),
        ),
      );
      // A restarted master waits 2 s (Redis's CLUSTER_WRITABLE_DELAY) before it reports ok.
      await waitForClusterOk(nodes, Date.now() + RESTART_TIMEOUT_MS);
    }
    state = 'healthy';
  };

  const refuse = async () => {
    assertRunning();
    if (state === 'refused') return;
    for (const server of servers) {
      const kept = keptConfig(server.port);
      const current = join(server.dir, CLUSTER_CONFIG_FILE);
      // Nodes started by startRedisCluster write nodes.conf in their own dir; restarted nodes
      // write the kept file directly.
      if (!server.exited) {
        try {
          copyFileSync(current, kept);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      }
    }
    await Promise.all(servers.map((server) => server.kill()));
    state = 'refused';
  };

  const hang = async () => {
    assertRunning();
    if (state === 'hung') return;
    if (state === 'refused') await restore();
    for (const server of servers) signalServer(server, 'SIGSTOP');
    state = 'hung';
  };

  return {
    backend: 'redis-cluster',
    clientLibrary: library,
    address,
    nodes,
    get state() {
      return state;
    },
    get pids() {
      return servers.filter((server) => !server.exited).map((server) => server.pid);
    },
    refuse: () => queue.run(refuse),
    hang: () => queue.run(hang),
    inject: (fault: Fault) => queue.run(fault === 'refuse' ? refuse : hang),
    restore: () => queue.run(restore),
    reconnectBoundMs: (fault: Fault, outageMs: number) => {
      if (fault !== 'refuse') return 0;
      return nodeRedis
        ? nodeRedisClusterReconnectBoundMs(outageMs)
        : clusterReconnectBoundMs(outageMs);
    },
    clientLingerMs: (fault: Fault) => {
      if (fault !== 'refuse') return 0;
      return nodeRedis ? NODE_REDIS_RECONNECT_LINGER_MS : IOREDIS_DISCONNECT_TIMEOUT_MS;
    },
    newClient: () => {
      assertRunning();
      return clients.create();
    },
    stop: () =>
      queue.run(async () => {
        if (stopped) return;
        stopped = true;
        clients.closeAll();
        for (const server of servers) signalServer(server, 'SIGCONT');
        await Promise.all(servers.map((server) => server.kill()));
        keptDir.remove();
      }),
  };
}
