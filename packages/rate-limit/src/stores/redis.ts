/**
 * The Redis store: at most one EVALSHA per decision, on one key, decided with the Redis server's
 * clock.
 *
 * - Coalescing: while a script call for a key is in flight, further operations on that key wait in
 *   a local queue; when it returns, the whole queue goes in one script call, which decides them in
 *   order at one server time, exactly as if they had run one after another. A hot key costs one
 *   round trip per round trip's worth of decisions, not one per decision.
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

/** `TIME` seconds and microseconds, then per operation its code and its state after it. */
type Reply = [string, string, ...(number | string)[]];

/** The most operations one script call decides; the rest wait for the next call. */
export const MAX_BATCH = 256;

/** The queue of a key with a call in flight and nobody waiting behind it (never written to). */
const NOBODY: Op[] = [];

/** One operation waiting for (or in) a script call. */
interface Op {
  readonly mode: 'c' | 'p' | 'r';
  readonly cost: number;
  readonly minCost: number;
  readonly takenAt: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: StoreResult) => void;
  readonly reject: (error: unknown) => void;
}

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
  /** The arguments before the operations: the same for every call. */
  private readonly shapeArgs: (string | number)[];
  private readonly script: RedisScript<Reply>;
  /** State numbers per key. */
  private readonly stateSize: number;
  /**
   * Keys with a script call in flight, each with the operations queued behind it. A key is absent
   * when nothing is in flight for it.
   */
  private readonly queues = new Map<string, Op[]>();

  constructor(
    private readonly client: RedisClient,
    private readonly keys: KeyBuilder,
    private readonly shape: LimiterShape,
  ) {
    this.script = scriptFor(shape);
    this.shapeArgs = [];
    for (const limit of shape.limits) {
      for (let i = 0; i < limit.impl.stateSize; i++)
        this.shapeArgs.push(`${limit.intervalMs}.${i}`);
    }
    this.stateSize = this.shapeArgs.length;
    for (const limit of shape.limits)
      this.shapeArgs.push(limit.limit, limit.intervalMs, limit.capacity);
  }

  consume(
    key: string,
    cost: number,
    minCost: number,
    _now: number,
    signal: AbortSignal | undefined,
  ): Promise<StoreResult> {
    return this.submit(key, 'c', cost, minCost, 0, signal);
  }

  peek(
    key: string,
    cost: number,
    _now: number,
    signal: AbortSignal | undefined,
  ): Promise<StoreResult> {
    return this.submit(key, 'p', cost, cost, 0, signal);
  }

  async refund(
    key: string,
    cost: number,
    takenAt: number,
    _now: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    await this.submit(key, 'r', cost, cost, takenAt, signal);
  }

  async reset(key: string): Promise<void> {
    await this.client.del(this.keys.redisKey(key, this.shape.layout));
  }

  /** Sends the operation at once if its key is idle, else queues it behind the call in flight. */
  private submit(
    key: string,
    mode: Op['mode'],
    cost: number,
    minCost: number,
    takenAt: number,
    signal: AbortSignal | undefined,
  ): Promise<StoreResult> {
    const redisKey = this.keys.redisKey(key, this.shape.layout);
    const queue = this.queues.get(redisKey);
    if (queue === undefined) {
      // The key is idle: a call of its own, with no queue allocated until someone waits behind it.
      this.queues.set(redisKey, NOBODY);
      return this.call(redisKey, [mode, cost, minCost, takenAt]).then(
        (reply) => {
          this.next(redisKey);
          return this.result(reply, 2, cost, minCost);
        },
        (error: unknown) => {
          this.next(redisKey);
          throw error;
        },
      );
    }
    return new Promise<StoreResult>((resolve, reject) => {
      const op: Op = { mode, cost, minCost, takenAt, signal, resolve, reject };
      if (queue === NOBODY) this.queues.set(redisKey, [op]);
      else queue.push(op);
    });
  }

  /** One script call deciding the operations whose arguments are `ops` (4 per operation). */
  private call(redisKey: string, ops: (string | number)[]): Promise<Reply> {
    try {
      return this.script.run(this.client, [redisKey], this.shapeArgs.concat(ops));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Decides queued operations in one script call. */
  private send(redisKey: string, ops: Op[]): void {
    const args: (string | number)[] = [];
    for (const op of ops) args.push(op.mode, op.cost, op.minCost, op.takenAt);
    this.call(redisKey, args).then(
      (reply) => {
        // Queued behind this call first, so the next call goes out before callers resume.
        this.next(redisKey);
        let at = 2;
        for (const op of ops) {
          op.resolve(this.result(reply, at, op.cost, op.minCost));
          at += 1 + this.stateSize;
        }
      },
      (error: unknown) => {
        this.next(redisKey);
        // Every operation of the call shares its fate; the queued ones make their own attempt.
        for (const op of ops) op.reject(error);
      },
    );
  }

  /** The decision at `at` in `reply`, with its own copy of the state after it. */
  private result(reply: Reply, at: number, cost: number, minCost: number): StoreResult {
    // The same arithmetic as the script's, so the same double comes out.
    const now = Number(reply[0]) * 1000 + Number(reply[1]) / 1000;
    const size = this.stateSize;
    const code = Number(reply[at]);
    const state = new Array<number>(size);
    for (let k = 0; k < size; k++) state[k] = Number(reply[at + 1 + k]);
    const granted = code <= 0 ? 0 : code === 1 ? cost : minCost;
    return { allowed: code !== 0, granted, now, state };
  }

  /** Sends the operations queued behind the call that just returned, if any. */
  private next(redisKey: string): void {
    const queue = this.queues.get(redisKey);
    if (queue === undefined) return;
    if (queue === NOBODY) {
      this.queues.delete(redisKey);
      return;
    }
    // A caller that gave up while queued has had its answer (its signal's reason): skip it.
    let live = queue;
    if (queue.some((op) => op.signal?.aborted)) {
      live = [];
      for (const op of queue) {
        if (op.signal?.aborted) op.reject(op.signal.reason);
        else live.push(op);
      }
    }
    if (live.length === 0) {
      this.queues.delete(redisKey);
      return;
    }
    const batch = live.length > MAX_BATCH ? live.slice(0, MAX_BATCH) : live;
    this.queues.set(redisKey, live.length > MAX_BATCH ? live.slice(MAX_BATCH) : NOBODY);
    this.send(redisKey, batch);
  }
}
