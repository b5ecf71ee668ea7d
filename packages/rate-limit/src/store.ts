/**
 * What a rate limiter needs from a store: a handful of atomic operations on the state of one key.
 * The policy (`limiter/limiter.ts`) holds all the logic and never asks which store it has; a store is
 * done when it passes the contract suite (`__tests__/store.contract.test.ts`).
 */
import type { ReplicaBackend } from '@breakwater/core';
import type { CompiledLimit } from './algorithms/limit.js';

/** What a limiter tells its store once, when it is built. */
export interface LimiterShape {
  /** The limiter's name; part of every key, so limiters sharing a store never share state. */
  readonly name: string;
  /**
   * Names the state layout (see `layoutName()`: the algorithms of the limits); part of every key,
   * so changing an algorithm starts from fresh state instead of misreading the old one.
   */
  readonly layout: string;
  /** The limits, checked and consumed together, each with its algorithm. */
  readonly limits: readonly CompiledLimit[];
  /**
   * `blockDurationMs`: > 0, a consume that does not fit blocks the key for this long (denied
   * without a change until then). The state then carries one more number after the limits': the
   * time the key is blocked until (0: not blocked). Absent or 0: no block, no extra number.
   */
  readonly blockDurationMs?: number | undefined;
}

/** The outcome of a consume or peek. */
export interface StoreResult {
  /** Whether the requested cost (or the minimum) fitted every limit and was taken. */
  readonly allowed: boolean;
  /** The cost taken: the requested cost, the minimum, or 0 when denied (and always 0 for a peek). */
  readonly granted: number;
  /**
   * The time the store decided at, in epoch milliseconds: Redis' server time, the limiter's clock
   * for the memory and DynamoDB stores.
   */
  readonly now: number;
  /**
   * The key's state after the operation (`stateSize × limits` numbers, see `algorithms/`): the
   * caller reads the decision out of it. The caller must read it before its next store call: the
   * memory store reuses the array.
   */
  readonly state: number[];
}

/** A value, or a promise of it: the memory store answers synchronously, remote stores do not. */
export type MaybePromise<T> = T | Promise<T>;

/** The operations on one limiter's keys. Keys are user keys; the store builds its own keys from them. */
export interface StoreHandle {
  /**
   * Whether operations leave the process. Only remote operations run under the store deadline and
   * the `onStoreError` choice; an in-process store cannot fail that way, and skipping the deadline
   * keeps its decisions free of timers.
   */
  readonly remote: boolean;
  /**
   * Whether operations stop when their signal aborts (DynamoDB requests do; an ioredis command
   * cannot be taken back). Only then does the limiter create a signal per call to abort late
   * operations at the deadline.
   */
  readonly abortable?: boolean | undefined;
  /**
   * Atomically: takes `cost` from every limit of `key` if it fits them all, otherwise `minCost`
   * if that fits them all (`minCost` = `cost` unless reserving), otherwise nothing.
   * @param now The limiter's clock; stores with a clock of their own (Redis) ignore it.
   */
  consume(
    key: string,
    cost: number,
    minCost: number,
    now: number,
    signal: AbortSignal | undefined,
  ): MaybePromise<StoreResult>;
  /**
   * {@link consume} for a handle of exactly one GCRA limit without `blockDurationMs`, with
   * `minCost` = `cost`, answered synchronously by one number: the key's TAT lead (`tat − now`,
   * ≥ 0) after the call when `cost` was taken, or its lead before the call negated (< 0: the TAT
   * of a key that cannot take `cost` leads now by more than the slack) when nothing was. The lead
   * after a call can be 0: a cost far below the TAT's rounding step does not move it. Only
   * in-process stores have it (the memory store): it is the limiter's fast path, which reads the
   * decision from that number without a result object or a state array.
   */
  consumeGcra?(key: string, cost: number, now: number): number;
  /** Like {@link consume}, but changes nothing: would `cost` fit now? */
  peek(
    key: string,
    cost: number,
    now: number,
    signal: AbortSignal | undefined,
  ): MaybePromise<StoreResult>;
  /**
   * Gives back `cost` taken at store time `takenAt` and never used (reserved permits on close).
   */
  refund(
    key: string,
    cost: number,
    takenAt: number,
    now: number,
    signal: AbortSignal | undefined,
  ): MaybePromise<void>;
  /**
   * Atomically: changes the consumption of `key` by `points` (positive: `penalty()`, negative:
   * `reward()`; see `Algorithm.adjust`), whatever it fits. The result's `allowed` says whether a
   * call of cost 1 would fit afterwards; `granted` is 0.
   * @param now The limiter's clock; stores with a clock of their own (Redis) ignore it.
   */
  adjust(
    key: string,
    points: number,
    now: number,
    signal: AbortSignal | undefined,
  ): MaybePromise<StoreResult>;
  /** Forgets `key`: its next decision starts from a full allowance. */
  reset(key: string, signal: AbortSignal | undefined): MaybePromise<void>;
  /**
   * A cheap request proving the store answers again, run by the limiter in the background (under
   * its deadline) while the store is degraded: a `return 1` script on one of the limiter's keys
   * (so a Redis Cluster asks the node of that slot), a GetItem on DynamoDB. An in-process store has
   * none. Without one, one real operation per `storeProbeIntervalMs` is the probe.
   */
  probe?(signal: AbortSignal): PromiseLike<unknown>;
  /**
   * The limiter's replica registry in this store (Redis: a sorted set in the slot of the limiter's
   * policy-wide key; DynamoDB: one item): how the limiter learns the fleet's size. Called at most
   * once, at construction, and only when the limiter needs the count. An in-process store has none.
   */
  replicaBackend?(): ReplicaBackend;
}

