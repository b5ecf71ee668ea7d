/**
 * Smart batching of appends for queues with `appendMany`: appends made in the same tick go out
 * together, and appends made while a batch is on its way wait for it and go out together next, in
 * one call (one Redis script, one round trip). Under load the batches grow with the load; alone, a
 * write goes out at once (after the current microtask), so nothing waits for a timer.
 *
 * Each write still resolves only once its own item is durable, with its own version or its own
 * backlog refusal; a batch that fails (or misses its deadline) rejects every write in it, and
 * the queue's `appendMany` appended none of them.
 *
 * One deadline timer per batch rather than per write: it starts when the batch opens (its first
 * write), so no write waits longer than `deadlineMs` for the queue, counting the time it waited for
 * the batch ahead of it. A batch whose deadline passed before it was sent is never sent.
 */
import { StoreTimeoutError, toStoreError } from '@breakwater/core';
import type { AppendItem, AppendOutcome, WriteQueueNamespace } from './queue.js';

/** Most writes sent in one `appendMany`: bounds the time one call holds the queue (a script). */
export const MAX_APPEND_BATCH = 256;

const OPERATION = 'append';

interface PendingAppend extends AppendItem {
  readonly resolve: (version: number) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

interface Batch {
  readonly items: PendingAppend[];
  timer: NodeJS.Timeout | undefined;
  /** Timed out or answered: nothing left to do for its writes. */
  done: boolean;
}

type AppendMany = NonNullable<WriteQueueNamespace['appendMany']>;

/** Options of {@link AppendBatcher}. */
export interface AppendBatcherOptions {
  /** The queue's `appendMany`, bound to its namespace. */
  readonly appendMany: AppendMany;
  /** `maxPending` of every batch. */
  readonly maxPending: number;
  /** How long a write may wait for the queue, from the moment its batch opened. */
  readonly deadlineMs: number;
  /** The queue kind, for errors. */
  readonly store: string;
  /** Called once per batch that failed or missed its deadline. */
  readonly onError: () => void;
}

/** Sends appends in batches, one batch in flight at a time. */
export class AppendBatcher {
  /** Batches not sent yet, oldest first; the last one takes new writes until it is full. */
  private readonly line: Batch[] = [];
  /** The batch on its way, if any. */
  private current: Batch | undefined;
  private sendScheduled = false;
  private readonly sendNext = () => this.send();

  constructor(private readonly o: AppendBatcherOptions) {}

  /** Appends one write; resolves with its version once it is durable. */
  append(
    key: string,
    payload: string,
    version: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<number>((resolve, reject) => {
      const item: PendingAppend = {
        key,
        payload,
        version,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        settled: false,
      };
      if (signal !== undefined) {
        // Aborted while waiting for its batch: left out of it. Aborted while the batch is on its
        // way: the caller stops waiting, as with any queue call (the item may still land).
        item.onAbort = () => this.settle(item, undefined, signal.reason);
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.openBatch().items.push(item);
      if (this.current === undefined && !this.sendScheduled) {
        this.sendScheduled = true;
        queueMicrotask(this.sendNext);
      }
    });
  }

  /** The batch taking new writes, opened (with its deadline) if there is none. */
  private openBatch(): Batch {
    const last = this.line[this.line.length - 1];
    if (last !== undefined && !last.done && last.items.length < MAX_APPEND_BATCH) return last;
    const batch: Batch = { items: [], timer: undefined, done: false };
    batch.timer = setTimeout(() => this.expire(batch), this.o.deadlineMs);
    this.line.push(batch);
    return batch;
  }

  private expire(batch: Batch): void {
    if (batch.done) return;
    batch.done = true;
    const { store, deadlineMs } = this.o;
    const error = new StoreTimeoutError(
      `${store} ${OPERATION} did not answer within ${deadlineMs} ms`,
      { store, operation: OPERATION, deadlineMs },
    );
    let waiting = false;
    for (const item of batch.items) waiting = this.settle(item, undefined, error) || waiting;
    if (waiting) this.o.onError();
    const unsent = this.line.indexOf(batch);
    if (unsent >= 0) this.line.splice(unsent, 1);
    // A call that does not answer must not hold up the batches behind it: they get their turn
    // (on one connection, still after it).
    if (this.current === batch) this.next(batch);
  }

  private send(): void {
    this.sendScheduled = false;
    if (this.current !== undefined) return;
    for (;;) {
      const batch = this.line.shift();
      if (batch === undefined) return;
      if (batch.done) continue;
      const items = batch.items.filter((item) => !item.settled);
      if (items.length === 0) {
        this.finish(batch);
        continue;
      }
      this.current = batch;
      let call: Promise<AppendOutcome[]>;
      try {
        call = this.o.appendMany(items, this.o.maxPending);
      } catch (error) {
        call = Promise.reject(error);
      }
      call.then(
        (outcomes) =>
          Array.isArray(outcomes)
            ? this.answered(batch, items, outcomes)
            : this.failed(batch, items, new TypeError('appendMany did not answer with an array')),
        (error: unknown) => this.failed(batch, items, error),
      );
      return;
    }
  }

  private answered(
    batch: Batch,
    items: readonly PendingAppend[],
    outcomes: readonly AppendOutcome[],
  ): void {
    for (let i = 0; i < items.length; i++) {
      const outcome = outcomes[i];
      if (typeof outcome === 'number') this.settle(items[i]!, outcome, undefined);
      else {
        // A refusal is the queue's answer for this item alone; a missing answer is a queue bug.
        const error =
          outcome ??
          toStoreError(
            new Error(`appendMany answered ${outcomes.length} of ${items.length} items`),
            this.o.store,
            OPERATION,
          );
        this.settle(items[i]!, undefined, error);
      }
    }
    this.finish(batch);
    this.next(batch);
  }

  private failed(batch: Batch, items: readonly PendingAppend[], error: unknown): void {
    const storeError = toStoreError(error, this.o.store, OPERATION);
    let waiting = false;
    for (const item of items) waiting = this.settle(item, undefined, storeError) || waiting;
    if (waiting && !batch.done) this.o.onError();
    this.finish(batch);
    this.next(batch);
  }

  private finish(batch: Batch): void {
    batch.done = true;
    clearTimeout(batch.timer);
  }

  /** `batch` no longer holds the line: send the next one. */
  private next(batch: Batch): void {
    if (this.current !== batch) return;
    this.current = undefined;
    this.send();
  }

  /** Resolves or rejects a write once; returns whether it was still waiting. */
  private settle(item: PendingAppend, version: number | undefined, error: unknown): boolean {
    if (item.settled) return false;
    item.settled = true;
    if (item.onAbort !== undefined) item.signal!.removeEventListener('abort', item.onAbort);
    if (version !== undefined) item.resolve(version);
    else item.reject(error);
    return true;
  }
}
