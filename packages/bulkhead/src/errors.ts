/**
 * The errors of the bulkhead. Guards test the brand that `@breakwater/core` stores under a global
 * symbol, so they keep working when an application ends up with two copies of this package.
 */
import {
  BreakwaterError,
  type BreakwaterErrorOptions,
  ExecutionRejectedError,
  type ExecutionRejectedErrorOptions,
  hasErrorKind,
} from '@breakwater/core';

/**
 * Why a bulkhead refused a call:
 *
 * - `'queue-full'`: no slot was free and the call's queue (its class's, or its key's) was full.
 * - `'queue-timeout'`: the call waited `maxWaitMs` without getting a slot.
 * - `'store-unavailable'`: the permit store failed and `onStoreError` is `'fail-closed'`.
 */
export type BulkheadRejectionReason = 'queue-full' | 'queue-timeout' | 'store-unavailable';

/** Options of {@link BulkheadRejectedError}. */
export interface BulkheadRejectedErrorOptions extends ExecutionRejectedErrorOptions {
  /** Why the call was refused. */
  reason: BulkheadRejectionReason;
  /** The priority class of the refused call. */
  priority: string;
}

/** The bulkhead refused to run the call. `retryAfterMs` is set when the bulkhead can estimate it. */
export class BulkheadRejectedError extends ExecutionRejectedError {
  /** Why the call was refused. */
  readonly reason: BulkheadRejectionReason;
  /** The priority class of the refused call. */
  readonly priority: string;

  constructor(message: string, options: BulkheadRejectedErrorOptions) {
    super(message, options);
    this.brand('BulkheadRejectedError');
    this.reason = options.reason;
    this.priority = options.priority;
  }
}

/** Options of {@link LeaseLostError}. */
export interface LeaseLostErrorOptions extends BreakwaterErrorOptions {
  /** Name of the bulkhead whose permit was lost. */
  policyName: string;
  /** The fencing token of the lost lease. */
  fencingToken: number;
}

/**
 * The fleet permit a running call held expired before it could be renewed (the store was
 * unreachable past the lease's end, or the lease was already gone), so another replica may now
 * hold it. It is the reason `ctx.signal` aborts with: `fn` should stop, because the fleet limit no
 * longer covers it.
 */
export class LeaseLostError extends BreakwaterError {
  /** Name of the bulkhead whose permit was lost. */
  readonly policyName: string;
  /** The fencing token of the lost lease; a downstream that checks tokens refuses it from now on. */
  readonly fencingToken: number;

  constructor(message: string, options: LeaseLostErrorOptions) {
    super(message, options);
    this.brand('LeaseLostError');
    this.policyName = options.policyName;
    this.fencingToken = options.fencingToken;
  }
}

/** Options of {@link PerKeyCapError}. */
export interface PerKeyCapErrorOptions extends BreakwaterErrorOptions {
  /** Name of the bulkhead. */
  policyName: string;
  /** The key whose cap could not be had. */
  key: string;
  /** Where the key's cap comes from: the option holding the function. */
  source: string;
  /** What the function returned; `undefined` when it threw (the error is the `cause`). */
  value: unknown;
}

/**
 * The cap of a call's `key` could not be had: the function given as `perKey.maxConcurrent` threw
 * (its error is the `cause`) or returned something other than an integer >= 1. The call is
 * rejected with it before it takes a slot or waits; nothing is cached, so the key's next call asks
 * the function again. It is a configuration error, not a rejection for load: it does not extend
 * `ExecutionRejectedError`, and it is not reported to `onRejected` or the `rejected` metric.
 */
export class PerKeyCapError extends BreakwaterError {
  /** Name of the bulkhead. */
  readonly policyName: string;
  /** The key whose cap could not be had. */
  readonly key: string;
  /** Where the key's cap comes from (`'perKey.maxConcurrent'`). */
  readonly source: string;
  /** What the function returned; `undefined` when it threw. */
  readonly value: unknown;

  constructor(message: string, options: PerKeyCapErrorOptions) {
    super(message, options);
    this.brand('PerKeyCapError');
    this.policyName = options.policyName;
    this.key = options.key;
    this.source = options.source;
    this.value = options.value;
  }
}

/** Is `value` a {@link PerKeyCapError}? Works across duplicated package copies. */
export const isPerKeyCapError = (value: unknown): value is PerKeyCapError =>
  hasErrorKind(value, 'PerKeyCapError');

/** Is `value` a {@link BulkheadRejectedError}? Works across duplicated package copies. */
export const isBulkheadRejectedError = (value: unknown): value is BulkheadRejectedError =>
  hasErrorKind(value, 'BulkheadRejectedError');

/** Is `value` a {@link LeaseLostError}? Works across duplicated package copies. */
export const isLeaseLostError = (value: unknown): value is LeaseLostError =>
  hasErrorKind(value, 'LeaseLostError');