/**
 * The limits `setLimits(limits, { fleet: true })` published for one limiter name: a version the
 * store assigns (1, 2, …: each write takes the next one, atomically) and the limits as JSON (an
 * array of `LimitOptions`). Replicas adopt a record whose version is above the one they hold.
 */
export interface PublishedLimits {
  /** Assigned by the store on each write, starting at 1; a higher one is newer. */
  readonly version: number;
  /** The limits, as JSON: an array of `{ limit, intervalMs, burst, algorithm }`. */
  readonly limits: string;
}

/**
 * A state store for rate limiters: `memoryStore()`, `redisStore()`, `dynamoStore()`. One store may
 * serve many limiters; each gets its own {@link StoreHandle} from {@link scope}.
 */
export interface RateLimitStore {
  /** The store kind reported in telemetry and errors: `'memory'`, `'redis'`, `'dynamodb'`. */
  readonly kind: string;
  /**
   * Scopes the store to one limiter: prepares that limiter's operations. Called once per limiter,
   * at construction (the same method name in every Breakwater pattern package), and again, with
   * the same name and layout and new limit values, each time a limiter whose limits follow the
   * fleet (`{ perReplica }`) learns a new fleet size. A remote store's handles of one name and
   * layout must share the keys' state (the layout, never the limit values, names it), so that the
   * state written under the old limits is read under the new ones.
   */
  scope(shape: LimiterShape): StoreHandle;
  /**
   * The limits last published for limiter `name` (see {@link PublishedLimits}); `undefined` when
   * none were. Read by each limiter once per `limitsSyncIntervalMs`, under its store deadline. A
   * store without it (or without {@link writeLimits}) supports no fleet-wide `setLimits()`.
   */
  readLimits?(
    name: string,
    signal: AbortSignal | undefined,
  ): MaybePromise<PublishedLimits | undefined>;
  /**
   * Atomically: stores `limits` (JSON) as the newest published limits of limiter `name`, with the
   * next version (the last one + 1, or 1), and returns that version.
   */
  writeLimits?(name: string, limits: string, signal: AbortSignal | undefined): MaybePromise<number>;
  /**
   * Releases what the store itself holds, and completes whatever the store's server does: up,
   * refusing connections or hung. A client you passed stays yours, open: close it yourself after
   * the store. Idempotent.
   */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
