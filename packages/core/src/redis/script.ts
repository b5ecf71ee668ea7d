/**
 * Lua scripts run with EVALSHA, falling back to EVAL when the server does not know the script.
 *
 * A script cache is per server and volatile: `SCRIPT FLUSH`, a restart, a failover to a replica
 * that never saw the script, or a Cluster slot moving to another master all empty it. EVAL both
 * runs and caches the script, so a NOSCRIPT reply costs exactly one extra round trip and the
 * following calls are back to EVALSHA — no SCRIPT LOAD, no retry loop, and no per-connection
 * bookkeeping that a Cluster's many connections would make unreliable.
 *
 * Cluster routing: the adapter sends EVALSHA/EVAL to the master of the FIRST key's slot (ioredis
 * and node-redis alike), and Redis
 * refuses (CROSSSLOT) a script whose keys span slots. All keys of one script must therefore share
 * a hash tag; the keys `KeyBuilder.redisKeys()` builds for one decision always do.
 */
import { createHash } from 'node:crypto';
import { expectInteger, expectNonEmptyString } from '../validate.js';
import { redisConnection, type ScriptClient } from './adapter.js';
import type { RedisArgument } from './client.js';
import { keySlot } from './key-slot.js';

/** Definition of a Lua script, given to {@link defineScript}. */
export interface ScriptDefinition {
  /** Names the script in errors (`'rate-limit.take'`). */
  name: string;
  /** The Lua source. Read time with `redis.call('TIME')`, never from an argument (Principle 3). */
  lua: string;
  /**
   * How many of the script's arguments are keys (`KEYS[1..n]`); the rest are `ARGV`. `'any'`
   * for a script that takes any number (each call passes its own, as a batch of keys).
   */
  keys: number | 'any';
  /**
   * Check on every run that all keys hash to one Cluster slot, and throw a `RangeError` when they
   * do not. Catches, on a single-node Redis in development, what a Cluster would refuse in
   * production; costs a CRC16 per key.
   * @default process.env.NODE_ENV !== 'production'
   */
  checkSlots?: boolean | undefined;
}

/**
 * A Lua script ready to run: its SHA1 is computed once, here.
 * @typeParam TResult What the script returns, as the client decodes it (the caller asserts it).
 */
export interface RedisScript<TResult = unknown> {
  /** Names the script in errors. */
  readonly name: string;
  /** The Lua source. */
  readonly lua: string;
  /** Hex SHA1 of the source, the EVALSHA handle. */
  readonly sha1: string;
  /** Number of keys the script takes, or `'any'`. */
  readonly keys: number | 'any';
  /** Whether runs check that all keys share one Cluster slot. */
  readonly checkSlots: boolean;
  /** Same as {@link runScript}`(client, this, keys, args)`. */
  run(
    client: ScriptClient,
    keys: readonly string[],
    args?: readonly RedisArgument[],
  ): Promise<TResult>;
}

/**
 * Prepares a Lua script for {@link runScript}. Define scripts once, at module load or store
 * construction.
 *
 * @throws {TypeError | RangeError} naming the field, when `name`, `lua` or `keys` is invalid.
 */
export function defineScript<TResult = unknown>(
  definition: ScriptDefinition,
): RedisScript<TResult> {
  const name = expectNonEmptyString('name', definition.name);
  const lua = expectNonEmptyString('lua', definition.lua);
  const keys = definition.keys === 'any' ? 'any' : expectInteger('keys', definition.keys, 0);
  const checkSlots = definition.checkSlots ?? process.env.NODE_ENV !== 'production';
  const script: RedisScript<TResult> = {
    name,
    lua,
    sha1: createHash('sha1').update(lua, 'utf8').digest('hex'),
    keys,
    checkSlots,
    run: (client, scriptKeys, args) => runScript(client, script, scriptKeys, args),
  };
  return Object.freeze(script);
}

const NO_ARGS: readonly RedisArgument[] = Object.freeze([]);

/**
 * Runs `script` with EVALSHA and, when the server answers NOSCRIPT, once more with EVAL (which
 * also caches it on that server). Works with every client {@link redisConnection} accepts (pass
 * the connection itself on hot paths: it saves a lookup); on a Cluster the call goes to the master
 * of the first key's slot.
 *
 * Errors of the script itself and of the connection are rejected as the client reports them; run it
 * under a `StoreGuard` to get the deadline and `StoreError`s. Not an `async` function: hot paths
 * (a rate-limit decision) pay for one promise reaction, not for an async frame.
 *
 * @param keys Exactly `script.keys` keys (any number for `'any'`), all in one Cluster slot (see
 *   `KeyBuilder.redisKeys()`).
 * @returns A promise that rejects with a `RangeError` when the number of keys is wrong, or (with
 *   `checkSlots`) the keys span slots.
 */
export function runScript<TResult = unknown>(
  client: ScriptClient,
  script: RedisScript<TResult>,
  keys: readonly string[],
  args: readonly RedisArgument[] = NO_ARGS,
): Promise<TResult> {
  try {
    if (script.keys !== 'any' && keys.length !== script.keys) {
      throw new RangeError(
        `Expected ${script.keys} keys for script \`${script.name}\`, got ${keys.length}`,
      );
    }
    const redis = redisConnection(client);
    if (script.checkSlots && keys.length > 1) assertOneSlot(script.name, redis.keyPrefix, keys);
    return (redis.evalsha(script.sha1, keys, args) as Promise<TResult>).then(
      undefined,
      (error: unknown) => {
        if (!isNoScriptError(error)) throw error;
        return redis.eval(script.lua, keys, args) as Promise<TResult>;
      },
    );
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Whether `error` is Redis' NOSCRIPT reply: the server does not have the script cached. */
export function isNoScriptError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function assertOneSlot(name: string, prefix: string, keys: readonly string[]): void {
  // ioredis prepends its keyPrefix before sending, so the slot is that of the prefixed key.
  const first = keySlot(prefix + keys[0]);
  for (let i = 1; i < keys.length; i++) {
    const slot = keySlot(prefix + keys[i]);
    if (slot !== first) {
      throw new RangeError(
        `Expected all keys of script \`${name}\` in one Redis Cluster slot, got ` +
          `${JSON.stringify(keys[0])} in slot ${first} and ${JSON.stringify(keys[i])} in slot ${slot}`,
      );
    }
  }
}
