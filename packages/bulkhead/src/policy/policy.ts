/**
 * The bulkhead policy: local slots with priority classes, per-key caps and ordered queues, and —
 * when a permit store is given — fleet-wide permits held as leases (see `fleet-permits.ts`). The
 * logic is written once; the store is only asked to perform atomic permit transitions.
 */
import {
  abortableSignal,
  CONTEXT_FIELDS,
  type ContextFields,
  type Disposer,
  expectedFunctionError,
  expectFunction,
  type LazyAbortController,
  lazyAbortSourceOf,
  markFollowsAbort,
  POLICY_HEALTH,
  type PolicyHealth,
  policyHealth,
  raceAbort,
  raceLazyAbort,
  type StoreStatus,
  type StoreStatusListener,
} from '@breakwater/core';
import type {
  Bulkhead,
  BulkheadContext,
  BulkheadExecuteOptions,
  BulkheadRejection,
  ReplicaCount,
} from '../bulkhead.js';
import {
  type BulkheadRejectedError,
  isBulkheadRejectedError,
  isLeaseLostError,
  PerKeyCapError,
} from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { type BulkheadInstruments, createInstruments } from '../telemetry.js';
import { CallTimings } from './call-timings.js';
import { FENCING_TOKEN_FIELD, idleContext, LazyBulkheadContext } from './context.js';
import { FleetPermits } from './fleet-permits.js';
import type { FleetPermit } from './held-permit.js';
import {
  type LocalRefusal,
  localRefusal,
  Rejections,
  rejectedError,
  unknownPriorityError,
} from './rejections.js';
import {
  type ClassSlots,
  createClassSlots,
  fastPathClass,
  type KeySlots,
  KeyTable,
  keyHasRoom,
  type Waiter,
} from './slots.js';
import { type CancelTimer, schedule } from './timer.js';

const noop = (): void => {};

type Fn<T> = (ctx: BulkheadContext) => T | PromiseLike<T>;

/**
 * The bulkhead `bulkhead()` builds: local slots and queues, and fleet permits with a store. `K`
 * (the class names) only types `execute`'s `priority`; at run time a priority is checked by name.
 */
