/**
 * A policy's replica registry: how many replicas of the policy are alive, as seen through the
 * policy's own store. Each replica renews a heartbeat in the background (one store operation per
 * `renewIntervalMs`, on an unref'd timer that never keeps a process alive) and reads the live count
 * from the answer. Every heartbeat is a store operation of the policy's {@link StoreCalls}: it has
 * the store deadline, feeds the store's health, and is not attempted while the store is degraded.
 * When the store fails, the count stays at its last known value (see {@link ReplicaRegistry.ageMs}).
 *
 * Cost: one store operation per replica per `renewIntervalMs` (0.2/s with the defaults), one more
 * on `close()`, nothing per call. Heartbeats are deliberately not piggy-backed on the policy's own
 * store calls (evaluated for the Redis rate limiter, issue #20): riding on decisions would save at
 * most those 0.2 operations per second of a busy replica, while the timer stays needed for an idle
 * replica and, on a Cluster, for every replica whose calls go to other slots than the registry
 * key's (a decision key `{<name>:<key>}` hashes elsewhere). The price would be the registry's five
 * sorted-set commands inside the tuned decision scripts, a failed decision batch doubling as a
 * failed heartbeat, and heartbeats missing from the store telemetry that reports them as
 * `heartbeat` operations now. A heartbeat on Redis costs about as much as a bare `EVALSHA` (0.98×
 * and 1.35× in two runs of bench `rate-limit/registry`).
 */
import { randomUUID } from 'node:crypto';
import { type Disposer, Listeners } from '../listeners.js';
import type { StoreCalls, StoreOp } from '../store/calls.js';
import { expectNonEmptyString, expectPositive } from '../validate.js';
import type { ReplicaBackend } from './backend.js';

/** Default of {@link ReplicaTiming.renewIntervalMs}: one heartbeat every 5 s. */
export const DEFAULT_REPLICA_RENEW_INTERVAL_MS = 5_000;
/** Default of {@link ReplicaTiming.ttlMs}: a replica silent for 15 s no longer counts. */
export const DEFAULT_REPLICA_TTL_MS = 15_000;

/** How often a replica renews its heartbeat, and how long one heartbeat counts. */
export interface ReplicaTiming {
  /** Milliseconds between two heartbeats of one replica. */
  readonly renewIntervalMs: number;
  /** How long a heartbeat counts, in milliseconds; longer than `renewIntervalMs`. */
  readonly ttlMs: number;
}

/**
 * Validates a replica timing, with the defaults applied. The option names are the policy's, so a
 * bad value is named as the user wrote it.
 * @throws {RangeError} naming the option: a non-positive value, or a TTL not longer than the renew
 *   interval (a replica would drop out of the count between two of its own heartbeats).
 */
export function resolveReplicaTiming(
  given: { renewIntervalMs?: unknown; ttlMs?: unknown },
  names: { renewIntervalMs: string; ttlMs: string },
): ReplicaTiming {
  const renewIntervalMs =
    given.renewIntervalMs === undefined
      ? DEFAULT_REPLICA_RENEW_INTERVAL_MS
      : expectPositive(names.renewIntervalMs, given.renewIntervalMs);
  const ttlMs =
    given.ttlMs === undefined
      ? Math.max(DEFAULT_REPLICA_TTL_MS, renewIntervalMs * 3)
      : expectPositive(names.ttlMs, given.ttlMs);
  if (renewIntervalMs > 2 ** 31 - 1) {
    throw new RangeError(
      `Expected \`${names.renewIntervalMs}\` to be at most 2147483647, got ${renewIntervalMs}`,
    );
  }
  if (ttlMs <= renewIntervalMs) {
    throw new RangeError(
      `Expected \`${names.ttlMs}\` to be longer than \`${names.renewIntervalMs}\` (${renewIntervalMs}), got ${ttlMs}`,
    );
  }
  return { renewIntervalMs, ttlMs };
}

