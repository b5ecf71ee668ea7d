/**
 * The Redis permit store: leases in one sorted set per priority class, scored by their expiry in
 * server time, plus a fencing counter. Acquire, renew and release are one Lua script each, so one
 * round trip each. A release publishes on the bulkhead's channel; waiters sleep until a message
 * arrives (given a `subscriber` connection), or until their bounded fallback poll.
 *
 * Works with single-node Redis and Redis Cluster: all keys of one bulkhead share one hash tag.
 */
import { systemClock } from '@breakwater/core';
import { keyBuilder, type RedisClient, runScript } from '@breakwater/core/redis';
import type {
  AcquireRequest,
  AcquireResult,
  Lease,
  PermitSpace,
  PermitSpaceOptions,
  PermitStore,
} from '../store.js';
import { acquireScript, releaseScript, renewScript } from './redis-scripts.js';
import { ReleaseWaiters } from './release-waiters.js';
import { WakeupHub } from './wakeup-hub.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** Your ioredis client (`Redis` or `Cluster`); the store never closes it. */
  client: RedisClient;
  /**
   * A second connection of yours, which the store puts in subscriber mode to hear about released
   * permits (`client.duplicate()`). Without it waiters fall back to polling every `wakeupPollMs`.
   */
  subscriber?: RedisClient | undefined;
  /** First segment of every key (tenant or environment isolation). @default 'bw' */
  prefix?: string | undefined;
}

/**
 * A permit store in Redis, for fleet-wide bulkheads.
 *
 * @example
 * const store = redisStore({ client: redis, subscriber: redis.duplicate() });
 * const db = bulkhead({ name: 'db', maxConcurrent: 40, maxQueue: 100, store });
 */
export function redisStore(options: RedisStoreOptions): PermitStore {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${String(options)}`);
  }
  const client = options.client;
  if (typeof (client as { evalsha?: unknown } | undefined)?.evalsha !== 'function') {
    throw new TypeError(
      `Expected \`client\` to be an ioredis Redis or Cluster client, got ${String(client)}`,
    );
  }
  const subscriber = options.subscriber;
  if (
    subscriber !== undefined &&
    typeof (subscriber as { subscribe?: unknown }).subscribe !== 'function'
  ) {
    throw new TypeError(
      `Expected \`subscriber\` to be an ioredis Redis or Cluster client, got ${String(subscriber)}`,
    );
  }
  const hub = subscriber === undefined ? undefined : new WakeupHub(subscriber);
  return {
    kind: 'redis',
    space: (spaceOptions) => new RedisSpace(client, hub, options.prefix, spaceOptions),
  };
}

class RedisSpace implements PermitSpace {
  private readonly leaseKeys: readonly string[];
  private readonly waitingKey: string;
  private readonly channel: string;
  private readonly acquireKeys: readonly string[];
  private readonly acquire$;
  private readonly unsubscribe: (() => Promise<void>) | undefined;
  private readonly releaseWaiters = new ReleaseWaiters();

  constructor(
    private readonly client: RedisClient,
    hub: WakeupHub | undefined,
    prefix: string | undefined,
    options: PermitSpaceOptions,
  ) {
    const keys = keyBuilder({ prefix, pattern: 'bulkhead', name: options.name });
    const parts = ['fence', 'waiting', ...options.classes.map((name) => `leases:${name}`)];
    const all = keys.redisKeys('', parts);
    this.waitingKey = all[1]!;
    this.leaseKeys = all.slice(2);
    this.acquireKeys = all;
    this.channel = keys.redisKey('', 'released');
    this.acquire$ = acquireScript(options.classes.length);
    this.unsubscribe = hub?.subscribe(this.channel, () => this.wakeAll());
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const { layout } = request;
    const args: (string | number)[] = [
      request.classIndex + 1,
      layout.limit,
      Math.ceil(request.ttlMs),
      request.leaseId,
      Math.ceil(request.refusedWaitMs),
    ];
    for (const reserved of layout.reserved) args.push(reserved);
    for (const max of layout.max) args.push(Number.isFinite(max) ? max : -1);
    const [granted, value] = await runScript(this.client, this.acquire$, this.acquireKeys, args);
    if (granted === 1) {
      return {
        granted: true,
        lease: { id: request.leaseId, classIndex: request.classIndex, fencingToken: Number(value) },
      };
    }
    return { granted: false, retryAfterMs: value < 0 ? undefined : Math.max(1, Number(value)) };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const alive = await runScript(
      this.client,
      renewScript,
      [this.leaseKey(lease)],
      [lease.id, Math.ceil(ttlMs)],
    );
    return alive === 1;
  }

  async release(lease: Lease): Promise<boolean> {
    const removed = await runScript(
      this.client,
      releaseScript,
      [this.leaseKey(lease), this.waitingKey],
      [lease.id, this.channel],
    );
    // Waiters of this process need not wait for the message to come back from Redis.
    this.wakeAll();
    return removed === 1;
  }

  get wakeups(): number {
    return this.releaseWaiters.wakeups;
  }

  waitForRelease(timeoutMs: number, signal: AbortSignal | undefined, seen?: number): Promise<void> {
    return this.releaseWaiters.wait(systemClock, timeoutMs, signal, seen);
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
  }

  private wakeAll(): void {
    this.releaseWaiters.wakeAll();
  }

  private leaseKey(lease: Lease): string {
    const key = this.leaseKeys[lease.classIndex];
    if (key === undefined)
      throw new RangeError(
        `Expected a lease of a known class, got class index ${lease.classIndex}`,
      );
    return key;
  }
}
