/**
 * Store clients exactly as a user would build them, with the client libraries' default settings,
 * from a serialisable address: the faulty stores hand them to tests, and the degradation child
 * builds its own from the address the test passes it. No vitest here (child processes load it).
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster, type RedisClientType, type RedisClusterType } from 'redis';
import type { ClusterNodeAddress } from './redis-cluster.js';

/** Region and credentials that dynalite accepts (it checks neither). */
export const DYNALITE_CLIENT_CONFIG = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'breakwater-test', secretAccessKey: 'breakwater-test' },
} as const;

/** A store backend that can be broken on purpose (see `startFaultyStore`). */
export type FaultyBackend = 'redis' | 'redis-cluster' | 'dynamodb';

/** Every {@link FaultyBackend}, in the order the degradation suite runs them. */
export const FAULTY_BACKENDS: readonly FaultyBackend[] = ['redis', 'redis-cluster', 'dynamodb'];

/**
 * The Redis client library a faulty store's clients are built with: ioredis 6 (`new Redis(url)`,
 * `new Cluster(nodes)`) or node-redis 6 (`createClient({ url })`, `createCluster({ rootNodes })`).
 */
export type RedisClientLibrary = 'ioredis' | 'node-redis';

/** Every {@link RedisClientLibrary}, in the order the degradation suite runs them. */
export const REDIS_CLIENT_LIBRARIES: readonly RedisClientLibrary[] = ['ioredis', 'node-redis'];

/**
 * Where a store listens; JSON-serialisable, so a child process can connect to it too. A Redis
 * address also names the client library to reach it with (`client`, default `'ioredis'`).
 */
export type StoreAddress =
  | { backend: 'redis'; url: string; client?: RedisClientLibrary }
  | { backend: 'redis-cluster'; nodes: ClusterNodeAddress[]; client?: RedisClientLibrary }
  | { backend: 'dynamodb'; endpoint: string; tableName: string };

/** A node-redis single-node client as `createClient({ url })` builds it. */
export type NodeRedisClient = RedisClientType;

/** A node-redis Cluster client as `createCluster({ rootNodes })` builds it. */
export type NodeRedisCluster = RedisClusterType;

/**
 * The client type of a backend and Redis client library: `Redis` / `Cluster` (ioredis),
 * {@link NodeRedisClient} / {@link NodeRedisCluster} (node-redis), or `DynamoDBClient`.
 */
export type ClientOf<
  B extends FaultyBackend,
  L extends RedisClientLibrary = 'ioredis',
> = B extends 'redis'
  ? L extends 'node-redis'
    ? NodeRedisClient
    : Redis
  : B extends 'redis-cluster'
    ? L extends 'node-redis'
      ? NodeRedisCluster
      : Cluster
    : DynamoDBClient;

/** Any client {@link connectWithDefaults} builds. */
export type StoreClient = Redis | Cluster | NodeRedisClient | NodeRedisCluster | DynamoDBClient;

/** The library of a Redis address: its `client`, `'ioredis'` when absent. */
export function clientLibraryOf(address: StoreAddress): RedisClientLibrary {
  return address.backend === 'dynamodb' ? 'ioredis' : (address.client ?? 'ioredis');
}

/** Whether `client` was built by node-redis (`createClient` or `createCluster`). */
export function isNodeRedisClient(
  client: StoreClient,
): client is NodeRedisClient | NodeRedisCluster {
  return !(
    client instanceof DynamoDBClient ||
    client instanceof Redis ||
    client instanceof Cluster
  );
}

/**
 * node-redis clients must be connected before any command (ioredis connects by itself): the
 * `connect()` each one started, which {@link warmUp} awaits.
 */
const connecting = new WeakMap<object, Promise<unknown>>();

/**
 * A client of the store at `address` with the library's default settings: `new Redis(url)`,
 * `new Cluster(nodes)`, node-redis `createClient({ url })` / `createCluster({ rootNodes })`
 * (when the address's `client` is `'node-redis'`), or a `DynamoDBClient` with only dynalite's
 * region, credentials and endpoint set (default retries, no request timeout). The one addition:
 * a no-op `error` listener on Redis clients. It changes nothing but the output (ioredis prints
 * "Unhandled error event" for every failed reconnect; node-redis would crash the process on an
 * unhandled `error`), and users of a resilience library attach one anyway.
 *
 * A node-redis client is returned with its `connect()` started (ioredis connects by itself), not
 * finished: {@link warmUp} waits for it; a command sent before it finished is rejected by
 * node-redis ("The client is closed").
 */
