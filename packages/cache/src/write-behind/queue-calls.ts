/**
 * The write queue as write-behind calls it: the queue scoped to the write-behind's name, and each
 * of its operations a `StoreOp` of core's store call path (pattern `'write-behind'`), built once.
 * So every queue operation — the writer's appends, the flusher's claims, completions, failures and
 * backlog reads, the dead-letter operations, and whatever `flush()` and `close()` wait on — runs
 * under `storeDeadlineMs` (one timer per write-behind, not one per call), fails with a
 * `StoreError` naming the operation, is answered at once while the queue is degraded, and is
 * reported by core's store telemetry.
 *
 * A backlog refusal (`WriteBehindBacklogError`) and a bad `after` of `listDeadLetters` are the
 * queue's answers, not its failures: they come back as values, so they neither count toward
 * degrading the queue nor turn into `StoreError`s.
 */
import {
  type Disposer,
  StoreCalls,
  type StoreOp,
  type StoreSettings,
  type StoreStatus,
  type StoreStatusListener,
  type Telemetry,
} from '@breakwater/core';
import { isWriteBehindBacklogError } from './errors.js';
import type {
  AppendItem,
  AppendOutcome,
  Backlog,
  DeadLetter,
  FailOutcome,
  QueuedWrite,
  WriteBehindQueue,
  WriteQueueScope,
} from './queue.js';

/** The pattern of write-behind's store metrics and status events. */
export const WRITE_BEHIND_PATTERN = 'write-behind';

/** What {@link QueueCalls} needs. */
export interface QueueCallsOptions {
  /** The write-behind's name: the queue's scope and the policy of its store metrics. */
  readonly name: string;
  /** The write-behind's queue, scoped here to `name`. */
  readonly queue: WriteBehindQueue;
  /** The write-behind's resolved store settings. */
  readonly settings: StoreSettings;
  /** The package's telemetry scope. */
  readonly telemetry: Telemetry;
  /** This replica's consumer name in the queue. */
  readonly consumer: string;
  /** `claimIdleMs` of every claim. */
  readonly claimIdleMs: number;
  /** `maxPending` of every append. */
  readonly maxPending: number;
}

/** One write, appended on its own (queues without `appendMany`). */
export interface AppendRequest {
  /** The cache key. */
  readonly key: string;
  /** The encoded value. */
  readonly payload: string;
  /** The cache's record version, or `undefined` for the queue to assign one. */
  readonly version: number | undefined;
}

/** One failed attempt to count. */
export interface FailRequest {
  /** The entry whose attempt failed. */
  readonly entry: QueuedWrite;
  /** The error, as a dead letter keeps it. */
  readonly error: string;
  /** Attempts at which the entry moves to the dead letters. */
  readonly maxAttempts: number;
}

/** One page of dead letters. */
export interface ListRequest {
  /** At most this many. */
  readonly limit: number;
  /** After the dead letter with this id. */
  readonly after: string | undefined;
}

/** A refusal is the queue's answer: it comes back as the outcome, not as a failure. */
function refusalAsAnswer(error: unknown): AppendOutcome {
  if (isWriteBehindBacklogError(error)) return error;
  throw error;
}

/** A dead-letter id the queue cannot have given is the caller's mistake, not a queue failure. */
function badIdAsAnswer(error: unknown): RangeError {
  if (error instanceof RangeError) return error;
  throw error;
}

/** The operations of one write-behind's queue, on core's store call path. */
export class QueueCalls {
  /** The one store call path of this write-behind's queue. */
  readonly calls: StoreCalls;
  /** The queue, scoped to the write-behind's name. */
  readonly scope: WriteQueueScope;
  /** Whether the scope has a probe: then nothing reaches a degraded queue (see core's `StoreHealth`). */
  readonly probed: boolean;
  /** One write (queues without `appendMany`); a refusal is the answer, not a failure. */
  readonly append: StoreOp<AppendOutcome, AppendRequest>;
  /** A batch of writes in one call, when the queue has `appendMany`. */
  readonly appendMany: StoreOp<AppendOutcome[], readonly AppendItem[]> | undefined;
  /** Up to `max` entries for this replica's consumer. */
  readonly claim: StoreOp<QueuedWrite[], number>;
  /** Keeps this replica's claims of the ids alive. */
  readonly touch: StoreOp<void, readonly string[]>;
  /** Removes entries for good. */
  readonly complete: StoreOp<void, readonly string[]>;
  /** Counts a failed attempt; dead-letters at `maxAttempts`. */
  readonly fail: StoreOp<FailOutcome, FailRequest>;
  /** Entries pending in the whole queue. */
  readonly pending: StoreOp<number>;
  /** `pending` and the oldest pending entry's age. */
  readonly backlog: StoreOp<Backlog>;
  /** A page of dead letters, or the queue's `RangeError` for an `after` it cannot have given. */
  readonly listDeadLetters: StoreOp<DeadLetter[] | RangeError, ListRequest>;
  /** Deletes dead letters; answers how many existed. */
  readonly deleteDeadLetters: StoreOp<number, readonly string[]>;
  /** Answers while the queue is degraded, without calling it (see {@link refuseIfDegraded}). */
  private readonly refusal: StoreOp<never, void>;

