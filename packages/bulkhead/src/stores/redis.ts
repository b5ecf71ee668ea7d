/**
 * The Redis permit store: leases in one sorted set per priority class, scored by their expiry in
 * server time, plus a fencing counter, and one hash per class with the sizes of block leases
 * (`permitQuota`). Acquire, renew, resize and release are one Lua script each, so one round trip
 * each. A release publishes on the bulkhead's channel; waiters sleep until a message
 * arrives on the store's subscriber connection, or until their bounded fallback poll. Under
 * `onStoreError: 'local'` the bulkhead's replica registry is one more sorted set (`replicas`),
 * renewed by one script call per replica every `replicaRenewIntervalMs`.
 *
 * Works with single-node Redis and Redis Cluster: all keys of one bulkhead share one hash tag.
 */
import {
  type ReplicaBackend,
  STORE_DEFAULTS,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  keyBuilder,
  PubSubRouter,
  type RedisClient,
  type RedisConnection,
  redisConnection,
  redisProbe,
  redisReplicaBackend,
  runScript,
} from '@breakwater/core/redis';
import { REDIS_STORE_OPTIONS } from '../known-options.js';
import type {
  AcquireRequest,
  AcquireResult,
  Lease,
  PermitLayout,
  PermitScope,
  PermitScopeOptions,
  PermitStore,
  ResizeRequest,
  ResizeResult,
} from '../store.js';
import { acquireScript, releaseScript, renewScript, resizeScript } from './redis-scripts.js';
import { ContentionListeners, ReleaseWaiters } from './release-waiters.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * Your Redis client, single node or Cluster: an ioredis or iovalkey `Redis`/`Cluster`, or a
   * connected node-redis client from `createClient()`/`createCluster()` (RESP2 or RESP3). The
   * store never closes it.
   */
  client: RedisClient;
  /**
   * The connection the store listens on for released permits (pub/sub), shared by all its
   * bulkheads:
   *
   * - omitted: the store opens its own with `client.duplicate()` when the first bulkhead is built,
   *   and closes it on `close()` at once (never waiting on the server);
   * - a client of yours: the store subscribes on it and unsubscribes on `close()`, but never
   *   closes it — it stays yours;
   * - `false`: no subscriber; waiters of other replicas notice a release at the earliest lease
   *   expiry or after `wakeupPollMs`.
   *
   * @default a duplicate of `client`, owned by the store
   */
  subscriber?: RedisClient | false | undefined;
  /** First segment of every key (tenant or environment isolation). @default 'bw' */
  prefix?: string | undefined;
}

/**
 * A permit store in Redis, for fleet-wide bulkheads. Close it with `store.close()` after closing
 * its bulkheads: it closes the subscriber connection it opened, never your client.
 *
 * @example
 * const store = redisStore({ client: redis }); // ioredis, iovalkey or a connected node-redis client
 * const db = bulkhead({ name: 'db', maxConcurrent: 40, maxQueue: 100, store });
 * // on shutdown
 * await db.close();
 * await store.close();
 *
 * @throws {TypeError} naming the option, for a `client` or `subscriber` that is not a Redis client
 *   (the error for `client` lists the accepted ones).
 */