export class BulkheadPolicy<K extends string = string> implements Bulkhead<K> {
  /** `fn`'s context: `signal` and `fencingToken` (for `pipeline()`'s merge). */
  readonly [CONTEXT_FIELDS]: ContextFields = FENCING_TOKEN_FIELD;
  readonly name: string;
  private readonly options: ResolvedOptions;
  private readonly classes: readonly ClassSlots[];
  private readonly classByName: ReadonlyMap<string, ClassSlots>;
  private readonly defaultClass: ClassSlots;
  private readonly instruments: BulkheadInstruments;
  private readonly keys = new KeyTable();
  private closed = false;
  private readonly rejections: Rejections;
  private readonly timings: CallTimings;
  private readonly fleet: FleetPermits | undefined;
  /** The only class, when the configuration allows the simplest hot path (see `execute`). */
  private readonly simple: ClassSlots | undefined;
  /** Whether an adaptive limit needs every call timed. */
  private readonly adaptive: boolean;
  private capacity: number;
  private sharedCapacity: number;
  private sharedInUse = 0;
  private running = 0;
  private waiting = 0;
  private totalReady = 0;
  private seq = 0;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.name = options.name;
    this.capacity = options.maxConcurrent;
    this.sharedCapacity = this.capacity - options.reservedTotal;
    this.instruments = createInstruments(
      options.name,
      options.store?.kind ?? 'memory',
      options.classes.map((c) => c.name),
      () => this.capacity,
    );
    this.adaptive = options.limit !== undefined;
    const newestFirst = options.order === 'lifo';
    this.classes = options.classes.map((spec) =>
      createClassSlots(spec, this.instruments.classAttributes[spec.index]!, newestFirst),
    );
    this.classByName = new Map(this.classes.map((c) => [c.spec.name, c]));
    this.defaultClass = this.classes[options.defaultClass.index]!;
    this.rejections = new Rejections(
      this.instruments,
      (name) => this.classByName.get(name)!.spec.index,
    );
    this.timings = new CallTimings(options.clock, options.limit);
    this.simple = fastPathClass(this.classes, options, this.instruments.sdkSeen);
    this.fleet = options.store
      ? new FleetPermits(options, options.store, this.instruments, () => this.capacity)
      : undefined;
    options.limit?.onChange((limit) => {
      const grew = limit > this.capacity;
      this.capacity = limit;
      this.sharedCapacity = limit - options.reservedTotal;
      if (grew) this.drain();
    });
  }

  get maxConcurrent(): number {
    return this.capacity;
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting;
  }

  get replicas(): ReplicaCount | undefined {
    return this.fleet?.replicas;
  }

  get storeStatus(): StoreStatus {
    return this.fleet?.status ?? 'healthy';
  }

  onRejected(listener: (rejection: BulkheadRejection<K>) => void): Disposer {
    // A rejection's priority is the name of one of the classes, which `K` names.
    return this.rejections.add(listener as (rejection: BulkheadRejection) => void);
  }

  onStoreStatusChange(listener: StoreStatusListener): Disposer {
    if (this.fleet !== undefined) return this.fleet.onStatusChange(listener);
    expectFunction('listener', listener);
    return noop;
  }

  [POLICY_HEALTH](): PolicyHealth {
    return policyHealth({
      name: this.name,
      pattern: 'bulkhead',
      storeKind: this.options.store?.kind ?? 'memory',
      storeStatus: this.storeStatus,
      onStoreError: this.options.storeSettings.onStoreError,
      closed: this.closed,
    });
  }

  readonly settle = (): Promise<void> => this.fleet?.settle() ?? Promise.resolve();

  close(): Promise<void> {
    this.closed = true;
    this.instruments.dispose();
    return this.fleet === undefined ? Promise.resolve() : this.fleet.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  execute<T>(fn: Fn<T>, options?: BulkheadExecuteOptions<K>): Promise<T> {
    const simple = this.simple;
    // The plainest case — one class, no key caps, no store, no adaptive limit, no telemetry SDK —
    // is most calls of most bulkheads: a free slot that is not the last one needs none of the
    // checks below. (The last slot takes the general path, which times the call.)
    if (
      simple !== undefined &&
      options === undefined &&
      simple.active < this.capacity - 1 &&
      typeof fn === 'function' &&
      // An SDK registered after the bulkhead was built: from then on, every call is recorded.
      !this.instruments.recording
    ) {
      simple.active++;
      this.sharedInUse++;
      this.running++;
      // No `async` wrapper and no `try/finally` around an `await`: one `then` on `fn`'s promise,
      // with handlers made once per bulkhead, frees the slot when `fn` settles and passes its
      // outcome on — one promise per call, the one `execute` returns.
      let result: T | PromiseLike<T>;
      try {
        result = fn(idleContext);
      } catch (error) {
        this.releaseSimple();
        return Promise.reject(error);
      }
      return Promise.resolve(result).then(this.settledSimple as (value: T) => T, this.failedSimple);
    }
    return this.executeGeneral(fn, options);
  }

  /**
   * `execute` for every call the simple fast path does not take. Kept out of `execute` so that
   * stays small enough for V8 to inline into callers.
   */
  private executeGeneral<T>(fn: Fn<T>, options: BulkheadExecuteOptions | undefined): Promise<T> {
    // Before anything else: no slot taken, no queue entered, no rejection reported.
    if (typeof fn !== 'function') return Promise.reject(expectedFunctionError('fn', fn));
    let cls = this.defaultClass;
    let signal: AbortSignal | undefined;
    // A local call under an outer policy's lazy context follows it without creating its signal
    // (see LazyBulkheadContext); a queued call or a fleet call still takes the signal.
    let lazy: LazyAbortController | undefined;
    let key: string | undefined;
    if (options !== undefined) {
      lazy = this.fleet === undefined ? lazyAbortSourceOf(options) : undefined;
      if (lazy?.aborted) return Promise.reject(lazy.reason);
      // The never-aborted signal an outer policy passes for a call given none is no signal:
      // listening to it (a listener per queued call) would pile up listeners that never run.
      if (lazy === undefined) signal = abortableSignal(options.signal);
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (options.priority !== undefined) {
        const named = this.classByName.get(options.priority);
        if (named === undefined)
          return Promise.reject(unknownPriorityError(this.classes, options.priority));
        cls = named;
      }
      key = options.key ?? undefined;
    }
    const keySlots =
      key === undefined || this.options.perKey === undefined
        ? undefined
        : this.keys.slots(key, this.options.perKey, this.name);
    // A key without a valid cap runs nothing: no slot taken, no queue entered.
    if (keySlots instanceof PerKeyCapError) return Promise.reject(keySlots);

    if (
      (this.totalReady === 0 || cls.ready.size === 0) &&
      this.canAdmit(cls) &&
      (keySlots === undefined || keyHasRoom(keySlots))
    ) {
      this.admit(cls, keySlots);
      let run: Promise<T>;
      if (this.fleet !== undefined) {
        // A fleet call records its wait once it holds a permit.
        run = this.runWithPermit(fn, cls, keySlots, signal, undefined);
      } else {
        if (this.instruments.recording) this.instruments.waitDuration.record(0, cls.attributes);
        const ctx: BulkheadContext =
          lazy !== undefined
            ? new LazyBulkheadContext(lazy)
            : signal === undefined
              ? idleContext
              : { signal, fencingToken: undefined };
        // Timing costs two clock reads: only for the adaptive limit, and when this call fills
        // the last slot (the retryAfterMs estimate matters only when the bulkhead is full).
        run =
          this.adaptive || this.running + 1 >= this.capacity
            ? this.runMeasured(fn, cls, keySlots, ctx)
            : this.runPlain(fn, cls, keySlots, ctx);
      }
      // Marked: the policy around this one need not race the parent's abort again.
      if (lazy !== undefined) return markFollowsAbort(raceLazyAbort(run, lazy), lazy);
      return signal === undefined ? run : raceAbort(run, signal);
    }
    return this.enqueue(fn, cls, keySlots, key, lazy === undefined ? signal : lazy.signal);
  }

  // --- admission -------------------------------------------------------------------------------

  private canAdmit(cls: ClassSlots): boolean {
    const active = cls.active;
    return active < cls.max && (active < cls.reserved || this.sharedInUse < this.sharedCapacity);
  }

  private admit(cls: ClassSlots, keySlots: KeySlots | undefined): void {
    if (cls.active >= cls.reserved) this.sharedInUse++;
    cls.active++;
    if (keySlots !== undefined) keySlots.active++;
  }

  /** Gives back the slot of a finished call and hands freed capacity to waiters. */
  private release(cls: ClassSlots, keySlots: KeySlots | undefined): void {
    cls.active--;
    if (cls.active >= cls.reserved) this.sharedInUse--;
    if (keySlots !== undefined) {
      keySlots.active--;
      this.promoteParked(keySlots);
      this.keys.forgetIfIdle(keySlots);
    }
    if (this.totalReady > 0) this.drain();
  }

  /** Starts queued calls while their class can take them, most important class first. */
  private drain(): void {
    for (const cls of this.classes) {
      while (cls.ready.size > 0 && this.canAdmit(cls)) {
        const waiter = cls.ready.pop()!;
        this.leaveQueue(waiter);
        this.admit(cls, waiter.keySlots);
        waiter.start();
      }
    }
  }

  // --- running ---------------------------------------------------------------------------------

  /**
   * Runs a call that waited in the queue, in the slot it was given. Like every run, the slot is
   * freed when `fn` settles, not when the caller stops waiting: it is taken while the work runs.
   */
  private runQueued<T>(
    fn: Fn<T>,
    cls: ClassSlots,
    keySlots: KeySlots | undefined,
    signal: AbortSignal | undefined,
    queuedAt: number,
  ): Promise<T> {
    if (this.fleet !== undefined) return this.runWithPermit(fn, cls, keySlots, signal, queuedAt);
    const ctx: BulkheadContext =
      signal === undefined ? idleContext : { signal, fencingToken: undefined };
    return this.runMeasured(fn, cls, keySlots, ctx);
  }

  /** Frees the slot of a call of the simple fast path (see `execute`). */
  private releaseSimple(): void {
    this.running--;
    this.simple!.active--;
    this.sharedInUse--;
    if (this.totalReady > 0) this.drain();
  }

  /** Fulfilment handler of the simple fast path: frees the slot, passes the value on. */
  private readonly settledSimple = (value: unknown): unknown => {
    this.releaseSimple();
    return value;
  };

  /** Rejection handler of the simple fast path: frees the slot, passes the error on. */
  private readonly failedSimple = (error: unknown): never => {
    this.releaseSimple();
    throw error;
  };

  private async runPlain<T>(
    fn: Fn<T>,
    cls: ClassSlots,
    keySlots: KeySlots | undefined,
    ctx: BulkheadContext,
  ): Promise<T> {
    this.running++;
    const recorded = this.instruments.recording;
    if (recorded) this.instruments.active.add(1, cls.attributes);
    try {
      return await fn(ctx);
    } finally {
      this.running--;
      if (recorded) this.instruments.active.add(-1, cls.attributes);
      this.release(cls, keySlots);
    }
  }

  /** Like {@link runPlain}, and times the call for the adaptive limit and `retryAfterMs`. */
  private async runMeasured<T>(
    fn: Fn<T>,
    cls: ClassSlots,
    keySlots: KeySlots | undefined,
    ctx: BulkheadContext,
  ): Promise<T> {
    this.running++;
    const recorded = this.instruments.recording;
    if (recorded) this.instruments.active.add(1, cls.attributes);
    const sample = this.timings.start(this.running);
    try {
      const value = await fn(ctx);
      this.timings.end(sample, false);
      return value;
    } catch (error) {
      // A call the caller cancelled says nothing about the downstream's health. (Asked of a lazy
      // context's controller, which creates no signal.)
      this.timings.end(sample, !(lazyAbortSourceOf(ctx) ?? ctx.signal).aborted);
      throw error;
    } finally {
      this.running--;
      if (recorded) this.instruments.active.add(-1, cls.attributes);
      this.release(cls, keySlots);
    }
  }

  /**
   * Acquires a fleet permit for a call holding a local slot, runs `fn` under it, and gives both
   * back. The caller gets `fn`'s outcome as soon as `fn` settles; the permit is released in the
   * background and only then is the local slot freed, so this replica never has more calls past
   * the bulkhead than the permits it holds.
   */
  private async runWithPermit<T>(
    fn: Fn<T>,
    cls: ClassSlots,
    keySlots: KeySlots | undefined,
    signal: AbortSignal | undefined,
    queuedAt: number | undefined,
  ): Promise<T> {
    const fleet = this.fleet!;
    const clock = this.options.clock;
    // Waiting for a fleet permit counts as queued: the call does not run yet.
    this.waiting++;
    // Counted up only while an SDK records, and then counted down too.
    const recorded = this.instruments.recording;
    if (recorded) this.instruments.queued.add(1, cls.attributes);
    // `maxWaitMs` bounds the whole wait: in this process's queue and for the fleet permit.
    const waitStart = queuedAt ?? clock.now();
    let permit: FleetPermit;
    try {
      permit = await fleet.acquire(cls.spec, signal, waitStart);
    } catch (error) {
      this.release(cls, keySlots);
      if (isBulkheadRejectedError(error)) this.rejections.report(error, keySlots?.key);
      throw error;
    } finally {
      this.waiting--;
      if (recorded) this.instruments.queued.add(-1, cls.attributes);
    }
    if (recorded) {
      this.instruments.waitDuration.record((clock.now() - waitStart) / 1000, cls.attributes);
      this.instruments.active.add(1, cls.attributes);
    }

    this.running++;
    const sample = this.timings.start(this.running);
    const ctx = permit.open(signal);
    try {
      const value = await fn(ctx);
      this.timings.end(sample, false);
      return value;
    } catch (error) {
      // Neither the caller's abort nor a lost lease says anything about the downstream's health.
      this.timings.end(sample, !signal?.aborted && !isLeaseLostError(permit.lostReason));
      throw error;
    } finally {
      this.running--;
      if (recorded) this.instruments.active.add(-1, cls.attributes);
      void fleet.finish(permit, () => this.release(cls, keySlots));
    }
  }

  // --- queueing --------------------------------------------------------------------------------

  private enqueue<T>(
    fn: Fn<T>,
    cls: ClassSlots,
    keySlots: KeySlots | undefined,
    key: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const perKey = this.options.perKey;
    if (
      cls.queued >= cls.spec.maxQueue ||
      (keySlots !== undefined && keySlots.queued >= perKey!.maxQueue)
    ) {
      const error = this.rejection(cls, 'queue-full');
      if (keySlots !== undefined) this.keys.forgetIfIdle(keySlots);
      this.rejections.report(error, key);
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      let cancelTimer: CancelTimer | undefined;
      const onAbort = (): void => {
        if (this.removeWaiter(waiter)) waiter.fail(signal!.reason);
      };
      const cleanup = (): void => {
        signal?.removeEventListener('abort', onAbort);
        cancelTimer?.();
      };
      const waiter: Waiter = {
        seq: ++this.seq,
        heapIndex: -1,
        cls,
        keySlots,
        enqueuedAt: this.options.clock.now(),
        recorded: this.instruments.recording,
        state: 'left',
        start: () => {
          cleanup();
          if (this.fleet === undefined && this.instruments.recording) {
            const waitedMs = this.options.clock.now() - waiter.enqueuedAt;
            this.instruments.waitDuration.record(waitedMs / 1000, cls.attributes);
          }
          const run = this.runQueued(fn, cls, keySlots, signal, waiter.enqueuedAt);
          (signal === undefined ? run : raceAbort(run, signal)).then(resolve, reject);
        },
        fail: (error) => {
          cleanup();
          reject(error);
        },
      };
      cls.queued++;
      this.waiting++;
      if (waiter.recorded) this.instruments.queued.add(1, cls.attributes);
      if (keySlots !== undefined) keySlots.queued++;
      if (keyHasRoom(keySlots)) this.pushReady(waiter);
      else {
        waiter.state = 'parked';
        keySlots!.parked ??= [];
        keySlots!.parked.push(waiter);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      const maxWaitMs = cls.spec.maxWaitMs;
      if (maxWaitMs !== Number.POSITIVE_INFINITY) {
        cancelTimer = schedule(this.options.clock, maxWaitMs, () => {
          if (!this.removeWaiter(waiter)) return;
          const error = this.rejection(cls, 'queue-timeout');
          this.rejections.report(error, key);
          waiter.fail(error);
        });
      }
      // Queued only because of its key's cap, it may find a class slot idle: start it now
      // rather than at the next release.
      if (waiter.state === 'ready' && this.canAdmit(cls)) this.drain();
    });
  }

  private pushReady(waiter: Waiter): void {
    waiter.state = 'ready';
    if (waiter.keySlots !== undefined) waiter.keySlots.ready++;
    waiter.cls.ready.push(waiter);
    this.totalReady++;
  }

  /** Takes a waiter out of whatever queue holds it; `false` if it already left. */
  private removeWaiter(waiter: Waiter): boolean {
    const keySlots = waiter.keySlots;
    if (waiter.state === 'parked') {
      const parked = keySlots!.parked!;
      parked.splice(parked.indexOf(waiter), 1);
      this.leaveQueue(waiter);
      this.keys.forgetIfIdle(keySlots!);
      return true;
    }
    if (waiter.state !== 'ready') return false;
    waiter.cls.ready.remove(waiter);
    this.leaveQueue(waiter);
    if (keySlots !== undefined) {
      // The key's cap counted this waiter; the next of its parked calls may take its place.
      this.promoteParked(keySlots);
      this.keys.forgetIfIdle(keySlots);
      if (this.totalReady > 0) this.drain();
    }
    return true;
  }

  /** Bookkeeping of a waiter that left its queue, to run or to be rejected. */
  private leaveQueue(waiter: Waiter): void {
    const cls = waiter.cls;
    const keySlots = waiter.keySlots;
    if (waiter.state === 'ready') {
      this.totalReady--;
      if (keySlots !== undefined) keySlots.ready--;
    }
    waiter.state = 'left';
    cls.queued--;
    this.waiting--;
    if (waiter.recorded) this.instruments.queued.add(-1, cls.attributes);
    if (keySlots !== undefined) keySlots.queued--;
  }

  /** Moves parked calls of a key into their class queues while the key's cap allows. */
  private promoteParked(keySlots: KeySlots): void {
    const parked = keySlots.parked;
    if (parked === undefined) return;
    while (parked.length > 0 && keyHasRoom(keySlots)) {
      const waiter = this.options.order === 'lifo' ? parked.pop()! : parked.shift()!;
      this.pushReady(waiter);
    }
  }

  /** Number of keys tracked now (for tests: it must stay bounded). */
  get trackedKeys(): number {
    return this.keys.size;
  }

  private rejection(cls: ClassSlots, reason: LocalRefusal): BulkheadRejectedError {
    const retryAfterMs = this.timings.estimateRetryAfterMs(cls.queued, this.capacity);
    const what = localRefusal(cls.spec, reason);
    return rejectedError(this.name, cls.spec.name, reason, what, retryAfterMs);
  }
}
