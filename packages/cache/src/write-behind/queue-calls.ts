/**
 * The write queue as write-behind calls it: every operation under `queueDeadlineMs`, its failures
 * counted, and a backlog refusal handed over as the queue's answer rather than as a failure.
 */
import { withDeadline } from '@breakwater/core';
import { isWriteBehindBacklogError } from './errors.js';
import type { WriteQueueNamespace } from './queue.js';
import type { WriteBehindTelemetry } from './telemetry.js';

/** Calls into one namespace of the queue. */
export class QueueCalls {
  constructor(
    /** The namespace of the write-behind's name. */
    readonly ns: WriteQueueNamespace,
    private readonly deadlineMs: number,
    /** The queue kind, for errors. */
    private readonly store: string,
    private readonly telemetry: WriteBehindTelemetry,
  ) {}

  /** Runs one queue operation under the deadline. */
  run<R>(operation: string, call: () => Promise<R>, signal?: AbortSignal | undefined): Promise<R> {
    return withDeadline(() => call(), {
      deadlineMs: this.deadlineMs,
      store: this.store,
      operation,
      signal,
    }).catch((error: unknown) => {
      // A refusal is the queue's answer, not its failure: hand it over as it is.
      const cause = (error as { cause?: unknown } | undefined)?.cause;
      if (isWriteBehindBacklogError(cause)) throw cause;
      this.telemetry.queueError(operation);
      throw error;
    });
  }

  /** Entries accepted and not yet persisted or dead-lettered, in the whole queue. */
  pending(): Promise<number> {
    return this.run('pending', () => this.ns.pending());
  }
}