  constructor(o: QueueCallsOptions) {
    const scope = o.queue.scope(o.name, { storeDeadlineMs: o.settings.deadlineMs });
    this.scope = scope;
    this.probed = typeof scope.probe === 'function';
    this.calls = new StoreCalls({
      pattern: WRITE_BEHIND_PATTERN,
      policy: o.name,
      store: o.queue.kind,
      settings: o.settings,
      telemetry: o.telemetry,
      probe: this.probed ? (signal) => scope.probe!(signal) : undefined,
    });
    const calls = this.calls;
    const options = { abortable: scope.abortable === true };
    const { consumer, claimIdleMs, maxPending } = o;
    this.append = calls.operation<AppendOutcome, AppendRequest>(
      'append',
      (request, signal) => {
        let answer: Promise<number>;
        try {
          answer = scope.append(
            request.key,
            request.payload,
            { version: request.version, maxPending },
            signal,
          );
        } catch (error) {
          return refusalAsAnswer(error);
        }
        return answer.then(undefined, refusalAsAnswer);
      },
      options,
    );
    this.appendMany =
      typeof scope.appendMany === 'function'
        ? calls.operation<AppendOutcome[], readonly AppendItem[]>(
            'append',
            (items, signal) => scope.appendMany!(items, maxPending, signal),
            options,
          )
        : undefined;
    this.claim = calls.operation<QueuedWrite[], number>(
      'claim',
      (max, signal) => scope.claim(consumer, max, claimIdleMs, signal),
      options,
    );
    this.touch = calls.operation<void, readonly string[]>(
      'touch',
      (ids, signal) => scope.touch(consumer, ids, signal),
      options,
    );
    this.complete = calls.operation<void, readonly string[]>(
      'complete',
      (ids, signal) => scope.complete(ids, signal),
      options,
    );
    this.fail = calls.operation<FailOutcome, FailRequest>(
      'fail',
      (request, signal) => scope.fail(request.entry, request.error, request.maxAttempts, signal),
      options,
    );
    this.pending = calls.operation<number>(
      'pending',
      (_, signal) => scope.pending(signal),
      options,
    );
    this.backlog = calls.operation<Backlog>(
      'backlog',
      (_, signal) => scope.backlog(signal),
      options,
    );
    this.listDeadLetters = calls.operation<DeadLetter[] | RangeError, ListRequest>(
      'list_dead_letters',
      (request, signal) => {
        let answer: Promise<DeadLetter[]>;
        try {
          answer = scope.listDeadLetters(request.limit, request.after, signal);
        } catch (error) {
          return badIdAsAnswer(error);
        }
        return answer.then(undefined, badIdAsAnswer);
      },
      options,
    );
    this.deleteDeadLetters = calls.operation<number, readonly string[]>(
      'delete_dead_letters',
      (ids, signal) => scope.deleteDeadLetters(ids, signal),
      options,
    );
    // Only ever run while the queue is degraded and probed, when core answers without calling it.
    this.refusal = calls.operation<never, void>('append', () => {
      throw calls.lastError ?? new Error('the queue is degraded');
    });
  }

  /** `'healthy'`, or `'degraded'` while queue operations are answered without calling the queue. */
  get status(): StoreStatus {
    return this.calls.status;
  }

  /** Subscribes to the queue's status changes (core's one shape); returns the disposer. */
  onStatusChange(listener: StoreStatusListener): Disposer {
    return this.calls.onStatusChange(listener);
  }

  /**
   * While the queue is degraded (and probed in the background), the rejection an append gets —
   * a `StoreError` saying it was not attempted, counted as such — so that a write can be refused
   * before it touches the cache. Otherwise `undefined`.
   */
  refuseIfDegraded(): Promise<never> | undefined {
    if (!this.probed || this.calls.status !== 'degraded') return undefined;
    return Promise.resolve(this.refusal.run(undefined));
  }

  /** Stops the background probe and waits (one deadline at most) for the calls in flight. */
  close(): Promise<void> {
    return this.calls.close();
  }
}
