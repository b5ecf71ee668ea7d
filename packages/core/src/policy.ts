import { abortableSignal, neverAbortedSignal, raceAbort } from './abort.js';
import { LazyExecutionContext, lazyAbortSourceOf, lazyContextLike } from './lazy-abort.js';
import { expectedFunctionError } from './validate.js';

/**
 * The one shape every Breakwater pattern implements, and `pipeline()`, which composes them.
 */

/** What a policy hands to the function it runs. Patterns may add fields (retry adds `attempt`). */
export interface ExecutionContext {
  /**
   * Aborts when the caller's signal aborts or a policy gives up on the call (a timeout, a lost
   * lease). Pass it on to whatever `fn` awaits.
   *
   * It may outlive the call: under a `timeout()`, calls that time out together may share one
   * signal, so the signal of a call that already returned can abort later (see `timeout()`).
   */
  readonly signal: AbortSignal;
}

/** Per-call options of {@link Policy.execute}. */
export interface ExecuteOptions {
  /** Cancels the call: the policy rejects with `signal.reason` and aborts `ctx.signal`. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * A resilience policy: runs `fn` under its rules.
 *
 * @typeParam C - the context `fn` receives.
 * @typeParam R - extra result types the policy itself may produce (a fallback value); `never` for
 *   policies that only pass `fn`'s result through.
 */
export interface Policy<C extends ExecutionContext = ExecutionContext, R = never> {
  /**
   * Runs `fn` under this policy. Rejects with the policy's own error when it refuses or stops the
   * call, with `signal.reason` when the caller aborts, and otherwise with whatever `fn` threw.
   */
  execute<T>(fn: (ctx: C) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T | R>;
  /**
   * Type-level only, never present at run time: carries `C` and `R` so `pipeline()` can compute
   * the types of what it composes.
   */
  readonly '~types'?: { readonly context: C; readonly extraResult: R };
  /**
   * The fields this policy's context has beyond `signal`, if it declares them (see
   * {@link CONTEXT_FIELDS}): `pipeline()` then merges contexts without enumerating them.
   */
  readonly [CONTEXT_FIELDS]?: ContextFields | undefined;
}

/**
 * The key under which a policy may declare the fields its context has beyond `signal`: a frozen
 * array of their names (`[]` for a context with only `signal`, `['attempt']` for retry's). Given
 * the declarations, `pipeline()` merges contexts by copying the named fields, without enumerating
 * each context on every call; a policy that declares nothing is enumerated (`for…in`), so a
 * policy from outside Breakwater composes without declaring anything.
 *
 * A declaration is a promise: every context the policy hands `fn` has exactly these fields beyond
 * `signal` (a field may be `undefined`). Measured on Node 20.20 (2-core VM, CPU time of 200,000
 * awaited calls, median of nine alternating rounds): enumerating and merging the contexts took
 * about 120 ns of the README pipeline's ~590 ns per call.
 */
export const CONTEXT_FIELDS: unique symbol = Symbol.for('@breakwater/core/context-fields');

/** The fields a policy's context has beyond `signal`, as declared under {@link CONTEXT_FIELDS}. */
export type ContextFields = readonly string[];

/** The declaration of a context with nothing beyond `signal`, for policies to share. */
export const NO_CONTEXT_FIELDS: ContextFields = Object.freeze([]);

/** The context type of a policy. */
export type ContextOf<P> = P extends Policy<infer C, infer _R> ? C : never;
/**
 * The extra result type of a policy: what `execute` may resolve to besides `fn`'s result. Read
 * from the type-only `~types` member, because TypeScript cannot infer it from the generic
 * `execute` signature.
 */
export type ExtraResultOf<P> = P extends { readonly '~types'?: { readonly extraResult: infer R } }
  ? unknown extends R
    ? never
    : R
  : never;

type UnionToIntersection<U> = (U extends unknown ? (arg: U) => void : never) extends (
  arg: infer I,
) => void
  ? I
  : never;

/** The context `fn` receives inside a pipeline: every policy's fields, merged. */
export type PipelineContext<P extends readonly Policy<ExecutionContext, unknown>[]> =
  UnionToIntersection<ContextOf<P[number]>> & ExecutionContext;

/**
 * The per-call options a policy's `execute` accepts: {@link ExecuteOptions} plus the pattern's own
 * (a rate limiter's `key` and `cost`, a bulkhead's `priority`). Read from the type of `execute`'s
 * second parameter; for a policy typed as an intersection (`Policy<C> & Members`), from the last
 * `execute` of it.
 */
export type OptionsOf<P> = P extends { execute(fn: never, options?: infer O): unknown }
  ? NonNullable<O>
  : ExecuteOptions;

/** What `pipeline(...policies).execute` accepts: the options of every policy it composes. */
export type PipelineOptions<P extends readonly Policy<ExecutionContext, unknown>[]> =
  ExecuteOptions & UnionToIntersection<OptionsOf<P[number]>>;

/** The policy `pipeline(...policies)` returns. */
export interface Pipeline<P extends readonly Policy<ExecutionContext, unknown>[]>
  extends Policy<PipelineContext<P>, ExtraResultOf<P[number]>> {
  /**
   * Runs `fn` through every policy, outermost first. `options` reaches every policy: its `signal`
   * the outermost one (each inner policy gets the signal of the one around it), its other fields
   * every policy that reads them (one `key` is the key of a rate limiter and of a bulkhead's
   * per-key caps alike).
   */
  execute<T>(
    fn: (ctx: PipelineContext<P>) => T | PromiseLike<T>,
    options?: PipelineOptions<P>,
  ): Promise<T | ExtraResultOf<P[number]>>;
}

/**
 * Composes policies, outermost first: `pipeline(retry, breaker, timeout)` retries calls that pass
 * the breaker, each bounded by the timeout. The result is itself a {@link Policy} and can be nested.
 *
 * One signal flows down: each policy derives its `ctx.signal` from the signal of the policy around
 * it, so aborting the caller's signal (or a timeout anywhere above) reaches the innermost `fn`.
 * `fn` receives the fields of every policy's context merged (`signal` is the innermost one).
 */
export function pipeline<const P extends readonly Policy<ExecutionContext, unknown>[]>(
  ...policies: P
): Pipeline<P> {
  for (const [index, policy] of policies.entries()) {
    if (typeof (policy as { execute?: unknown } | null)?.execute !== 'function') {
      throw new TypeError(
        `Expected \`policies[${index}]\` to be a policy with an execute() method, got ${String(policy)}`,
      );
    }
  }
  if (policies.length === 0) return passThrough as unknown as Pipeline<P>;
  if (policies.length === 1) return policies[0] as unknown as Pipeline<P>;
  const layers = policies as unknown as readonly Policy<ExecutionContext, unknown>[];
  const plan: Plan = { layers, declared: layers.map(declaredFieldsOf) };
  return {
    execute(fn: (ctx: ExecutionContext) => unknown, options?: ExecuteOptions) {
      // Checked here, before any layer runs: a retry would otherwise retry the TypeError of
      // calling it, a breaker count it, a fallback answer it.
      if (typeof fn !== 'function') return Promise.reject(expectedFunctionError('fn', fn));
      // The caller's fields beyond `signal`, for the inner layers (the outermost gets `options`).
      const shared = options !== undefined && hasFieldsBeyondSignal(options) ? options : undefined;
      return runLayer(plan, 0, undefined, fn, options, shared);
    },
    // What `fn` receives is every layer's fields, merged: known when every layer declares them,
    // so a pipeline nested in another merges as cheaply as a policy of ours.
    [CONTEXT_FIELDS]: unionOf(plan.declared),
  } as unknown as Pipeline<P>;
}

/** A pipeline's layers, outermost first, with the context fields each declares (if it does). */
interface Plan {
  readonly layers: readonly Policy<ExecutionContext, unknown>[];
  readonly declared: readonly (ContextFields | undefined)[];
}

/** The contexts of the layers around the current one, innermost first. */
interface ContextChain {
  readonly ctx: ExecutionContext;
  /** The fields of `ctx` to merge, as its policy declared them; `undefined`: enumerate `ctx`. */
  readonly fields: ContextFields | undefined;
  readonly outer: ContextChain | undefined;
}

function runLayer(
  plan: Plan,
  index: number,
  chain: ContextChain | undefined,
  fn: (ctx: ExecutionContext) => unknown,
  options: ExecuteOptions | undefined,
  shared: ExecuteOptions | undefined,
): Promise<unknown> {
  const layer = plan.layers[index]!;
  const last = index === plan.layers.length - 1;
  // Nothing to merge into the innermost layer's context: it calls `fn` itself, without a closure
  // of ours in between (one closure and one call fewer per call, e.g. for `pipeline(timeout(),
  // chaos())`, whose layers' contexts say nothing).
  if (last && chain === undefined) return layer.execute(fn, options);
  const declared = plan.declared[index];
  return layer.execute((ctx) => {
    // The contexts are merged once, for `fn`, rather than at every layer: on Node 20.20 a merge
    // per layer (a check of its fields and a spread) took 26 % of a CPU profile of the README
    // pipeline. Only contexts with fields beyond `signal` need merging.
    if (last) return fn(mergeContexts(chain!, ctx, declared));
    // A context with no field beyond `signal` has nothing to merge, so it stays out of the chain,
    // and a pipeline whose layers all say nothing merges nothing. Measured on Node 20.20 (2-core
    // VM, CPU time of 100,000 awaited calls, median of 11 rounds, two A/B runs): leaving out the
    // contexts that say nothing at all (the breaker's) took the README pipeline's overhead from
    // +586/+589 ns to +564/+582 ns; leaving out the lazy contexts without fields too (those of
    // the two timeouts of the five-strategy pipeline) took that pipeline's from +1,416 to
    // +1,294 ns (five alternating runs, loaded VM).
    const fields = declared === undefined ? hasFieldsBeyondSignal(ctx) : declared.length > 0;
    // The layer's own context doubles as the inner layer's options (reading `signal` from it only
    // when needed keeps lazily created signals lazy), with the caller's other fields if any.
    const inner = shared === undefined ? innerOptionsOf(ctx, fields) : withSignalOf(shared, ctx);
    const outer = fields ? { ctx, fields: declared, outer: chain } : chain;
    return runLayer(plan, index + 1, outer, fn, inner, shared);
  }, options);
}

/**
 * The fields `policy` declares under {@link CONTEXT_FIELDS}; `undefined` when it declares none
 * (or something that is not a list of field names), so that its contexts are enumerated.
 */
function declaredFieldsOf(policy: object): ContextFields | undefined {
  const fields = (policy as { readonly [CONTEXT_FIELDS]?: unknown })[CONTEXT_FIELDS];
  if (!Array.isArray(fields)) return undefined;
  for (const field of fields) if (typeof field !== 'string' || field === 'signal') return undefined;
  return Object.freeze([...fields]);
}

/** Every layer's declared fields, once each; `undefined` if a layer declares none. */
function unionOf(declared: readonly (ContextFields | undefined)[]): ContextFields | undefined {
  const union = new Set<string>();
  for (const fields of declared) {
    if (fields === undefined) return undefined;
    for (const field of fields) union.add(field);
  }
  return Object.freeze([...union]);
}

/**
 * The options for the layer inside one whose context is `ctx` (`fields`: whether it has fields
 * beyond `signal`): `ctx` itself, or nothing when `ctx` says nothing (only the shared
 * never-aborted signal, which every policy treats as no signal). Given no options, a policy takes
 * its simplest path (the bulkhead's fast path, in the README pipeline).
 *
 * A lazy context is recognised by its class first: on Node 20.20 (2-core VM, CPU time of 100,000
 * awaited calls, nine alternating runs) asking every context for its lazy controller cost the
 * five-strategy pipeline, whose timeouts hand on lazy contexts, about 90 ns per call (+1,080
 * against +992 ns without the check); with the class check first it costs +1,013 ns, and the
 * README pipeline keeps its bulkhead's fast path (+654 against +689 ns without the check). A
 * lazy context of another copy of this package is still found through its controller.
 */
function innerOptionsOf(ctx: ExecutionContext, fields: boolean): ExecuteOptions | undefined {
  if (fields || ctx instanceof LazyExecutionContext || lazyAbortSourceOf(ctx) !== undefined) {
    return ctx;
  }
  return abortableSignal(ctx.signal) === undefined ? undefined : ctx;
}

function hasFieldsBeyondSignal(value: object): boolean {
  for (const key in value) if (key !== 'signal') return true;
  return false;
}

/**
 * What `fn` receives: the fields of every context, inner ones winning, with the innermost's
 * `signal`; the innermost context itself when the others have no fields beyond `signal`.
 * `innermostFields`: the innermost policy's declared fields (`undefined`: enumerate them).
 */
function mergeContexts(
  chain: ContextChain,
  innermost: ExecutionContext,
  innermostFields: ContextFields | undefined,
): ExecutionContext {
  const merged = copyFields(chain, undefined, innermost);
  if (merged === undefined) return innermost;
  copyInto(merged, innermost, innermostFields);
  // A lazy innermost signal stays lazy: `merged` is then a lazy context that shares it.
  if (lazyAbortSourceOf(innermost) === undefined) merged.signal = innermost.signal;
  return merged as unknown as ExecutionContext;
}

/** Copies the fields of `chain`'s contexts, outermost first, making the target on the first one. */
function copyFields(
  chain: ContextChain,
  target: Record<string, unknown> | undefined,
  innermost: ExecutionContext,
): Record<string, unknown> | undefined {
  let merged = chain.outer === undefined ? target : copyFields(chain.outer, target, innermost);
  // The chain holds only contexts with fields beyond `signal`: there is something to copy.
  merged ??= lazyContextLike(innermost) ?? {};
  copyInto(merged, chain.ctx, chain.fields);
  return merged;
}

/** Copies `ctx`'s fields beyond `signal` onto `target`: the declared ones, or all enumerable. */
function copyInto(
  target: Record<string, unknown>,
  ctx: ExecutionContext,
  fields: ContextFields | undefined,
): void {
  if (fields === undefined) {
    for (const key in ctx) if (key !== 'signal') target[key] = (ctx as never)[key];
    return;
  }
  for (let i = 0; i < fields.length; i++) {
    const key = fields[i]!;
    target[key] = (ctx as never)[key];
  }
}

/** The caller's options with the signal of `ctx`, read only when the inner layer asks for it. */
function withSignalOf(shared: ExecuteOptions, ctx: ExecutionContext): ExecuteOptions {
  // An inner layer that follows lazy contexts finds `ctx`'s controller without reading `signal`.
  const lazy = lazyContextLike(ctx);
  if (lazy !== undefined) {
    for (const key in shared) if (key !== 'signal') lazy[key] = (shared as never)[key];
    return lazy;
  }
  return {
    ...shared,
    get signal() {
      return ctx.signal;
    },
  };
}

const passThrough: Policy = {
  [CONTEXT_FIELDS]: NO_CONTEXT_FIELDS,
  async execute(fn, options) {
    if (typeof fn !== 'function') throw expectedFunctionError('fn', fn);
    const signal = abortableSignal(options?.signal);
    if (!signal) return fn({ signal: neverAbortedSignal() });
    signal.throwIfAborted();
    return raceAbort(fn({ signal }), signal);
  },
};
