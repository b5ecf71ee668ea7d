/**
 * What happens when the bulkhead refuses a call, besides the rejection itself: the `rejected`
 * counter, the span event and the `onRejected` listeners.
 */
import { type Disposer, Listeners } from '@breakwater/core';
import type { BulkheadRejection } from '../bulkhead.js';
import { BulkheadRejectedError, type BulkheadRejectionReason } from '../errors.js';
import { type BulkheadInstruments, EVENT_REJECTED } from '../telemetry.js';

/** Reports one bulkhead's refusals. */
export class Rejections {
  private readonly listeners = new Listeners<BulkheadRejection>('bulkhead onRejected');

  /** @param classIndex the index of a class, by name. */
  constructor(
    private readonly instruments: BulkheadInstruments,
    private readonly classIndex: (name: string) => number,
  ) {}

  /**
   * Subscribes to refusals; returns the disposer.
   * @throws {TypeError} naming `listener` when it is not a function.
   */
  add(listener: (rejection: BulkheadRejection) => void): Disposer {
    return this.listeners.add(listener);
  }

  /** Counts the refusal, adds the span event and tells the listeners. */
  report(error: BulkheadRejectedError, key: string | undefined): void {
    const attributes = this.instruments.rejectionAttributes(
      this.classIndex(error.priority),
      error.reason,
    );
    this.instruments.rejected.add(1, attributes);
    this.instruments.telemetry.addSpanEvent(EVENT_REJECTED, attributes);
    if (this.listeners.active) {
      this.listeners.emit({ reason: error.reason, priority: error.priority, key, error });
    }
  }
}

/** The error for a `priority` that names none of the bulkhead's classes. */
export function unknownPriorityError(
  classes: readonly { readonly spec: { readonly name: string } }[],
  priority: unknown,
): RangeError {
  const names = classes.map((c) => `'${c.spec.name}'`).join(' | ');
  return new RangeError(
    `Expected \`priority\` to be one of ${names}, got ${JSON.stringify(priority) ?? String(priority)}`,
  );
}

/**
 * The error of a refused call: `Bulkhead "<name>" rejected a <class> call: <what>`, with the
 * reason, the class and the caller's hint (`retryAfterMs`), and the store error behind a refusal
 * for an unavailable store.
 */
export function rejectedError(
  policyName: string,
  priority: string,
  reason: BulkheadRejectionReason,
  what: string,
  retryAfterMs: number | undefined,
  cause?: unknown,
): BulkheadRejectedError {
  return new BulkheadRejectedError(
    `Bulkhead "${policyName}" rejected a ${priority} call: ${what}`,
    { policyName, reason, priority, retryAfterMs, cause },
  );
}

/** The reasons a local bulkhead refuses a call for. */
export type LocalRefusal = 'queue-full' | 'queue-timeout';

/** Why a local bulkhead refused a call of a class whose longest wait is `maxWaitMs`, in words. */
export function localRefusal(spec: { readonly maxWaitMs: number }, reason: LocalRefusal): string {
  return reason === 'queue-full'
    ? 'its queue is full'
    : `no slot freed within ${spec.maxWaitMs} ms`;
}
