/**
 * Signals shared by the calls of one `timeout()` policy whose deadlines fall in the same tick of
 * its {@link TickDeadlineQueue} (issue #18).
 *
 * Why: on Node.js 20 (measured on 20.20, 2-core VM) the first read of an
 * `AbortController#signal` costs about 3–5 µs, so a call whose `fn` reads `ctx.signal` cost that
 * much on top of everything else (`core/timeout` bench suite, `fn reads signal`: +2.9 µs per call;
 * the README pipeline +3.7 µs; with shared signals +70 to +140 ns and +1.0 to +1.6 µs, the
 * latter level with the pipeline whose `fn` ignores the signal, in four runs on a loaded VM).
 * Calls of one policy that start within one tick of each other time out in the same tick of the
 * queue (their `expiresAfter` is equal), so one signal can stand for
 * all of them: it is created when the first of them reads `ctx.signal`, and the first of them that
 * is still running when the tick comes aborts it with its `TimeoutError`. When every call of the
 * bucket finished in time, nothing aborts it.
 *
 * The price, documented on `timeout()`: the signal of a call that finished may still abort later,
 * when a call of its bucket times out. (cockatiel's `timeout()` goes further by default: with its
 * `abortOnReturn`, default `true`, every call's signal aborts as the call returns.) A running
 * call's signal never aborts before its own deadline: a bucket's calls share their deadline.
 *
 * A call whose signal can abort for another reason (the caller's `options.signal`, a lazy parent
 * that is not itself a deadline) keeps a signal of its own. A call whose only parent is another
 * timeout's call that shares (a pipeline with two timeouts) shares too: its group is that of its
 * bucket *under the parent's group*, aborted by whichever of the two deadlines comes first.
 */
import { setMaxListeners } from 'node:events';
import type { TickDeadlineQueue } from './tick-deadlines.js';

/** One signal, shared by the calls of a deadline bucket that read theirs (under one parent). */
export class SharedDeadlineSignal {
  readonly #controller = new AbortController();
  /** The shared signal. */
  readonly signal: AbortSignal;
  /** Groups of inner timeouts whose calls run under calls of this group. */
  #children: SharedDeadlineSignal[] | undefined = undefined;

  /**
   * @param parent The group of the outer timeout's calls this group's calls run under, if any:
   *   its abort aborts this group too.
   */
  constructor(parent: SharedDeadlineSignal | undefined) {
    this.signal = this.#controller.signal;
    // Many calls share this signal, and each may add a listener (`fetch` does, removing it when it
    // is done): Node would warn past 10 listeners on one EventTarget, as if they leaked.
    setMaxListeners(0, this.signal);
    if (parent === undefined) return;
    if (parent.signal.aborted) this.abort(parent.signal.reason);
    else {
      parent.#children ??= [];
      parent.#children.push(this);
    }
  }

  /** Aborts the signal and those of the groups under it; later calls do nothing. */
  abort(reason: unknown): void {
    if (this.signal.aborted) return;
    this.#controller.abort(reason);
    const children = this.#children;
    this.#children = undefined;
    if (children !== undefined) for (const child of children) child.abort(reason);
  }
}

/** The groups of one bucket: the one of calls without a parent, and one per parent group. */
interface Bucket {
  expiresAfter: number;
  root: SharedDeadlineSignal | undefined;
  nested: Map<SharedDeadlineSignal, SharedDeadlineSignal> | undefined;
}

/** The shared signals of one `timeout()` policy, by the tick their calls time out in. */
export class DeadlineSignals {
  readonly #deadlines: TickDeadlineQueue;
  readonly #buckets = new Map<number, Bucket>();
  /** The bucket found last: calls that read their signal mostly do it in the tick they started. */
  #last: Bucket | undefined = undefined;

  /** @param deadlines The queue whose ticks time the calls. */
  constructor(deadlines: TickDeadlineQueue) {
    this.#deadlines = deadlines;
  }

  /**
   * The group of calls timing out in tick `expiresAfter` under `parent` (a group of an outer
   * timeout, or `undefined`), made on first use.
   */
  groupFor(expiresAfter: number, parent: SharedDeadlineSignal | undefined): SharedDeadlineSignal {
    let bucket = this.#last;
    if (bucket === undefined || bucket.expiresAfter !== expiresAfter) {
      bucket = this.#buckets.get(expiresAfter);
      if (bucket === undefined) {
        this.#sweep();
        bucket = { expiresAfter, root: undefined, nested: undefined };
        this.#buckets.set(expiresAfter, bucket);
      }
      this.#last = bucket;
    }
    if (parent === undefined) {
      bucket.root ??= new SharedDeadlineSignal(undefined);
      return bucket.root;
    }
    bucket.nested ??= new Map();
    let group = bucket.nested.get(parent);
    if (group === undefined) {
      group = new SharedDeadlineSignal(parent);
      bucket.nested.set(parent, group);
    }
    return group;
  }

  /** How many buckets are kept (for tests). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Forgets the buckets whose tick has come: their calls have either settled or timed out (and
   * aborted the group), so no call joins them any more. Done when a bucket is made, so an idle
   * policy does no work, and what is kept is bounded by the buckets made since.
   */
  #sweep(): void {
    const now = this.#deadlines.ticks;
    for (const [expiresAfter, bucket] of this.#buckets) {
      if (expiresAfter <= now) {
        this.#buckets.delete(expiresAfter);
        if (this.#last === bucket) this.#last = undefined;
      }
    }
  }
}
