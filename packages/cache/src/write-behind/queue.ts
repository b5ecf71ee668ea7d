/**
 * The write-behind queue interface: the few atomic operations the write-behind engine needs from
 * a durable queue. The engine (batching, coalescing, retries, bisection, dead-lettering policy,
 * telemetry) is written once against it; the memory, Redis and DynamoDB queues only perform these
 * state transitions, and one contract suite checks that they all behave alike.
 *
 * The write-behind scopes a queue to its name once (`queue.scope(name)`, the method every Breakwater
 * store has) and calls the scope through core's store call path (`StoreCalls`): each operation
 * under the store deadline, not at all while the queue is degraded. A queue only performs the
 * transitions; it never needs a deadline of its own.
 *
 * An entry's life: `append` (durable from the moment it resolves) → `claim` (delivered to one
 * consumer; re-claimable by another consumer once it sat idle for `claimIdleMs`) → either
 * `complete` (persisted, or superseded by a newer version of its key that was persisted or
 * dead-lettered) or `fail`, which counts the attempt and, at `maxAttempts`, moves the entry to the
 * dead letters in the same atomic operation. Nothing leaves the queue any other way, so every
 * appended entry ends persisted or dead-lettered.
 */
import type { WriteBehindBacklogError } from './errors.js';

/** An entry of the queue, as a consumer receives it. */
export interface QueuedWrite {
  /** The queue's id of the entry (a stream id, an item key…); opaque to the engine. */
  readonly id: string;
  /** The cache key the write is for. */
  readonly key: string;
  /** The value, encoded by the write-behind codec. */
  readonly payload: string;
  /** The write's version: grows with every write of the key. */
  readonly version: number;
  /** Failed persist attempts so far (durable across consumers). */
  readonly attempts: number;
  /** When the entry was appended (epoch ms, the queue's clock), for the lag metric. */
  readonly enqueuedAt: number;
}

/** An entry that failed `maxAttempts` times, kept with its last error. */
export interface DeadLetter {
  /** The dead letter's id (for {@link WriteQueueScope.deleteDeadLetters}). */
  readonly id: string;
  /** The cache key. */
  readonly key: string;
  /** The encoded value. */
  readonly payload: string;
  /** The write's version. */
  readonly version: number;
  /** Failed attempts. */
  readonly attempts: number;
  /** The last error's message (`name: message`). */
  readonly error: string;
  /** When it was dead-lettered (epoch ms). */
  readonly failedAt: number;
}

/** What {@link WriteQueueScope.append} needs besides the key and the payload. */
export interface AppendOptions {
  /**
   * The write's version when the caller already has one (the cache's record version when the
   * write-behind has a cache); otherwise the queue assigns `max(last version of the key + 1,
   * now in µs)`, so versions keep growing even after the queue forgot the key.
   */
  readonly version: number | undefined;
  /**
   * Refuse the append (throw `WriteBehindBacklogError`) when this many entries are pending
   * (appended and neither completed nor dead-lettered). Checked atomically with the append.
   */
  readonly maxPending: number;
}

/** One write of {@link WriteQueueScope.appendMany}. */
export interface AppendItem {
  /** The cache key the write is for. */
  readonly key: string;
  /** The value, encoded by the write-behind codec. */
  readonly payload: string;
  /** The write's version, or `undefined` for the queue to assign one (see {@link AppendOptions.version}). */
  readonly version: number | undefined;
}

/**
 * The outcome of one item of {@link WriteQueueScope.appendMany}: its version once durable, or
 * the refusal (`WriteBehindBacklogError`) when `maxPending` entries were pending at its turn.
 */
export type AppendOutcome = number | WriteBehindBacklogError;

/** What {@link WriteQueueScope.backlog} reports. */
export interface Backlog {
  /** Entries appended and neither completed nor dead-lettered. */
  readonly pending: number;
  /** When the oldest of them was appended (epoch ms), or `undefined` when there is none. */
  readonly oldestEnqueuedAt: number | undefined;
}

/** The outcome of {@link WriteQueueScope.fail}. */
export type FailOutcome =
  /** The attempt was counted; the entry stays claimed by the caller, who retries it later. */
  | { readonly status: 'retry'; readonly attempts: number }
  /** The entry reached `maxAttempts` and was moved to the dead letters. */
  | { readonly status: 'dead'; readonly attempts: number }
  /** The entry is no longer in the queue (another consumer completed it meanwhile): drop it. */
  | { readonly status: 'gone' };

/**
 * The queue scoped to one write-behind name: the operations its writer and flusher run. All of
 * them are atomic.
 *
 * `signal` is `undefined`, or — when {@link abortable} is `true` — a signal of the call's own that
 * aborts when the store deadline passes. A queue that cannot stop a request ignores it: the
 * write-behind stops waiting at the deadline either way.
 */