/** Options of a {@link ReplicaRegistry}. */
export interface ReplicaRegistryOptions extends ReplicaTiming {
  /** The policy's store call path: every heartbeat runs through it. */
  readonly calls: StoreCalls;
  /** The store side (`memoryReplicaBackend()`, `redisReplicaBackend()`, `dynamoReplicaBackend()`). */
  readonly backend: ReplicaBackend;
  /**
   * This replica's id; unique in the fleet.
   * @default a random UUID
   */
  readonly replicaId?: string | undefined;
}

/** The live replica count of one policy, renewed in the background. */
export class ReplicaRegistry {
  /** This replica's id in the registry. */
  readonly replicaId: string;
  /** The heartbeat interval and TTL, validated. */
  readonly timing: ReplicaTiming;
  private readonly heartbeatOp: StoreOp<number, void>;
  private readonly leaveOp: StoreOp<void, void>;
  private readonly listeners = new Listeners<number>('replica registry onCountChange');
  private lastCount = 1;
  /** `performance.now()` of the last answered heartbeat; `undefined` before the first. */
  private countedAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private inFlight: Promise<number> | undefined;

  constructor(options: ReplicaRegistryOptions) {
    this.timing = resolveReplicaTiming(options, {
      renewIntervalMs: 'renewIntervalMs',
      ttlMs: 'ttlMs',
    });
    this.replicaId =
      options.replicaId === undefined
        ? randomUUID()
        : expectNonEmptyString('replicaId', options.replicaId);
    const backend = options.backend;
    const abortable = { abortable: backend.abortable === true };
    const ttlMs = this.timing.ttlMs;
    this.heartbeatOp = options.calls.operation<number>(
      'heartbeat',
      (_, signal) => backend.heartbeat(this.replicaId, ttlMs, signal),
      abortable,
    );
    this.leaveOp = options.calls.operation<void>(
      'leave',
      (_, signal) => backend.leave(this.replicaId, signal),
      abortable,
    );
  }

  /**
   * The live replica count (this one included) from the last heartbeat the store answered; 1
   * before any. Kept through a store outage.
   */
  get count(): number {
    return this.lastCount;
  }

  /** Milliseconds since {@link count} was read from the store; `undefined` before the first read. */
  get ageMs(): number | undefined {
    return this.countedAt === undefined ? undefined : performance.now() - this.countedAt;
  }

  /** Subscribes to changes of {@link count}; returns the disposer. */
  onCountChange(listener: (count: number) => void): Disposer {
    return this.listeners.add(listener);
  }

  /** Sends the first heartbeat now and renews it every `renewIntervalMs`. Idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.beat();
  }

  /**
   * One heartbeat now; resolves with the count it read, or the last known one when the store
   * failed (the failure is recorded by the store call path, not thrown).
   */
  renew(): Promise<number> {
    if (this.closed) return Promise.resolve(this.lastCount);
    if (this.inFlight !== undefined) return this.inFlight;
    const attempt = Promise.resolve(this.heartbeatOp.run(undefined)).then(
      (count) => {
        this.countedAt = performance.now();
        const value = Math.max(1, Math.floor(Number(count)));
        if (value !== this.lastCount) {
          this.lastCount = value;
          this.listeners.emit(value);
        }
        return value;
      },
      () => this.lastCount,
    );
    const tracked = attempt.finally(() => {
      if (this.inFlight === tracked) this.inFlight = undefined;
    });
    this.inFlight = tracked;
    return tracked;
  }

  /**
   * Stops the heartbeats and removes this replica's entry, best effort: the removal is bounded by
   * the store deadline and skipped while the store is degraded (the entry then expires by its TTL).
   * Never rejects. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.started) return;
    // A heartbeat in flight would re-add the entry after the removal: wait for it (one deadline).
    if (this.inFlight !== undefined) await this.inFlight;
    try {
      await this.leaveOp.run(undefined);
    } catch {
      // Best effort: the TTL removes the entry of a replica that could not say goodbye.
    }
  }

  private beat(): void {
    void this.renew().then(() => {
      if (this.closed) return;
      this.timer = setTimeout(() => this.beat(), this.timing.renewIntervalMs);
      this.timer.unref();
    });
  }
}
