/**
 * The Redis store: one EVALSHA per decision, on one key, decided with the Redis server's clock.
 *
 * - Keys: `<prefix>:rate-limit:{<name>:<key>}:<layout>` (layout = the algorithm, or the algorithms
 *   joined by `+`), a hash holding every limit of the key;
 *   the braces keep it in one Cluster slot (only one key is touched anyway). User keys over 256
 *   bytes are hashed.
 * - Clock: the script reads `TIME`, so replicas with skewed clocks still agree.
 * - Expiry: every write sets the key's TTL to the time after which its state is as good as fresh,
 *   so idle keys vanish on their own.
 */

import { expectObject } from '@breakwater/core';
import {
  defineScript,
  type KeyBuilder,
  keyBuilder,
  type RedisClient,
  type RedisScript,
} from '@breakwater/core/redis';
import type { LimiterShape, RateLimitStore, StoreHandle, StoreResult } from '../store.js';
import { rateLimitLua } from './redis-script.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** Your ioredis client: a `Redis` or a `Cluster`. The store never opens connections itself. */
  client: RedisClient;
  /**
   * First segment of every key; use one per tenant or environment sharing a Redis.
   * @default 'bw'
   */
  prefix?: string | undefined;
}

type Reply = [number, string, string, ...string[]];

/** One script per combination of algorithms, defined (and hashed) once, on first use. */
const scripts = new Map<string, RedisScript<Reply>>();

function scriptFor(shape: LimiterShape): RedisScript<Reply> {
  const algorithms = shape.limits.map((limit) => limit.algorithm);
  const id = algorithms.join(',');
  let script = scripts.get(id);
  if (script === undefined) {
    script = defineScript<Reply>({
      name: `rate-limit.${id}`,
      lua: rateLimitLua(algorithms),
      keys: 1,
    });
    scripts.set(id, script);
  }
  return script;
}

/**
 * A store in Redis (single node or Cluster), shared by every replica using the same client
 * target, prefix and limiter name.
 *
 * @example
 * import { redisStore } from '@breakwater/rate-limit/redis';
 * const limiter = rateLimiter({ name: 'partner-api', limit: 100, intervalMs: 1000, store: redisStore({ client: redis }) });
 */
export function redisStore(options: RedisStoreOptions): RateLimitStore {
  expectObject('options', options);
  const client = expectObject('client', options.client) as unknown as RedisClient;
  if (typeof (client as { evalsha?: unknown }).evalsha !== 'function') {
    throw new TypeError('Expected `client` to be an ioredis Redis or Cluster client');
  }
  const prefix = options.prefix;
  return {
    kind: 'redis',
    open(shape) {
      return new RedisHandle(
        client,
        keyBuilder({ prefix, pattern: 'rate-limit', name: shape.name }),
        shape,
      );
    },
  };
}

class RedisHandle implements StoreHandle {
  readonly remote = true;
  /** The arguments after mode, cost, minCost and takenAt: the same for every call. */
  private readonly shapeArgs: (string | number)[];
  private readonly script: RedisScript<Reply>;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: KeyBuilder,
    private readonly shape: LimiterShape,
  ) {
    this.script = scriptFor(shape);
    this.shapeArgs = [shape.limits.length];
    for (const limit of shape.limits) {
      for (let i = 0; i < limit.impl.stateSize; i++)
        this.shapeArgs.push(`${limit.intervalMs}.${i}`);
    }
    for (const limit of shape.limits)
      this.shapeArgs.push(limit.limit, limit.intervalMs, limit.capacity);
  }

  consume(key: string, cost: number, minCost: number): Promise<StoreResult> {
    return this.run(key, 'c', cost, minCost, 0);
  }

  peek(key: string, cost: number): Promise<StoreResult> {
    return this.run(key, 'p', cost, cost, 0);
  }

  async refund(key: string, cost: number, takenAt: number): Promise<void> {
    await this.run(key, 'r', cost, cost, takenAt);
  }

  async reset(key: string): Promise<void> {
    await this.client.del(this.keys.redisKey(key, this.shape.layout));
  }

  private async run(
    key: string,
    mode: string,
    cost: number,
    minCost: number,
    takenAt: number,
  ): Promise<StoreResult> {
    const reply = await this.script.run(
      this.client,
      [this.keys.redisKey(key, this.shape.layout)],
      [mode, cost, minCost, takenAt, ...this.shapeArgs],
    );
    const state = new Array<number>(reply.length - 3);
    for (let i = 3; i < reply.length; i++) state[i - 3] = Number(reply[i]);
    // The same arithmetic as the script's, so the same double comes out.
    const now = Number(reply[1]) * 1000 + Number(reply[2]) / 1000;
    const code = Math.abs(reply[0]);
    const fits = code !== 0;
    const granted = reply[0] <= 0 ? 0 : code === 1 ? cost : minCost;
    return { allowed: fits, granted, now, state };
  }
}
