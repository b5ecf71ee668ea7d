/**
 * The one dead-letter queue interface: what the retry policy appends to when it gives up, and what
 * operators list, replay and trim. `memoryDeadLetters()`, `redisDeadLetters()` (`./redis`) and
 * `dynamoDeadLetters()` (`./dynamodb`) implement it; a queue of your own (SQS, a database table)
 * implements it too and proves it with `deadLetterQueueContract()` from `@breakwater/retry/testing`.
 *
 * Streams: a queue holds named streams, each ordered oldest first. An entry goes to the stream named
 * by the retry policy that gave up (`failure.policyName`), unless the queue was built with a fixed
 * `stream`. A stream exists once an entry was appended to it, and stays (empty) after its entries
 * are replayed, removed or trimmed; naming a stream that never held an entry is an error
 * ({@link UnknownDeadLetterStreamError}), so a typo does not pass for an empty stream.
 *
 * Entry ids are `<stream>/<id in the stream>`: opaque, stable, unique within a queue.
 */
import type { Disposer, StoreStatus, StoreStatusListener } from '@breakwater/core';
import type { DeadLetterCodec, DeadLetterEntry } from './dead-letter-entry.js';
import type { RetryFailure } from './events.js';

/** Options of {@link DeadLetterQueue.list}. */
export interface ListDeadLettersOptions {
  /** Only this stream. Without it, every stream, in stream-name order, each oldest first. */
  stream?: string | undefined;
  /**
   * The page size: at most this many entries (a positive integer).
   * @default 100
   */
  count?: number | undefined;
  /** The id of the last entry of the previous page: this page starts after it. */
  after?: string | undefined;
}

/** Options of {@link DeadLetterQueue.replayAll}. */
export interface ReplayAllOptions {
  /** Only this stream. Without it, every stream. */
  stream?: string | undefined;
  /**
   * How many replays run at once (a positive integer).
   * @default 1
   */
  concurrency?: number | undefined;
  /**
   * Stop taking new entries at the first failed replay (replays already running finish).
   * @default false
   */
  stopOnError?: boolean | undefined;
  /** Stops taking new entries; the call then rejects with `signal.reason` once running replays settle. */
  signal?: AbortSignal | undefined;
}

/** What {@link DeadLetterQueue.replayAll} did. */
export interface ReplayAllResult {
  /** Entries replayed successfully and removed. */
  readonly replayed: number;
  /** Entries whose replay threw; they stay, with their `replays` count raised. */
  readonly failed: readonly { readonly id: string; readonly error: unknown }[];
  /** Entries another replica was replaying (claimed) or had already replayed; left alone. */
  readonly skipped: number;
}

/** Options of {@link DeadLetterQueue.trim}. */
export interface TrimDeadLettersOptions {
  /** Only this stream. Without it, every stream. */
  stream?: string | undefined;
  /** Keep at most this many entries per stream (the newest), a non-negative integer. */
  maxEntries: number;
}

/**
 * A dead-letter queue. Every operation of a store-backed queue settles within the store deadline
 * (at once while the store is degraded) and, when the store fails, rejects with a `StoreError`
 * naming the operation.
 *
 * Replays are claimed: {@link replay} and {@link replayAll} first take a lease on the entry
 * (`claimMs`), so replicas replaying at once never run one entry twice. A replay that throws
 * releases the lease and leaves the entry with its `replays` count raised and `lastReplayError`
 * set. A replica that dies mid-replay keeps the lease until it expires; the entry is then replayed
 * again (at least once overall), so replays should be idempotent.
 */
export interface DeadLetterQueue {
  /**
   * Appends a failure; resolves with the entry's id. Bound, so `deadLetter: queue.append` works.
   * A value the codec cannot encode rejects with a {@link DeadLetterCodecError} and writes nothing.
   */
  readonly append: (failure: RetryFailure<unknown>) => Promise<string>;
  /**
   * One page of entries, oldest first; pass the last id as `after` for the next page. An entry
   * appended while you page is either on a later page or (when it went to a stream already
   * passed) not at all; none is listed twice.
   */
  list(options?: ListDeadLettersOptions): Promise<DeadLetterEntry[]>;
  /** One entry, or `undefined` when there is none with this id. */
  get(id: string): Promise<DeadLetterEntry | undefined>;
  /** The names of the streams the queue holds, sorted. */
  streams(): Promise<string[]>;
  /** How many entries a stream holds, or all streams without `stream`. */
  size(stream?: string): Promise<number>;
  /**
   * Claims the entry, runs `fn` with it and removes it once `fn` resolves; resolves `true`. When
   * `fn` throws, the entry stays (its `replays` count raised) and the call rejects with what `fn`
   * threw. Resolves `false` when there is no such entry (already replayed or removed) or another
   * replica is replaying it.
   */
  replay(id: string, fn: (entry: DeadLetterEntry) => unknown): Promise<boolean>;
  /**
   * Replays, oldest first per stream, the entries there when the call started (entries added
   * meanwhile wait for the next run), up to `concurrency` at once. A store failure ends the run:
   * it rejects with that `StoreError` once running replays settle.
   */
  replayAll(
    fn: (entry: DeadLetterEntry) => unknown,
    options?: ReplayAllOptions,
  ): Promise<ReplayAllResult>;
  /** Removes an entry without replaying it; resolves whether it existed. */
  remove(id: string): Promise<boolean>;
  /** Drops the oldest entries beyond `maxEntries` per stream; resolves how many it dropped. */
  trim(options: TrimDeadLettersOptions): Promise<number>;
  /** `'degraded'` while the store is failing (always `'healthy'` for the memory queue). */
  readonly storeStatus: StoreStatus;
  /** Subscribes to the store degrading and recovering. Returns a disposer. */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /**
   * Resolves once nothing is in flight, never later than one store deadline, with the store up,
   * refused or hung. A client you passed stays yours.
   */
  close(): Promise<void>;
  /** Same as {@link DeadLetterQueue.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The options every dead-letter queue factory takes. */
export interface DeadLetterQueueOptions {
  /**
   * Put every entry in this one stream instead of the stream named by the policy that gave up.
   * @default the failure's `policyName`
   */
  stream?: string | undefined;
  /**
   * Encodes `input` and `result` for storage and decodes them on read.
   * @default JSON
   */
  codec?: DeadLetterCodec | undefined;
  /**
   * How long a replay holds its claim on an entry, in milliseconds: a replica that dies mid-replay
   * leaves the entry to others after this. Longer than your slowest replay.
   * @default 60000
   */
  claimMs?: number | undefined;
}