export interface WriteQueueScope {
  /**
   * Whether the operations stop their request when their signal aborts (a DynamoDB request). The
   * write-behind then gives each call a signal of its own, aborted at the deadline; otherwise it
   * creates none.
   * @default false
   */
  readonly abortable?: boolean | undefined;
  /**
   * A cheap request proving the queue answers again (a `return 1` script on one of the name's
   * keys, so a Cluster asks the node that owns them; a GetItem of one of its items). While the
   * queue is degraded the write-behind runs it in the background, under the deadline, once per
   * `storeProbeIntervalMs`. Without it, one real operation per interval is let through as the
   * probe.
   */
  probe?(signal: AbortSignal): PromiseLike<unknown>;
  /**
   * Appends a write durably and returns its version.
   * @throws `WriteBehindBacklogError` when `maxPending` entries are pending.
   */
  append(
    key: string,
    payload: string,
    options: AppendOptions,
    signal?: AbortSignal | undefined,
  ): Promise<number>;
  /**
   * Optional. Appends several writes in one atomic operation (one round trip), in order, and
   * returns one outcome per item: its version, or a `WriteBehindBacklogError` for an item that
   * found `maxPending` entries pending at its turn (the items before it count; a refused item
   * writes nothing and does not stop the items after it). Items of one key get growing versions in
   * item order. The operation is all or nothing: it never fails halfway with some items
   * appended, so when it rejects, every item counts as not appended (as with `append`, a reply
   * lost after the queue committed can still leave them queued, which at-least-once allows).
   * The engine batches concurrent `write()`s through it when the queue has it, and calls
   * {@link append} once per write otherwise.
   */
  appendMany?(
    items: readonly AppendItem[],
    maxPending: number,
    signal?: AbortSignal | undefined,
  ): Promise<AppendOutcome[]>;
  /**
   * Delivers up to `max` entries to `consumer`, oldest first: entries another consumer was given
   * but left idle for at least `claimIdleMs` (it died, or stalled), then entries never delivered.
   * An entry is held by one consumer at a time; delivering it again resets its idle time.
   */
  claim(
    consumer: string,
    max: number,
    claimIdleMs: number,
    signal?: AbortSignal | undefined,
  ): Promise<QueuedWrite[]>;
  /**
   * Resets the idle time of entries `consumer` holds (a long persist or a retry backoff keeps
   * its claim), so no other consumer takes them. Ids it does not hold are ignored.
   */
  touch(consumer: string, ids: readonly string[], signal?: AbortSignal | undefined): Promise<void>;
  /** Removes entries for good (persisted or superseded). Unknown ids are ignored. */
  complete(ids: readonly string[], signal?: AbortSignal | undefined): Promise<void>;
  /**
   * Counts a failed attempt of `entry`; at `maxAttempts` moves it to the dead letters with
   * `error`, in the same atomic operation. An entry no longer in the queue (completed by another
   * consumer meanwhile) reports `gone` and is not dead-lettered.
   */
  fail(
    entry: QueuedWrite,
    error: string,
    maxAttempts: number,
    signal?: AbortSignal | undefined,
  ): Promise<FailOutcome>;
  /** Entries appended and neither completed nor dead-lettered. */
  pending(signal?: AbortSignal | undefined): Promise<number>;
  /** {@link pending} and when the oldest pending entry was appended (for the lag gauge). */
  backlog(signal?: AbortSignal | undefined): Promise<Backlog>;
  /**
   * Dead letters, oldest first, at most `limit`, after the dead letter with id `after`.
   * @throws {RangeError} for an `after` that cannot be a dead letter's id of this queue.
   */
  listDeadLetters(
    limit: number,
    after?: string | undefined,
    signal?: AbortSignal | undefined,
  ): Promise<DeadLetter[]>;
  /** Deletes dead letters; returns how many existed. */
  deleteDeadLetters(ids: readonly string[], signal?: AbortSignal | undefined): Promise<number>;
}

/** What a write-behind tells its queue when it scopes it (see {@link WriteBehindQueue.scope}). */
export interface WriteQueueContext {
  /**
   * The write-behind's `storeDeadlineMs`: every queue operation is abandoned after this long, so
   * a queue that waits inside an operation (a Redis `WAIT`) must wait less.
   */
  readonly storeDeadlineMs: number;
}

/** A durable queue for {@link writeBehind}: memory, Redis or DynamoDB. */
export interface WriteBehindQueue {
  /** The queue kind, reported as the `breakwater.store` attribute: `memory`, `redis`, `dynamodb`. */
  readonly kind: string;
  /**
   * Scopes the queue to one write-behind name and returns the operations its writer and flusher
   * run. Called once per write-behind, at construction; one queue may be scoped to any number of
   * names.
   * @param context What the write-behind tells the queue about itself (its store deadline); a
   *   queue may ignore it, and a caller may omit it (the queue then assumes core's defaults).
   * @throws {RangeError | TypeError} naming it, for a name the queue cannot key, or for queue
   *   options that cannot work with `context` (a Redis `waitTimeoutMs` past the deadline).
   */
  scope(name: string, context?: WriteQueueContext | undefined): WriteQueueScope;
  /**
   * Releases what the queue owns. The queues of this package own nothing (the client you pass
   * stays yours), so this resolves at once, whatever the store does; scopes keep working.
   */
  close(): Promise<void>;
  /** Same as {@link WriteBehindQueue.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
