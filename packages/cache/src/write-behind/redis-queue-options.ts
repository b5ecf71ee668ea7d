/**
 * Options of the Redis write-behind queue, their defaults and their validation, including when an
 * append counts as durable (`durability`) and how the `WAIT` of `durability: 'wait'` is sized
 * against the write-behind's store deadline.
 */
import {
  expectInteger,
  expectNonEmptyString,
  expectObject,
  expectOneOf,
  STORE_DEFAULTS,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  keyBuilder,
  type RedisClient,
  type RedisConnection,
  redisConnection,
} from '@breakwater/core/redis';
import { REDIS_WRITE_BEHIND_QUEUE_OPTIONS } from '../known-options.js';
import type { WriteQueueContext } from './queue.js';

/**
 * When a Redis write-behind queue acknowledges an append:
 *
 * - `'primary'`: once the primary (or the Cluster master of the name's slot) applied it. A
 *   failover to a replica that had not received it yet loses it.
 * - `'wait'`: once `WAIT` confirmed that at least `waitReplicas` replicas received it. A failover
 *   to one of them loses nothing acknowledged.
 */
export type RedisWriteBehindDurability = 'primary' | 'wait';

/** Options of `redisWriteBehindQueue()`. */
export interface RedisWriteBehindQueueOptions {
  /**
   * Your client, connected: an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client
   * from `createClient()` or `createCluster()` (RESP2 or RESP3). The queue never closes it.
   */
  client: RedisClient;
  /**
   * First segment of every key; one per tenant or environment isolates their queues.
   * @default 'bw'
   */
  prefix?: string | undefined;
  /**
   * The consumer group every replica's flusher reads through. Every replica of a write-behind
   * name must use the same group: entries are deleted once one group completes them, so two
   * groups on one prefix would each be handed every entry (duplicate persists). Separate
   * deployments with `prefix`, not with `group`.
   * @default 'breakwater'
   */
  group?: string | undefined;
  /**
   * A consumer of the group that holds no entries and has not claimed for this long is removed
   * from the group (checked by `claim`, at most once a minute per name), so restarting processes
   * under new consumer names does not grow the group forever. Removing a consumer that holds
   * nothing is always safe: it is recreated by its next claim.
   * @default 600_000 (10 minutes)
   */
  idleConsumerMs?: number | undefined;
  /**
   * When an append is acknowledged (`write()` resolves): `'primary'` once the primary applied
   * it; `'wait'` once `WAIT waitReplicas waitTimeoutMs`, sent in the same round trip, confirmed
   * that enough replicas received it. With `'wait'`, an append that fewer replicas confirmed in
   * time rejects with `WriteBehindReplicationError` (a store failure; the entry may still be
   * persisted later: at least once).
   * @default 'primary'
   */
  durability?: RedisWriteBehindDurability | undefined;
  /**
   * With `durability: 'wait'`: replicas that must confirm an append. On a Cluster, replicas of
   * the master that owns the name's slot.
   * @default 1
   */
  waitReplicas?: number | undefined;
  /**
   * With `durability: 'wait'`: how long `WAIT` waits for the replicas, in milliseconds (≥ 1).
   * Must be below the write-behind's `storeDeadlineMs`, which bounds the whole append.
   * @default half the write-behind's `storeDeadlineMs` (250 ms at its default 500)
   */
  waitTimeoutMs?: number | undefined;
}

/** The `WAIT` of every append, for `durability: 'wait'`. */
export interface WaitSettings {
  /** Replicas that must confirm. */
  readonly replicas: number;
  /** `WAIT`'s timeout, in milliseconds. */
  readonly timeoutMs: number;
}

/** The options after validation and defaults (the wait timeout is resolved per scope). */
export interface ResolvedRedisQueueOptions {
  /** The adapter's connection over the user's client. */
  readonly redis: RedisConnection;
  /** The key prefix (`undefined`: core's default). */
  readonly prefix: string | undefined;
  /** The consumer group. */
  readonly group: string;
  /** Idle time after which a consumer holding nothing is removed. */
  readonly idleConsumerMs: number;
  /** When an append is acknowledged. */
  readonly durability: RedisWriteBehindDurability;
  /** Replicas `WAIT` asks for (used with `'wait'` only). */
  readonly waitReplicas: number;
  /** `undefined`: half the deadline of the write-behind that scopes the queue. */
  readonly waitTimeoutMs: number | undefined;
}

