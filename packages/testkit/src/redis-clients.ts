/**
 * Redis clients of every library Breakwater's stores accept, built as a user would build them, so
 * that contract suites, fleet tests and benchmarks run unchanged on each. No vitest here (child
 * processes load it), and each library is imported only when a client of it is made: loading all
 * five takes seconds, which a fleet child must not pay before it is ready.
 */
import type { ClusterNodeAddress } from './redis-cluster.js';

/**
 * A client of any kind below. Typed loosely on purpose: testkit does not depend on core (core's
 * tests use testkit); the stores' `client` option checks what it is given.
 */
// biome-ignore lint/suspicious/noExplicitAny: any store's `client` option must accept it
export type RedisClient = any;

/**
 * A client library (and version, and protocol) a suite runs on:
 * - `ioredis`: ioredis 6, the library the stores were first written for;
 * - `ioredis5`: ioredis 5 (the peer range also allows `^5.4`);
 * - `iovalkey`: iovalkey, the Valkey project's ioredis fork;
 * - `node-redis`: node-redis (`redis`) 6, RESP2;
 * - `node-redis-resp3`: node-redis 6 speaking RESP3;
 * - `node-redis5`: node-redis 5, RESP2.
 */
export type RedisClientKind =
  | 'ioredis'
  | 'ioredis5'
  | 'iovalkey'
  | 'node-redis'
  | 'node-redis-resp3'
  | 'node-redis5';

/** Every {@link RedisClientKind}. */
export const REDIS_CLIENT_KINDS: readonly RedisClientKind[] = [
  'ioredis',
  'ioredis5',
  'iovalkey',
  'node-redis',
  'node-redis-resp3',
  'node-redis5',
];

/** The kinds that can talk to a Redis Cluster in these tests. */
export const REDIS_CLUSTER_CLIENT_KINDS: readonly RedisClientKind[] = [
  'ioredis',
  'iovalkey',
  'node-redis',
  'node-redis-resp3',
];

/**
 * The kinds a suite runs on by default (the README's test command): the libraries and protocols
 * that differ — ioredis 6, node-redis 6 on RESP2 and on RESP3. ioredis 5, iovalkey and node-redis 5
 * (same code paths as their siblings) run in CI's extra step, `BREAKWATER_REDIS_CLIENTS=all`.
 */
export const DEFAULT_REDIS_CLIENT_KINDS: readonly RedisClientKind[] = [
  'ioredis',
  'node-redis',
  'node-redis-resp3',
];

/** The Cluster kinds a suite runs on by default (see {@link DEFAULT_REDIS_CLIENT_KINDS}). */
export const DEFAULT_REDIS_CLUSTER_CLIENT_KINDS: readonly RedisClientKind[] = [
  'ioredis',
  'node-redis',
];

/**
 * Which client kinds suites run on: `BREAKWATER_REDIS_CLIENTS` (comma-separated kinds, or `all`)
 * when set, otherwise `fallback`.
 * @throws {Error} naming the variable and the unknown kind.
 */
export function redisClientKinds(fallback: readonly RedisClientKind[]): RedisClientKind[] {
  const raw = process.env.BREAKWATER_REDIS_CLIENTS?.trim();
  if (raw === undefined || raw === '') return [...fallback];
  if (raw === 'all') return [...REDIS_CLIENT_KINDS];
  const kinds = raw.split(',').map((each) => each.trim());
  for (const kind of kinds) {
    if (!REDIS_CLIENT_KINDS.includes(kind as RedisClientKind)) {
      throw new Error(
        `BREAKWATER_REDIS_CLIENTS: unknown client ${JSON.stringify(kind)}; expected ` +
          `${REDIS_CLIENT_KINDS.join(', ')} or all`,
      );
    }
  }
  return kinds as RedisClientKind[];
}

/** Whether `kind` is a node-redis kind. */
export function isNodeRedisKind(kind: RedisClientKind): boolean {
  return kind.startsWith('node-redis');
}

/**
 * A connected single-node client of the Redis at `url`, of `kind`, with the library's default
 * settings plus a no-op `error` listener (libraries print, or crash on, unhandled errors).
 */
