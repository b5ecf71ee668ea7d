/**
 * An append script followed by `WAIT`, in one round trip, for `durability: 'wait'`.
 *
 * `WAIT numreplicas timeout` blocks the connection until the replicas have acknowledged every
 * write this connection made so far (so the script's stream append, and anything sent before it)
 * or the timeout passes, and answers how many did. Sent in the same pipeline as the script, it
 * reaches the same node over the same connection: on a Cluster, ioredis routes a pipeline to the
 * master of its keys' slot, and the keyless `WAIT` rides along, so it counts the replicas of the
 * master that took the append. One `WAIT` covers a whole `appendMany` batch.
 *
 * A NOSCRIPT answer (a promoted replica or a restarted server has no script cache) costs one
 * more pipeline with `EVAL`, as with core's script runner; the first `WAIT` then had nothing of
 * ours to wait for and is ignored.
 */
import { isNoScriptError, isRedisCluster, type RedisScript } from '@breakwater/core/redis';
import type { Cluster, Redis } from 'ioredis';
import { WriteBehindReplicationError } from './errors.js';
import type { WaitSettings } from './redis-queue-options.js';

/** What the append needs to report a `WAIT` that fell short. */
export interface WaitTarget {
  /** The write-behind's name, for the error. */
  readonly name: string;
  /** The `WAIT` to send. */
  readonly wait: WaitSettings;
}

/**
 * Runs `script` and then `WAIT`; resolves with the script's reply once enough replicas confirmed.
 * `acknowledged(reply)` tells whether the reply appended anything: a reply that appended nothing
 * (every write refused past `maxPending`) needs no confirmation.
 * @throws {WriteBehindReplicationError} when fewer than `wait.replicas` replicas confirmed.
 */
export async function runAndWait<T>(
  client: Redis | Cluster,
  script: RedisScript<T>,
  keys: readonly string[],
  args: readonly string[],
  target: WaitTarget,
  appended: (reply: T) => boolean,
): Promise<T> {
  let [reply, confirmed] = await pipelined(client, 'evalsha', script.sha1, keys, args, target);
  if (reply instanceof Error && isNoScriptError(reply)) {
    [reply, confirmed] = await pipelined(client, 'eval', script.lua, keys, args, target);
  }
  if (reply instanceof Error) {
    // A slot that moved: a pipeline with a WAIT is not redirected by ioredis, so learn the new
    // owner for the next append; this one fails (nothing of it was applied).
    if (isRedisCluster(client) && /^(MOVED|ASK) /.test(reply.message)) {
      client.refreshSlotsCache();
    }
    throw reply;
  }
  if (!appended(reply as T)) return reply as T;
  if (confirmed instanceof Error) throw confirmed;
  const count = Number(confirmed);
  if (!(count >= target.wait.replicas)) {
    throw new WriteBehindReplicationError({
      policyName: target.name,
      store: 'redis',
      operation: 'append',
      confirmedReplicas: Number.isFinite(count) ? count : 0,
      requiredReplicas: target.wait.replicas,
      waitTimeoutMs: target.wait.timeoutMs,
    });
  }
  return reply as T;
}

/** `[script reply or its error, WAIT's count or its error]`. */
async function pipelined(
  client: Redis | Cluster,
  command: 'evalsha' | 'eval',
  body: string,
  keys: readonly string[],
  args: readonly string[],
  target: WaitTarget,
): Promise<[unknown, unknown]> {
  const results = await client
    .pipeline()
    [command](body, keys.length, ...keys, ...args)
    .wait(target.wait.replicas, target.wait.timeoutMs)
    .exec();
  if (results === null || results.length !== 2) {
    throw new Error('The append pipeline was discarded (the connection closed)');
  }
  const [[scriptError, reply], [waitError, confirmed]] = results as [
    [Error | null, unknown],
    [Error | null, unknown],
  ];
  return [scriptError ?? reply, waitError ?? confirmed];
}