export function redisStore(options: RedisStoreOptions): PermitStore {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${String(options)}`);
  }
  warnUnknownOptions('redisStore()', options, {
    known: REDIS_STORE_OPTIONS,
    renames: { keyPrefix: 'prefix' },
  });
  // Every command of the store goes through this one connection, whichever library built it.
  const connection = redisConnection(options.client, 'client');
  // Validates `subscriber` (core's `expectSubscriber`): a named TypeError for anything else.
  const router = new PubSubRouter({
    client: connection,
    subscriber: options.subscriber,
    // The store serves bulkheads of any deadline; unsubscribing a user's connection on close()
    // waits at most the shared default.
    closeDeadlineMs: STORE_DEFAULTS.deadlineMs,
  });
  const close = (): Promise<void> => router.close();
  return {
    kind: 'redis',
    grantsBlocks: true,
    scope: (scopeOptions) => new RedisScope(connection, router, options.prefix, scopeOptions),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Appends the layout's reserved slots and caps (-1 for no cap) to a script's arguments. */
function pushLayout(args: (string | number)[], layout: PermitLayout): void {
  for (const reserved of layout.reserved) args.push(reserved);
  for (const max of layout.max) args.push(Number.isFinite(max) ? max : -1);
}

class RedisScope implements PermitScope {
  private readonly leaseKeys: readonly string[];
  /** Per class: the hash of block sizes (`permitQuota`). */
  private readonly blockKeys: readonly string[];
  private readonly waitingKey: string;
  /** The replica registry's sorted set, `<prefix>:bulkhead:{<name>:}:replicas`. */
  private readonly replicasKey: string;
  private readonly channel: string;
  private readonly acquireKeys: readonly string[];
  private readonly acquire$;
  private readonly resize$;
  private readonly releaseWaiters = new ReleaseWaiters();
  private readonly contention = new ContentionListeners();
  private stopListening: (() => void) | undefined;
  /** A `return 1` script on the bulkhead's `waiting` key: a Cluster runs it on the bulkhead's node. */
  readonly probe: () => Promise<number>;

  constructor(
    private readonly connection: RedisConnection,
    router: PubSubRouter,
    prefix: string | undefined,
    options: PermitScopeOptions,
  ) {
    const keys = keyBuilder({ prefix, pattern: 'bulkhead', name: options.name });
    const classes = options.classes;
    const parts = [
      'fence',
      'waiting',
      ...classes.map((name) => `leases:${name}`),
      ...classes.map((name) => `blocks:${name}`),
    ];
    const all = keys.redisKeys('', parts);
    this.waitingKey = all[1]!;
    this.leaseKeys = all.slice(2, 2 + classes.length);
    this.blockKeys = all.slice(2 + classes.length);
    this.acquireKeys = all;
    this.channel = keys.redisKey('', 'released');
    // Class keys are `leases:<class>`, so no class name can collide with it.
    this.replicasKey = keys.redisKey('', 'replicas');
    this.acquire$ = acquireScript(classes.length);
    this.resize$ = resizeScript(classes.length);
    this.probe = redisProbe(connection, this.waitingKey);
    // A (re)subscription may have missed releases: waiters ask the store again on the gap.
    this.stopListening = router.listen(this.channel, {
      message: (payload) => {
        // A refusal frees nothing: only blocks (`permitQuota`) act on it.
        if (payload === 'contended') this.contention.notify();
        else this.wakeAll();
      },
      gap: () => this.wakeAll(),
    });
  }

  /** A sorted set in the bulkhead's hash slot: one script call per heartbeat. */
  replicaBackend(): ReplicaBackend {
    return redisReplicaBackend(this.connection, this.replicasKey);
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const { layout } = request;
    const args: (string | number)[] = [
      request.classIndex + 1,
      layout.limit,
      Math.ceil(request.ttlMs),
      request.leaseId,
      Math.ceil(request.refusedWaitMs),
      request.permits ?? 1,
      this.channel,
    ];
    pushLayout(args, layout);
    const [granted, value, permits] = await runScript(
      this.connection,
      this.acquire$,
      this.acquireKeys,
      args,
    );
    if (granted === 1) {
      return {
        granted: true,
        lease: {
          id: request.leaseId,
          classIndex: request.classIndex,
          fencingToken: Number(value),
          permits: Number(permits ?? 1),
        },
      };
    }
    return { granted: false, retryAfterMs: value < 0 ? undefined : Math.max(1, Number(value)) };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const alive = await runScript(
      this.connection,
      renewScript,
      [this.leaseKey(lease)],
      [lease.id, Math.ceil(ttlMs)],
    );
    return alive === 1;
  }

  async resize(lease: Lease, request: ResizeRequest): Promise<ResizeResult> {
    this.leaseKey(lease);
    const args: (string | number)[] = [
      lease.classIndex + 1,
      request.layout.limit,
      Math.ceil(request.ttlMs),
      lease.id,
      request.permits,
      this.channel,
      Math.ceil(request.refusedWaitMs),
    ];
    pushLayout(args, request.layout);
    const [permits, waiting] = await runScript(
      this.connection,
      this.resize$,
      this.acquireKeys,
      args,
    );
    // Permits it gave back may let waiters of this process in (the store knows whether it did).
    this.wakeAll();
    return { permits: Number(permits), contended: Number(waiting) === 1 };
  }

  async release(lease: Lease): Promise<boolean> {
    const removed = await runScript(
      this.connection,
      releaseScript,
      [this.leaseKey(lease), this.waitingKey, this.blockKeys[lease.classIndex]!],
      [lease.id, this.channel],
    );
    // Waiters of this process need not wait for the message to come back from Redis.
    this.wakeAll();
    return removed === 1;
  }

  get wakeups(): number {
    return this.releaseWaiters.wakeups;
  }

  onContention(listener: () => void): () => void {
    return this.contention.add(listener);
  }

  waitForRelease(timeoutMs: number, signal: AbortSignal | undefined, seen?: number): Promise<void> {
    return this.releaseWaiters.wait(systemClock, timeoutMs, signal, seen);
  }

  close(): Promise<void> {
    this.stopListening?.();
    this.stopListening = undefined;
    return Promise.resolve();
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
