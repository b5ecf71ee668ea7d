/**
 * Every error Breakwater throws extends {@link BreakwaterError}; every rejection of a call by a
 * policy extends {@link ExecutionRejectedError}. Guards (`isTimeoutError(e)`, …) test a brand
 * stored under a global symbol rather than `instanceof`, so they keep working when an application
 * ends up with two copies of `@breakwater/core` (two versions in one dependency tree, or ESM and
 * CJS builds loaded side by side).
 */

const KINDS = Symbol.for('@breakwater/core/error-kinds');

type Branded = { [KINDS]?: readonly string[] };

function addKind(error: Error, kind: string): void {
  const branded = error as Error & Branded;
  const kinds = branded[KINDS];
  Object.defineProperty(branded, KINDS, {
    value: kinds ? [...kinds, kind] : [kind],
    enumerable: false,
    configurable: true,
  });
}

/**
 * Whether `value` is a Breakwater error of the given kind (the class name of the error or of one
 * of its Breakwater base classes). Works across duplicated package copies.
 */
export function hasErrorKind(value: unknown, kind: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const kinds = (value as Branded)[KINDS];
  return Array.isArray(kinds) && kinds.includes(kind);
}

/** Options shared by the constructors of Breakwater errors. */
export interface BreakwaterErrorOptions {
  /** The underlying error, exposed as the standard `cause` property. */
  cause?: unknown;
}

/** The root of every error thrown by a Breakwater package. */
export class BreakwaterError extends Error {
  constructor(message: string, options?: BreakwaterErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BreakwaterError';
    addKind(this, 'BreakwaterError');
  }

  /**
   * Used by subclasses (also those of other Breakwater packages) to register their kind, which is
   * what the `is…Error` guards test.
   */
  protected brand(kind: string): void {
    this.name = kind;
    addKind(this, kind);
  }
}

/** Options of {@link ExecutionRejectedError}. */
export interface ExecutionRejectedErrorOptions extends BreakwaterErrorOptions {
  /** Name of the policy that rejected the call. */
  policyName: string;
  /** When the caller may usefully try again, in milliseconds from now, if the policy knows it. */
  retryAfterMs?: number | undefined;
}

/**
 * A policy refused to run the call, or stopped it: a timeout, an open circuit, a full bulkhead, a
 * rate limit. Carries the policy's name and, when known, how long until a retry may succeed.
 */
export class ExecutionRejectedError extends BreakwaterError {
  /** Name of the policy that rejected the call. */
  readonly policyName: string;
  /** Milliseconds until a retry may succeed, when the policy can tell. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: ExecutionRejectedErrorOptions) {
    super(message, options);
    this.brand('ExecutionRejectedError');
    this.policyName = options.policyName;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Options of {@link TimeoutError}. */
export interface TimeoutErrorOptions extends ExecutionRejectedErrorOptions {
  /** The time limit that was exceeded, in milliseconds. */
  timeoutMs: number;
}

/** The call did not finish within its time limit. */
export class TimeoutError extends ExecutionRejectedError {
  /** The time limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  constructor(message: string, options: TimeoutErrorOptions) {
    super(message, options);
    this.brand('TimeoutError');
    this.timeoutMs = options.timeoutMs;
  }
}

/** Options of {@link StoreError}. */
export interface StoreErrorOptions extends BreakwaterErrorOptions {
  /** Which store failed: `'redis'`, `'dynamodb'`, … */
  store: string;
  /** The store operation that failed, for diagnostics (never a user key). */
  operation: string;
}

/**
 * A state store (Redis, DynamoDB) failed or did not answer in time. Policies never count it as a
 * failure of the protected call; what they do instead is chosen by their `onStoreError` option.
 */
export class StoreError extends BreakwaterError {
  /** Which store failed. */
  readonly store: string;
  /** The store operation that failed. */
  readonly operation: string;

  constructor(message: string, options: StoreErrorOptions) {
    super(message, options);
    this.brand('StoreError');
    this.store = options.store;
    this.operation = options.operation;
  }
}

/** A store call exceeded its deadline. */
export class StoreTimeoutError extends StoreError {
  /** The deadline that passed, in milliseconds. */
  readonly deadlineMs: number;

  constructor(message: string, options: StoreErrorOptions & { deadlineMs: number }) {
    super(message, options);
    this.brand('StoreTimeoutError');
    this.deadlineMs = options.deadlineMs;
  }
}

/** Is `value` any error thrown by a Breakwater package? */
export const isBreakwaterError = (value: unknown): value is BreakwaterError =>
  hasErrorKind(value, 'BreakwaterError');

/** Is `value` a rejection by a Breakwater policy (timeout, open circuit, full bulkhead, …)? */
export const isExecutionRejectedError = (value: unknown): value is ExecutionRejectedError =>
  hasErrorKind(value, 'ExecutionRejectedError');

/** Is `value` a {@link TimeoutError}? */
export const isTimeoutError = (value: unknown): value is TimeoutError =>
  hasErrorKind(value, 'TimeoutError');

/** Is `value` a {@link StoreError} (including {@link StoreTimeoutError})? */
export const isStoreError = (value: unknown): value is StoreError =>
  hasErrorKind(value, 'StoreError');

/** Is `value` a {@link StoreTimeoutError}? */
export const isStoreTimeoutError = (value: unknown): value is StoreTimeoutError =>
  hasErrorKind(value, 'StoreTimeoutError');
