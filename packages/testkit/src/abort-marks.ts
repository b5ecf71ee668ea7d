/**
 * Layers for testing core's abort marks (racing a pipeline's abort once, issue #18): a policy
 * whose `fn` returns the marked promise of the policy inside it passes that promise on instead of
 * racing it against its lazy parent's abort. A property test runs a pipeline twice, through
 * {@link abortMarkLayers} with `general: false` (the fast path: marks reach the policy around) and
 * `general: true` (a layer that hands on a promise of its own after every policy, so every policy
 * races, as before marks), and compares the logs: how each policy's call and the pipeline's ended,
 * and when. Structural types only, so the testkit needs no dependency on `@breakwater/core`.
 */

/** How a call ended, and when (`now()` after the run started). */
export type MarkedOutcome =
  | { readonly kind: 'value'; readonly value: unknown; readonly at: number }
  | {
      readonly kind: 'error';
      readonly name: string;
      readonly message: string;
      readonly at: number;
    };

interface Context {
  readonly signal: AbortSignal;
}

interface Options {
  readonly signal?: AbortSignal | undefined;
}

/** The shape of a Breakwater policy, as these layers use it. */
export interface MarkablePolicy {
  execute<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: Options): Promise<unknown>;
}

/** What {@link abortMarkLayers} needs besides the policies. */
export interface AbortMarkLayersOptions {
  /** Whether to put a layer that hides marks after every policy (the general path). */
  readonly general: boolean;
  /** Where outcomes go, in the order they settle. */
  readonly log: MarkedOutcome[];
  /** The clock outcomes are timed with (fake timers' `performance.now`). */
  readonly now: () => number;
  /** `neverAbortedSignal()` of the core under test, for a layer given no options. */
  readonly neverAborted: AbortSignal;
}

function record(
  log: MarkedOutcome[],
  at: number,
  settled: { value: unknown } | { error: unknown },
) {
  if ('value' in settled) {
    log.push({ kind: 'value', value: settled.value, at });
    return;
  }
  const error = settled.error as Error;
  log.push({ kind: 'error', name: error.name, message: error.message, at });
}

/**
 * Lays out `policies` for a pipeline: an observer before every policy after the first and before
 * `fn` (it hands on the very promise `fn` returned, so a mark on it still counts, and logs how and
 * when it settled), and with `general`, a layer after every policy that passes its options on as
 * `fn`'s context and answers with a promise of its own, so the policy around it finds no mark.
 */
export function abortMarkLayers(
  policies: readonly MarkablePolicy[],
  options: AbortMarkLayersOptions,
): MarkablePolicy[] {
  const { general, log, now, neverAborted } = options;
  const start = now();
  const contextOf = (given: Options | undefined) => (given ?? { signal: neverAborted }) as Context;
  const observer: MarkablePolicy = {
    execute(fn, given) {
      const pending = fn(contextOf(given)) as Promise<never>;
      // Logged through a promise of its own; `pending` itself is handed on, mark and all.
      Promise.resolve(pending).then(
        (value) => record(log, now() - start, { value }),
        (error: unknown) => record(log, now() - start, { error }),
      );
      return pending;
    },
  };
  const unmarked: MarkablePolicy = {
    execute(fn, given) {
      try {
        // A promise of its own (`Promise.resolve` would hand a native promise on as it is).
        return Promise.resolve(fn(contextOf(given))).then((value) => value);
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
  const layers = policies.flatMap((policy, index) => {
    const observed = index === 0 ? [] : [observer];
    return general && index > 0 ? [unmarked, ...observed, policy] : [...observed, policy];
  });
  if (general) layers.push(unmarked);
  layers.push(observer);
  return layers;
}

/** Logs how a pipeline's call ended (the last entry of the log, once settled). */
export function logOutcome(
  call: Promise<unknown>,
  options: Pick<AbortMarkLayersOptions, 'log' | 'now'>,
): void {
  const start = options.now();
  call.then(
    (value) => record(options.log, options.now() - start, { value }),
    (error: unknown) => record(options.log, options.now() - start, { error }),
  );
}

/**
 * A call for these property tests: it fails with `error` (or answers `'value'`) after
 * `durationMs`; with `honoursAfterMs` set it honours `ctx.signal`, rejecting with its reason that
 * long after the abort (a `fn` that winds down before giving up), and without it, it never reads
 * the signal (so a lazy context creates none).
 */
export function slowCall(
  ctx: Context,
  options: {
    readonly durationMs: number;
    readonly error?: Error | undefined;
    readonly honoursAfterMs?: number | undefined;
  },
): Promise<string> {
  const { durationMs, error, honoursAfterMs } = options;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => (error === undefined ? resolve('value') : reject(error)),
      durationMs,
    );
    if (honoursAfterMs === undefined) return;
    const signal = ctx.signal;
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      setTimeout(() => reject(signal.reason), honoursAfterMs);
    });
  });
}

/**
 * Has `controller` abort with a `caller aborted` error after `abortAtMs` (never when
 * `undefined`), and returns it: the caller of a property test's pipeline.
 */
export function abortingAt<C extends { abort(reason: unknown): void }>(
  controller: C,
  abortAtMs: number | undefined,
): C {
  const reason = new Error('caller aborted');
  if (abortAtMs !== undefined) setTimeout(() => controller.abort(reason), abortAtMs);
  return controller;
}

/**
 * The caller of a property test's pipeline, aborting after `abortAtMs` (never when `undefined`):
 * with `lazy`, a lazy context of the core under test (as an outer pipeline hands on), else a
 * plain signal.
 */
export function abortingCaller<L extends { abort(reason: unknown): void }>(
  abortAtMs: number | undefined,
  lazy: { readonly controller: () => L; readonly context: (controller: L) => Options } | false,
): Options {
  if (lazy) return lazy.context(abortingAt(lazy.controller(), abortAtMs));
  return { signal: abortingAt(new AbortController(), abortAtMs).signal };
}

/** What {@link markedRun} runs. */
export interface MarkedRunOptions extends Pick<AbortMarkLayersOptions, 'general' | 'neverAborted'> {
  /** The policies, outermost first. */
  readonly policies: readonly MarkablePolicy[];
  /** `pipeline()` of the core under test. */
  readonly compose: (layers: readonly MarkablePolicy[]) => MarkablePolicy;
  /** The call. */
  readonly fn: (ctx: Context) => unknown;
  /** The caller's options (see {@link abortingCaller}). */
  readonly caller: Options;
  /** Advances the fake timers (vitest's `vi.advanceTimersByTimeAsync`). */
  readonly advance: (ms: number) => Promise<unknown>;
  /** How long to advance them: until every outcome has long settled. */
  readonly settleMs: number;
}

/**
 * One call of `policies` through {@link abortMarkLayers}, on fake timers timed by
 * `performance.now`: the log of how each policy's call and the pipeline's ended, and when.
 */
export async function markedRun(options: MarkedRunOptions): Promise<MarkedOutcome[]> {
  const log: MarkedOutcome[] = [];
  const now = () => performance.now();
  const layers = abortMarkLayers(options.policies, {
    general: options.general,
    log,
    now,
    neverAborted: options.neverAborted,
  });
  logOutcome(options.compose(layers).execute(options.fn, options.caller), { log, now });
  await options.advance(options.settleMs);
  return log;
}
