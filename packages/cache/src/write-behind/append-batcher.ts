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
 * A batch is one run of the `appendMany` operation on core's store call path: its deadline
 * (`storeDeadlineMs`, from the write-behind's one deadline queue), its answer while the queue is
 * degraded (at once) and its telemetry are core's, and the batcher keeps no timer of its own. A
 * batch that missed its deadline no longer holds the line: the next one goes out then. So a write
 * waits for its own batch's call, and for the one ahead of it when it joined while that one was on
 * its way: at most twice the deadline.
 */
import { type StoreOp, toStoreError } from '@breakwater/core';
import type { AppendItem, AppendOutcome } from './queue.js';

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

/** Sends appends in batches, one batch in flight at a time. */
export class AppendBatcher {
  /** Batches not sent yet, oldest first; the last one takes new writes until it is full. */
  private readonly line: PendingAppend[][] = [];
  /** The batch on its way, if any. */
  private current: PendingAppend[] | undefined;
  private sendScheduled = false;
  private readonly sendNext = () => this.send();

  /**
   * @param appendMany The queue's `appendMany`, as an operation of the store call path.
   * @param store The queue kind, for errors.
   */
  constructor(
    private readonly appendMany: StoreOp<AppendOutcome[], readonly AppendItem[]>,
    private readonly store: string,
  ) {}

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
      this.openBatch().push(item);
      if (this.current === undefined && !this.sendScheduled) {
        this.sendScheduled = true;
        queueMicrotask(this.sendNext);
      }
    });
  }

  /** The batch taking new writes, opened if there is none. */
  private openBatch(): PendingAppend[] {
    const last = this.line[this.line.length - 1];
    if (last !== undefined && last.length < MAX_APPEND_BATCH) return last;
    const batch: PendingAppend[] = [];
    this.line.push(batch);
    return batch;
  }

  private send(): void {
    this.sendScheduled = false;
    if (this.current !== undefined) return;
    for (;;) {
      const batch = this.line.shift();
      if (batch === undefined) return;
      const items = batch.filter((item) => !item.settled);
      if (items.length === 0) continue;
      this.current = items;
      // Never throws: a failure, a missed deadline or a degraded queue is a rejection.
      const answer = this.appendMany.run(items);
      if (Array.isArray(answer)) {
        this.answered(items, answer);
        return;
      }
      (answer as Promise<AppendOutcome[]>).then(
        (outcomes) =>
          Array.isArray(outcomes)
            ? this.answered(items, outcomes)
            : this.failed(items, new TypeError('appendMany did not answer with an array')),
        (error: unknown) => this.failed(items, error),
      );
      return;
    }
  }

  private answered(items: readonly PendingAppend[], outcomes: readonly AppendOutcome[]): void {
    for (let i = 0; i < items.length; i++) {
      const outcome = outcomes[i];
      if (typeof outcome === 'number') this.settle(items[i]!, outcome, undefined);
      else {
        // A refusal is the queue's answer for this item alone; a missing answer is a queue bug.
        const error =
          outcome ??
          toStoreError(
            new Error(`appendMany answered ${outcomes.length} of ${items.length} items`),
            this.store,
            OPERATION,
          );
        this.settle(items[i]!, undefined, error);
      }
    }
    this.next(items);
  }

  private failed(items: readonly PendingAppend[], error: unknown): void {
    // Already a StoreError (core normalised it) unless the answer was malformed.
    const storeError = toStoreError(error, this.store, OPERATION);
    for (const item of items) this.settle(item, undefined, storeError);
    this.next(items);
  }

  /** `items` no longer hold the line: send the next batch. */
  private next(items: readonly PendingAppend[]): void {
    if (this.current !== items) return;
    this.current = undefined;
    this.send();
  }

  /** Resolves or rejects a write once. */
  private settle(item: PendingAppend, version: number | undefined, error: unknown): void {
    if (item.settled) return;
    item.settled = true;
    if (item.onAbort !== undefined) item.signal!.removeEventListener('abort', item.onAbort);
    if (version !== undefined) item.resolve(version);
    else item.reject(error);
  }
}