export function connectWithDefaults<B extends FaultyBackend>(
  address: StoreAddress & { backend: B },
): ClientOf<B>;
export function connectWithDefaults(address: StoreAddress): StoreClient;
export function connectWithDefaults(address: StoreAddress): StoreClient {
  switch (address.backend) {
    case 'redis': {
      if (address.client === 'node-redis') {
        const client = createClient({ url: address.url }) as NodeRedisClient;
        client.on('error', ignore);
        return startConnecting(client);
      }
      const client = new Redis(address.url);
      client.on('error', ignore);
      return client;
    }
    case 'redis-cluster': {
      if (address.client === 'node-redis') {
        const rootNodes = address.nodes.map(({ host, port }) => ({
          url: `redis://${host}:${port}`,
        }));
        const client = createCluster({ rootNodes }) as unknown as NodeRedisCluster;
        client.on('error', ignore);
        return startConnecting(client);
      }
      const client = new Cluster(address.nodes.map(({ host, port }) => ({ host, port })));
      client.on('error', ignore);
      client.on('node error', ignore);
      return client;
    }
    case 'dynamodb':
      // The SDK warns once per process that it will soon need Node 22; noise in test output.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      return new DynamoDBClient({ ...DYNALITE_CLIENT_CONFIG, endpoint: address.endpoint });
  }
}

function startConnecting<C extends NodeRedisClient | NodeRedisCluster>(client: C): C {
  const connected = client.connect();
  // Awaited by warmUp(); a client closed before it connected must not leave a rejection behind.
  connected.catch(ignore);
  connecting.set(client, connected);
  return client;
}

/**
 * Closes a client at once, whatever the store does, as a user shutting down with a broken store
 * must, so that nothing of the client keeps the process alive: `destroy()` for the DynamoDB
 * client and node-redis clients (which rejects their pending commands and ends their sockets at
 * once; README "Faulty stores" on the reconnect wait it cannot cancel); for ioredis, `disconnect()` (no QUIT, which a hung server never answers), then its
 * sockets destroyed. Pending commands reject (except ioredis's offline queue in the case below).
 *
 * Two ioredis 6 behaviours make `disconnect()` alone keep a process alive for `disconnectTimeout`
 * (2 s by default): it only ends the socket and destroys it 2 s later if the server never closes
 * its side (a hung server never does); and while it waits to reconnect (a refused server) it ends
 * the dead socket, arms the same timer, which only that socket's `close` clears, and strands the
 * offline queue (redis/ioredis#2169).
 */
export function closeClientNow(client: StoreClient): void {
  if (client instanceof DynamoDBClient) {
    client.destroy();
    return;
  }
  if (isNodeRedisClient(client)) {
    try {
      client.destroy();
    } catch {
      // Never connected, or closed already.
    }
    return;
  }
  // Closing again would arm disconnect()'s timer on the dead socket once more.
  if (client.status === 'end') return;
  // Collected first: a disconnected Cluster forgets its node connections.
  const connections = client instanceof Cluster ? client.nodes('all') : [client];
  client.disconnect();
  for (const { stream } of connections) {
    if (stream === undefined || stream === null) continue;
    // A socket that closed long ago never emits `close` again; emitting it is what clears the
    // timer disconnect() armed on it. A live (or closing) one is simply destroyed.
    if ((stream as { closed?: boolean }).closed === true) stream.emit('close', false);
    else stream.destroy();
  }
}

/**
 * One round trip to every server the client talks to, so that a test's first timed call does not
 * pay for connecting and the SDK's lazy loading (up to ~200 ms on a busy machine, more than a
 * store deadline): PING every Redis master (a node-redis client's `connect()` is awaited first),
 * DescribeTable for DynamoDB. A long-running service's client is warm too.
 */
export async function warmUp(client: StoreClient, address: StoreAddress): Promise<void> {
  if (client instanceof DynamoDBClient) {
    const tableName = address.backend === 'dynamodb' ? address.tableName : undefined;
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  }
  if (isNodeRedisClient(client)) {
    await connecting.get(client);
    if (!('getMasters' in client)) {
      await client.sendCommand(['PING']);
      return;
    }
    await Promise.all(
      client
        .getMasters()
        .map(async (master) => (await client.nodeClient(master)).sendCommand(['PING'])),
    );
    return;
  }
  await client.ping();
  if (client instanceof Cluster)
    await Promise.all(client.nodes('master').map((node) => node.ping()));
}

function ignore(): void {}