export async function connectRedisClient(kind: RedisClientKind, url: string): Promise<RedisClient> {
  switch (kind) {
    case 'ioredis':
    case 'ioredis5':
    case 'iovalkey': {
      const client =
        kind === 'ioredis'
          ? new (await import('ioredis')).Redis(url, { lazyConnect: true })
          : kind === 'ioredis5'
            ? new (await import('ioredis5')).Redis(url, { lazyConnect: true })
            : new (await import('iovalkey')).Redis(url, { lazyConnect: true });
      client.on('error', ignore);
      await client.connect();
      return client as unknown as RedisClient;
    }
    case 'node-redis':
    case 'node-redis-resp3':
    case 'node-redis5': {
      const client =
        kind === 'node-redis5'
          ? (await import('redis5')).createClient({ url })
          : (await import('redis')).createClient({
              url,
              RESP: kind === 'node-redis-resp3' ? 3 : 2,
            });
      client.on('error', ignore);
      await client.connect();
      return client as unknown as RedisClient;
    }
  }
}

/** A connected Cluster client of `kind` (see {@link REDIS_CLUSTER_CLIENT_KINDS}). */
export async function connectRedisClusterClient(
  kind: RedisClientKind,
  nodes: readonly ClusterNodeAddress[],
): Promise<RedisClient> {
  switch (kind) {
    case 'ioredis':
    case 'iovalkey': {
      const startup = nodes.map(({ host, port }) => ({ host, port }));
      const client =
        kind === 'ioredis'
          ? new (await import('ioredis')).Cluster(startup, { lazyConnect: true })
          : new (await import('iovalkey')).Cluster(startup, { lazyConnect: true });
      client.on('error', ignore);
      client.on('node error', ignore);
      await client.connect();
      return client as unknown as RedisClient;
    }
    case 'node-redis':
    case 'node-redis-resp3': {
      const { createCluster } = await import('redis');
      const client = createCluster({
        rootNodes: nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
        RESP: kind === 'node-redis-resp3' ? 3 : 2,
      });
      client.on('error', ignore);
      await client.connect();
      return client as unknown as RedisClient;
    }
    default:
      throw new Error(`connectRedisClusterClient: no Cluster client of kind ${kind} in the tests`);
  }
}

/**
 * Closes a client of any kind at once, whatever the server's state: ioredis `disconnect()`,
 * node-redis `destroy()`. Never throws.
 */
export function closeRedisClient(client: RedisClient): void {
  try {
    const candidate = client as unknown as { destroy?: () => void; disconnect?: () => unknown };
    if (typeof candidate.destroy === 'function' && !('pipeline' in candidate)) {
      candidate.destroy();
    } else {
      (client as unknown as { disconnect(): void }).disconnect();
    }
  } catch {
    // Already closed.
  }
}

/** Sends one command on a client of any kind (routed by `key` on a Cluster). */
export function sendRedisCommand(
  client: RedisClient,
  args: readonly string[],
  key?: string,
): Promise<unknown> {
  const candidate = client as unknown as {
    call?: (...args: string[]) => Promise<unknown>;
    getMasters?: unknown;
    sendCommand(...args: unknown[]): Promise<unknown>;
  };
  if (typeof candidate.call === 'function') return candidate.call(...args);
  if (typeof candidate.getMasters === 'function') {
    return candidate.sendCommand(key, false, [...args]);
  }
  return candidate.sendCommand([...args]);
}

function ignore(): void {}

/**
 * The Redis client a fleet child process uses, from the environment its test passes:
 * `REDIS_CLIENT` (a {@link RedisClientKind}; default `ioredis`) and either `REDIS_CLUSTER_NODES`
 * (JSON array of `{ host, port }`, for a Cluster client) or `REDIS_URL`. Pair with
 * {@link redisClientEnv} in the test.
 * @throws {Error} naming the variable, when neither address is set.
 */
export async function redisClientFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<RedisClient> {
  const kind = (env.REDIS_CLIENT ?? 'ioredis') as RedisClientKind;
  if (!REDIS_CLIENT_KINDS.includes(kind)) {
    throw new Error(`REDIS_CLIENT: unknown client ${JSON.stringify(kind)}`);
  }
  if (env.REDIS_CLUSTER_NODES !== undefined && env.REDIS_CLUSTER_NODES !== '') {
    return connectRedisClusterClient(kind, JSON.parse(env.REDIS_CLUSTER_NODES));
  }
  if (env.REDIS_URL === undefined) throw new Error('REDIS_URL: not set for the fleet child');
  return connectRedisClient(kind, env.REDIS_URL);
}

/** The environment that makes {@link redisClientFromEnv} connect `kind` to `target`. */
export function redisClientEnv(
  kind: RedisClientKind,
  target: { url: string } | { nodes: readonly ClusterNodeAddress[] },
): Record<string, string> {
  return 'url' in target
    ? { REDIS_CLIENT: kind, REDIS_URL: target.url, REDIS_CLUSTER_NODES: '' }
    : { REDIS_CLIENT: kind, REDIS_CLUSTER_NODES: JSON.stringify(target.nodes) };
}
