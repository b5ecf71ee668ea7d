/**
 * Signals that cost nothing until someone reads them.
 *
 * On Node.js 20, reading `AbortController#signal` for the first time costs about 5 µs (the signal
 * is made transferable through the C++ layer); on Node 22+ it is ~0.1 µs. Most calls never look at
 * `ctx.signal`, so policies hand `fn` a context whose signal is created on first read, and policies
 * that wrap each other share abort state through {@link LazyAbortController} callbacks instead of
 * signal listeners.
 */
import type { ExecuteOptions, ExecutionContext } from './policy.js';

const LAZY_SOURCE = Symbol.for('@breakwater/core/lazy-abort');

/**
 * An abort controller whose `AbortSignal` is only created when `signal` is first read. Until then,
 * aborting it only records the reason and runs its callbacks.
 */
export class LazyAbortController {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;
  // Three callbacks in fields, more in an array: a call in flight usually has one to three inner
  // calls following it, and policies inside a pipeline subscribe on every call (three per call in
  // the `pipeline/five-strategies` bench suite, Node 20.20), so a subscription allocates no array
  // and, through add/removeAbortListener, no disposer closure. Inner calls settle first, so their
  // callbacks leave last in, first out: removing the newest of the array pops it. Measured on Node
  // 20.20 (2-core VM, CPU profile of the five-strategy pipeline with its two timeouts following
  // one controller): `removeAbortListener`'s `indexOf` and `splice` took 5 % of the time.
  #first: ((reason: unknown) => void) | undefined;
  #second: ((reason: unknown) => void) | undefined;
  #third: ((reason: unknown) => void) | undefined;
  #rest: ((reason: unknown) => void)[] | undefined;

  /** The signal; created (already aborted, if the controller was) on first read. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Whether `abort()` was called. Reading it creates no signal. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** The reason given to `abort()`. */
  get reason(): unknown {
    return this.#reason;
  }

  /** Aborts with `reason` (a DOMException `AbortError` by default); later calls do nothing. */
  abort(reason?: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason =
      reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.#controller?.abort(this.#reason);
    const first = this.#first;
    const second = this.#second;
    const third = this.#third;
    const rest = this.#rest;
    this.#first = undefined;
    this.#second = undefined;
    this.#third = undefined;
    this.#rest = undefined;
    if (first !== undefined) first(this.#reason);
    if (second !== undefined) second(this.#reason);
    if (third !== undefined) third(this.#reason);
    if (rest !== undefined) for (const callback of rest) callback(this.#reason);
  }

  /**
   * Runs `callback` once when the controller aborts (at once if it already has), without creating
   * a signal. Returns a function that unsubscribes.
   */
  onAbort(callback: (reason: unknown) => void): () => void {
    this.addAbortListener(callback);
    return () => this.removeAbortListener(callback);
  }

  /**
   * {@link onAbort} without the disposer, for hot paths: remove the callback with
   * {@link removeAbortListener}. A callback added twice runs twice.
   */
  addAbortListener(callback: (reason: unknown) => void): void {
    if (this.#aborted) {
      callback(this.#reason);
      return;
    }
    if (this.#first === undefined) {
      this.#first = callback;
      return;
    }
    if (this.#second === undefined) {
      this.#second = callback;
      return;
    }
    if (this.#third === undefined) {
      this.#third = callback;
      return;
    }
    this.#rest ??= [];
    this.#rest.push(callback);
  }

  /** Removes one registration of `callback` (added with {@link addAbortListener}); else does nothing. */
  removeAbortListener(callback: (reason: unknown) => void): void {
    const rest = this.#rest;
    if (rest !== undefined && rest.length > 0) {
      const last = rest.length - 1;
      if (rest[last] === callback) {
        rest.pop();
        return;
      }
      const index = rest.lastIndexOf(callback);
      if (index >= 0) {
        rest.splice(index, 1);
        return;
      }
    }
    if (this.#third === callback) this.#third = undefined;
    else if (this.#second === callback) this.#second = undefined;
    else if (this.#first === callback) this.#first = undefined;
  }
}

/**
 * An execution context whose `signal` is created on first read. It also carries its controller,
 * so a policy given this context as its `ExecuteOptions` can follow aborts without creating the
 * signal (see {@link lazyAbortSourceOf}). A pattern whose context has fields of its own extends
 * it (retry's `{ signal, attempt }`), so the fields sit on each instance and `signal` stays lazy.
 *
 * `signal` is a getter on the prototype, not on each context: on Node 20.20 an object literal with
 * its own getter and a symbol key cost about 1 µs to create against about 30 ns for this class (a
 * loop creating each 5 million times; it was most of `timeout()`'s cost per call). It has no
 * enumerable property of its own, so spreading it copies no `signal`: `pipeline()` merges contexts
 * with `lazyContextLike()` (internal), which keeps the getter.
 *
 * @example
 * class AttemptContext extends LazyExecutionContext {
 *   constructor(controller: LazyAbortController, readonly attempt: number) {
 *     super(controller);
 *   }
 * }
 */
export class LazyExecutionContext implements ExecutionContext {
  readonly #controller: LazyAbortController;

  /** @param controller The controller whose signal this context hands out. */
  constructor(controller: LazyAbortController) {
    this.#controller = controller;
  }

  /** The controller's signal, created on first read. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The controller, for {@link lazyAbortSourceOf}. */
  get [LAZY_SOURCE](): LazyAbortController {
    return this.#controller;
  }
}

/**
 * An execution context whose `signal` is created on first read. It also carries its controller,
 * so a policy given this context as its `ExecuteOptions` can follow aborts without creating the
 * signal (see {@link lazyAbortSourceOf}).
 */
export function lazyContext(controller: LazyAbortController): ExecutionContext {
  return new LazyExecutionContext(controller);
}

/**
 * An empty context to copy fields onto, whose `signal` is that of `inner` when `inner` is lazy
 * (a context made by {@link lazyContext}); `undefined` when `inner` is eager (its signal is a
 * value to copy like the other fields). `pipeline()` merges contexts with it: spreading a lazy
 * context would read its `signal` getter, creating the signal this module exists to avoid.
 *
 * A class instance with the fields copied on, rather than a literal with a getter
 * (`{ ...a, get signal() {…} }`) or `Object.defineProperty` on a copy: on Node 20.20 those took
 * V8's slow path (dictionary-mode objects): the top of a CPU profile of `pipeline(bulkhead,
 * timeout)`, which went from about 1.8 µs to 0.45 µs per call with this class (one profiling run
 * each); a class instance keeps one hidden class per set of fields.
 */
export function lazyContextLike(inner: object): Record<string, unknown> | undefined {
  const controller = lazyAbortSourceOf(inner as ExecuteOptions);
  return controller === undefined ? undefined : (new LazyExecutionContext(controller) as never);
}

/**
 * The lazy controller behind `options`, when `options` is a context made by {@link lazyContext}
 * (as `pipeline()` passes them between policies); otherwise `undefined`.
 */
export function lazyAbortSourceOf(
  options: ExecuteOptions | undefined,
): LazyAbortController | undefined {
  return (options as { [LAZY_SOURCE]?: LazyAbortController } | undefined)?.[LAZY_SOURCE];
}