/** Defaults of {@link RedisWriteBehindQueueOptions}. */
export const REDIS_WRITE_BEHIND_QUEUE_DEFAULTS = {
  group: 'breakwater',
  idleConsumerMs: 600_000,
  durability: 'primary',
  waitReplicas: 1,
} as const;

/** Longest delay a Node.js timer honours; no store deadline can be longer. */
const MAX_TIMER_MS = 2_147_483_647;

/** Validates the options, naming the option and the value received. */
export function resolveRedisQueueOptions(
  options: RedisWriteBehindQueueOptions,
): ResolvedRedisQueueOptions {
  expectObject('options', options);
  warnUnknownOptions('redisWriteBehindQueue()', options, {
    known: REDIS_WRITE_BEHIND_QUEUE_OPTIONS,
  });
  const redis = redisConnection(options.client, 'client');
  const d = REDIS_WRITE_BEHIND_QUEUE_DEFAULTS;
  const durability = expectOneOf<RedisWriteBehindDurability>(
    'durability',
    options.durability ?? d.durability,
    ['primary', 'wait'],
  );
  if (durability === 'primary') {
    // Tuning a WAIT that never runs would look like protection that is not there.
    for (const name of ['waitReplicas', 'waitTimeoutMs'] as const) {
      if (options[name] !== undefined) {
        throw new TypeError(
          `\`${name}\` only applies with \`durability: 'wait'\`, got \`${name}: ${String(options[name])}\` with \`durability: 'primary'\``,
        );
      }
    }
  }
  const waitTimeoutMs =
    options.waitTimeoutMs === undefined
      ? undefined
      : expectInteger('waitTimeoutMs', options.waitTimeoutMs);
  if (waitTimeoutMs !== undefined && waitTimeoutMs >= MAX_TIMER_MS) {
    throw new RangeError(
      `Expected \`waitTimeoutMs\` to be below ${MAX_TIMER_MS} ms, got ${waitTimeoutMs}`,
    );
  }
  const prefix = options.prefix;
  // Validates the prefix now, not at the first scope.
  keyBuilder({ prefix, pattern: 'write-behind', name: 'x' });
  return {
    redis,
    prefix,
    group: expectNonEmptyString('group', options.group ?? d.group),
    idleConsumerMs: expectInteger('idleConsumerMs', options.idleConsumerMs ?? d.idleConsumerMs),
    durability,
    waitReplicas: expectInteger('waitReplicas', options.waitReplicas ?? d.waitReplicas),
    waitTimeoutMs,
  };
}

/**
 * The `WAIT` of a scope: `undefined` with `durability: 'primary'`. `WAIT` runs inside the append,
 * whose deadline is the write-behind's `storeDeadlineMs`, so it must give up before that (else
 * the caller would get a `StoreTimeoutError` instead of the replica count).
 * @throws {RangeError} naming both options, for a `waitTimeoutMs` not below the deadline.
 */
export function waitSettingsFor(
  options: ResolvedRedisQueueOptions,
  context: WriteQueueContext | undefined,
): WaitSettings | undefined {
  if (options.durability !== 'wait') return undefined;
  const deadlineMs = context?.storeDeadlineMs ?? STORE_DEFAULTS.deadlineMs;
  if (options.waitTimeoutMs !== undefined && options.waitTimeoutMs >= deadlineMs) {
    throw new RangeError(
      `Expected \`waitTimeoutMs\` of redisWriteBehindQueue() to be below the write-behind's \`storeDeadlineMs\` (${deadlineMs}), got ${options.waitTimeoutMs}`,
    );
  }
  return {
    replicas: options.waitReplicas,
    timeoutMs: options.waitTimeoutMs ?? Math.max(1, Math.floor(deadlineMs / 2)),
  };
}
