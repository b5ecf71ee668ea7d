/**
 * The write-behind queue interface: the few atomic operations the write-behind engine needs from
 * a durable queue. The engine (batching, coalescing, retries, bisection, dead-lettering policy,
 * telemetry) is written once against it; the memory, Redis and DynamoDB queues only perform these
 * state transitions, and one contract suite checks that they all behave alike.
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
  /** The dead letter's id (for {@link WriteQueueNamespace.deleteDeadLetters}). */
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

/** What {@link WriteQueueNamespace.append} needs besides the key and the payload. */
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

/** One write of {@link WriteQueueNamespace.appendMany}. */
export interface AppendItem {
  /** The cache key the write is for. */
  readonly key: string;
  /** The value, encoded by the write-behind codec. */
  readonly payload: string;
  /** The write's version, or `undefined` for the queue to assign one (see {@link AppendOptions.version}). */
  readonly version: number | undefined;
}

/**
 * The outcome of one item of {@link WriteQueueNamespace.appendMany}: its version once durable, or
 * the refusal (`WriteBehindBacklogError`) when `maxPending` entries were pending at its turn.
 */
export type AppendOutcome = number | WriteBehindBacklogError;

/** What {@link WriteQueueNamespace.backlog} reports. */
export interface Backlog {
  /** Entries appended and neither completed nor dead-lettered. */
  readonly pending: number;
  /** When the oldest of them was appended (epoch ms), or `undefined` when there is none. */
  readonly oldestEnqueuedAt: number | undefined;
}

/** The outcome of {@link WriteQueueNamespace.fail}. */
export type FailOutcome =
  /** The attempt was counted; the entry stays claimed by the caller, who retries it later. */
  | { readonly status: 'retry'; readonly attempts: number }
  /** The entry reached `maxAttempts` and was moved to the dead letters. */
  | { readonly status: 'dead'; readonly attempts: number }
  /** The entry is no longer in the queue (another consumer completed it meanwhile): drop it. */
  | { readonly status: 'gone' };

/** The queue of one write-behind name. All operations are atomic. */
export interface WriteQueueNamespace {
  /**
   * Appends a write durably and returns its version.
   * @throws `WriteBehindBacklogError` when `maxPending` entries are pending.
   */
  append(key: string, payload: string, options: AppendOptions): Promise<number>;
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
  appendMany?(items: readonly AppendItem[], maxPending: number): Promise<AppendOutcome[]>;
  /**
   * Delivers up to `max` entries to `consumer`, oldest first: entries another consumer was given
   * but left idle for at least `claimIdleMs` (it died, or stalled), then entries never delivered.
   * An entry is held by one consumer at a time; delivering it again resets its idle time.
   */
  claim(consumer: string, max: number, claimIdleMs: number): Promise<QueuedWrite[]>;
  /**
   * Resets the idle time of entries `consumer` holds (a long persist or a retry backoff keeps
   * its claim), so no other consumer takes them. Ids it does not hold are ignored.
   */
  touch(consumer: string, ids: readonly string[]): Promise<void>;
  /** Removes entries for good (persisted or superseded). Unknown ids are ignored. */
  complete(ids: readonly string[]): Promise<void>;
  /**
   * Counts a failed attempt of `entry`; at `maxAttempts` moves it to the dead letters with
   * `error`, in the same atomic operation. An entry no longer in the queue (completed by another
   * consumer meanwhile) reports `gone` and is not dead-lettered.
   */
  fail(entry: QueuedWrite, error: string, maxAttempts: number): Promise<FailOutcome>;
  /** Entries appended and neither completed nor dead-lettered. */
  pending(): Promise<number>;
  /** {@link pending} and when the oldest pending entry was appended (for the lag gauge). */
  backlog(): Promise<Backlog>;
  /** Dead letters, oldest first, at most `limit`, after the dead letter with id `after`. */
  listDeadLetters(limit: number, after?: string | undefined): Promise<DeadLetter[]>;
  /** Deletes dead letters; returns how many existed. */
  deleteDeadLetters(ids: readonly string[]): Promise<number>;
}

/** A durable queue for {@link writeBehind}: memory, Redis or DynamoDB. */
export interface WriteBehindQueue {
  /** The queue kind, reported as the `breakwater.store` attribute: `memory`, `redis`, `dynamodb`. */
  readonly kind: string;
  /** The queue of one write-behind name. Called once per write-behind, at construction. */
  namespace(name: string): WriteQueueNamespace;
}
