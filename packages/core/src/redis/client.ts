/**
 * The part of an ioredis client the script runner needs. Both `Redis` and `Cluster` (ioredis
 * `^5.4 || ^6`, any reply mapping) satisfy it structurally, so this module imports ioredis for
 * types only and users keep passing their own client.
 */
import type { Cluster, Redis } from 'ioredis';

/** An argument of a Redis command as ioredis accepts it. */
export type RedisArgument = string | Buffer | number;

/** A single-node or Cluster ioredis client. */
export type RedisClient = Redis | Cluster;

/** What the script runner calls on a client: `Redis` and `Cluster` both qualify. */
export interface ScriptClient {
  /** Set by ioredis: `true` on a `Cluster` client. */
  readonly isCluster?: boolean | undefined;
  /** ioredis options; only `keyPrefix` is read, for the development slot check. */
  readonly options?: { readonly keyPrefix?: string | undefined } | undefined;
  /** `EVALSHA sha1 numkeys key… arg…` */
  evalsha(sha1: string, numkeys: number, ...keysAndArgs: RedisArgument[]): Promise<unknown>;
  /** `EVAL script numkeys key… arg…` */
  eval(script: string, numkeys: number, ...keysAndArgs: RedisArgument[]): Promise<unknown>;
}

/**
 * Whether `client` is an ioredis `Cluster`. Checks the flag ioredis sets rather than
 * `instanceof`, which fails when the application and Breakwater resolve different ioredis copies.
 */
export function isRedisCluster(client: unknown): client is Cluster {
  return (
    typeof client === 'object' &&
    client !== null &&
    (client as { isCluster?: unknown }).isCluster === true
  );
}
