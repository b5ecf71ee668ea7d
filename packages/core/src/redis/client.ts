/**
 * The Redis clients Breakwater's stores accept, as types. Every library is described structurally
 * (the few members the adapter calls), so no client library is a dependency of core, its types
 * resolve without any of them installed, and a fork (iovalkey) or another major version of a
 * library is accepted as long as it keeps those members. Users keep passing their own client.
 */

/** An argument of a Redis command. Numbers are sent as their decimal text. */
export type RedisArgument = string | Buffer | number;

/**
 * An ioredis (`^5.4 || ^6`) or iovalkey `Redis` or `Cluster` client. Only what Breakwater calls
 * is listed.
 */
export interface IoredisClient {
  /** `true` on a `Cluster`. */
  readonly isCluster: boolean;
  /** The connection's state (`'ready'`, `'reconnecting'`, `'end'`…). */
  readonly status: string;
  /** `EVALSHA sha1 numkeys key… arg…` */
  evalsha(sha1: string, numkeys: number, ...keysAndArgs: RedisArgument[]): Promise<unknown>;
  /** Any command by name. */
  call(command: string, ...args: RedisArgument[]): Promise<unknown>;
  /** A new pipeline. */
  pipeline(): unknown;
  /** A new client with the same options. */
  duplicate(...args: never[]): unknown;
}

/**
 * A node-redis (`redis` 5.x or 6.x) single-node client, as `createClient()` returns it (RESP2 or
 * RESP3). Only what Breakwater calls is listed; connect it (`await client.connect()`) yourself.
 */
export interface NodeRedisClient {
  /** Sends one command and resolves with its reply. */
  sendCommand(args: readonly (string | Buffer)[]): Promise<unknown>;
  /** A new, unconnected client with the same options (the store's own subscriber). */
  duplicate(): unknown;
  /** Whether the client was connected and not closed since. */
  readonly isOpen: boolean;
}

/**
 * A node-redis (`redis` 5.x or 6.x) Cluster client, as `createCluster()` returns it. Only what
 * Breakwater calls is listed; connect it yourself.
 */
export interface NodeRedisCluster {
  /** Sends one command to the master of `firstKey`'s slot (any master without a key). */
  sendCommand(
    firstKey: string | Buffer | undefined,
    isReadonly: boolean | undefined,
    args: (string | Buffer)[],
  ): Promise<unknown>;
  /** A new, unconnected Cluster client with the same options (the store's own subscriber). */
  duplicate(): unknown;
  /** The master of a slot, as the client knows it. */
  getSlotMaster(slot: number): unknown;
  /** The connected client of a node (a master from {@link getSlotMaster}). */
  nodeClient(node: never): Promise<unknown>;
}

/**
 * Any Redis client a store accepts: ioredis or iovalkey `Redis` / `Cluster` (ioredis `^5.4 || ^6`,
 * iovalkey `^0.4`), or a node-redis client from `createClient()` / `createCluster()`.
 */
export type RedisClient = IoredisClient | NodeRedisClient | NodeRedisCluster;

/**
 * Whether `client` is an ioredis (or iovalkey) `Cluster`. Checks the flag ioredis sets rather
 * than `instanceof`, which fails when the application and Breakwater resolve different copies.
 */
export function isRedisCluster(client: unknown): client is IoredisClient & { isCluster: true } {
  return (
    typeof client === 'object' &&
    client !== null &&
    (client as { isCluster?: unknown }).isCluster === true
  );
}
