/**
 * What a bulkhead hands `fn`: `signal` and `fencingToken`, the only fields `pipeline()` merges
 * from it (declared under core's `CONTEXT_FIELDS`).
 */
import {
  type ContextFields,
  type LazyAbortController,
  LazyExecutionContext,
  neverAbortedSignal,
} from '@breakwater/core';
import type { BulkheadContext } from '../bulkhead.js';

/** The context of a local call given no signal: shared, since it says nothing of the call. */
export const idleContext: BulkheadContext = Object.freeze({
  signal: neverAbortedSignal(),
  fencingToken: undefined,
});

/** Every context a bulkhead hands `fn` has this field beyond `signal`, if only as `undefined`. */
export const FENCING_TOKEN_FIELD: ContextFields = Object.freeze(['fencingToken']);

/**
 * The context of a local call under a lazy parent (an outer policy's context in a pipeline): its
 * signal is the parent's, created only if `fn` reads it, and the call follows the parent's
 * controller for aborts. Measured on Node 20.20 (2-core VM, CPU time of 50,000 awaited calls,
 * median of five rounds): reading the parent's signal instead made `pipeline(timeout(),
 * bulkhead())` cost 2.4 µs per call against 0.37 µs for the bulkhead alone.
 */
export class LazyBulkheadContext extends LazyExecutionContext implements BulkheadContext {
  readonly fencingToken: undefined;

  constructor(parent: LazyAbortController) {
    super(parent);
    this.fencingToken = undefined;
  }
}
