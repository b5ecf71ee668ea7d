/**
 * An append script followed by `WAIT`, in one round trip, for `durability: 'wait'`.
 *
 * `WAIT numreplicas timeout` blocks the connection until the replicas have acknowledged every
 * write this connection made so far (so the script's stream append, and anything sent before it)
 * or the timeout passes, and answers how many did. Sent right behind the script with the
 * adapter's `sequence` (an ioredis pipeline; node-redis sends both back to back on one client), it
 * reaches the same node over the same connection: on a Cluster, both go to the master of the
 * stream key's slot, so the keyless `WAIT` counts the replicas of the master that took the append.
 * One `WAIT` covers a whole `appendMany` batch. A sequence is never redirected: after a MOVED the
 * append fails and the client re-reads the slot map for the next one.
 *
 * A NOSCRIPT answer (a promoted replica or a restarted server has no script cache) costs one
 * more sequence with `EVAL`, as with core's script runner; the first `WAIT` then had nothing of
 * ours to wait for and is ignored.
 */
import {
  isNoScriptError,
  type RedisArgument,
  type RedisConnection,
  type RedisScript,
} from '@breakwater/core/redis';
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
  redis: RedisConnection,
  script: RedisScript<T>,
  keys: readonly string[],
  args: readonly string[],
  target: WaitTarget,
  appended: (reply: T) => boolean,
): Promise<T> {
  let [reply, confirmed] = await sequenced(redis, 'evalsha', script.sha1, keys, args, target);
  if (reply instanceof Error && isNoScriptError(reply)) {
    [reply, confirmed] = await sequenced(redis, 'eval', script.lua, keys, args, target);
  }
  if (reply instanceof Error) {
    // A slot that moved: a pipeline with a WAIT is not redirected by ioredis, so learn the new
    // owner for the next append; this one fails (nothing of it was applied).
    if (redis.isCluster && /^(MOVED|ASK) /.test(reply.message)) redis.refreshSlots(keys[0]!);
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

/**
 * `[script reply or its error, WAIT's count or its error]`. Command names are lower case: an
 * ioredis pipeline calls its method of that name.
 */
async function sequenced(
  redis: RedisConnection,
  command: 'evalsha' | 'eval',
  body: string,
  keys: readonly string[],
  args: readonly string[],
  target: WaitTarget,
): Promise<[unknown, unknown]> {
  const script: [string, ...RedisArgument[]] = [command, body, keys.length, ...keys, ...args];
  const wait: [string, ...RedisArgument[]] = ['wait', target.wait.replicas, target.wait.timeoutMs];
  const [reply, confirmed] = await redis.sequence([script, wait], keys[0]!);
  return [reply, confirmed];
}
