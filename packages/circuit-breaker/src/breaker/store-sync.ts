/**
 * Everything a breaker says to its store, and how the answers reach the controller: the first read
 * (or the seed from `initialState`), flushes of the local counts, refreshes, the subscription and
 * the sync timer, probe leases, commands, and the `onStoreError` fallbacks.
 *
 * Every store operation goes through core's store call path (`StoreCalls`, Principle 4): one
 * `StoreOp` per operation, built here once. It passes a synchronous answer (the memory store)
 * straight through, with no promise and no timer; bounds an asynchronous one by `storeDeadlineMs`
 * (one timer per breaker); answers a failure — and, while the store is degraded, every operation,
 * at once — with the fallback of the breaker's `onStoreError`; and reports the store telemetry and
 * status changes. The closed path never comes here: it decides from the cached view.
 */
import { randomUUID } from 'node:crypto';
import {
  type Clock,
  isStoreError,
  StoreCalls,
  type StoreError,
  type StoreFallbacks,
  type StoreOp,
  type StoreStatus,
  type StoreStatusChange,
} from '@breakwater/core';
import type { CachedView } from '../cached-view.js';
import type { LocalCounts } from '../local-counts.js';
import type { ResolvedOptions } from '../options.js';
import { seedFromSnapshot } from '../snapshot.js';
import type {
  BreakerCommand,
  BreakerRules,
  BreakerScope,
  BreakerSeed,
  BreakerView,
  MaybePromise,
  OutcomeBatch,
  ProbeAnswer,
  ProbeResult,
} from '../store.js';
import { memoryStore } from '../stores/memory.js';
import { PATTERN } from '../telemetry.js';
import type { BreakerController } from './controller.js';

/** Without pushes from the store, a breaker that heard nothing re-reads this often at most. */
const RESYNC_FACTOR = 10;
const MIN_RESYNC_MS = 1000;

/** The arguments of one store operation (a flush, a probe lease, …), built per operation. */
interface RecordRequest {
  readonly batch: OutcomeBatch;
  readonly now: number;
}
interface AcquireRequest {
  readonly token: string;
  readonly now: number;
}
interface ReleaseRequest {
  readonly token: string;
  readonly result: ProbeResult;
  readonly now: number;
}
interface CommandRequest {
  readonly command: BreakerCommand;
  readonly now: number;
}
interface SeedRequest {
  readonly seed: BreakerSeed;
  readonly now: number;
}

function isPromiseLike<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** `'fail-open'` and `'fail-closed'` of a control: it needs the store, so it rejects. */
function rethrow(error: StoreError): never {
  throw error;
}

/** The link between one breaker's controller and its store. */
export class StoreSync {
  /** Whether the subscription and the timer were started (at the first call, or `connect()`). */
  started = false;
  /**
   * The first store answer, while it is pending: calls wait for it rather than guess. It resolves
   * the `StoreError` instead when the store failed and `onStoreError` is `'fail-closed'` (see
   * {@link readBeforeCall}).
   */
  firstSync: Promise<StoreError | undefined> | undefined;
  /** The flush or read the timer started, while it runs. */
  inFlightSync: Promise<void> | undefined;
  /**
   * Whether the store answers (`calls.status === 'healthy'`), as a plain field: the closed path
   * reads it on every call.
   */
  healthy = true;
  /** The breaker's store call path: deadlines, health, fallbacks, store telemetry and status. */
  readonly calls: StoreCalls;
  private closed = false;
  private readonly name: string;
  private readonly rules: BreakerRules;
  private readonly clock: Clock;
  private readonly syncIntervalMs: number;
  private readonly resyncMs: number;
  private readonly controller: BreakerController;
  private readonly view: CachedView;
  private readonly pending: LocalCounts;
  private readonly scope: BreakerScope;
  private readonly replica = randomUUID();
  private readonly readOp: StoreOp<BreakerView, number>;
  /** The read a call waits for: with `'fail-closed'` its failure answers the error. */
  private readonly callReadOp: StoreOp<BreakerView | StoreError, number>;
  private readonly recordOp: StoreOp<BreakerView, RecordRequest>;
  private readonly acquireOp: StoreOp<ProbeAnswer, AcquireRequest>;
  private readonly releaseOp: StoreOp<BreakerView, ReleaseRequest>;
  private readonly commandOp: StoreOp<BreakerView, CommandRequest>;
  private readonly seedOp: StoreOp<BreakerView | StoreError, SeedRequest>;
  private probeCounter = 0;
  private answerSeq = 0;
  private local: BreakerScope | undefined;
  /**
   * This breaker's probes that are running, by token, with the time their lease ends: granted by
   * the store or, while it failed, by the stand-in. Neither knows of the other's leases, so without
   * this a probe the stand-in granted could still be running when the store, answering again,
   * grants this replica another (or the reverse): `halfOpen.maxCalls` bounds one replica's probes
   * whoever granted them (seen by testkit's nemesis as 4 probes at once with 3 replicas).
   */
  private readonly runningProbes = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(resolved: ResolvedOptions<unknown>, controller: BreakerController) {
    this.name = resolved.name;
    this.rules = resolved.rules;
    this.clock = resolved.clock;
    this.syncIntervalMs = resolved.syncIntervalMs;
    this.resyncMs = Math.max(MIN_RESYNC_MS, resolved.syncIntervalMs * RESYNC_FACTOR);
    this.controller = controller;
    this.view = controller.view;
    this.pending = controller.pending;
    const scope = resolved.store.scope(resolved.name, resolved.rules);
    this.scope = scope;
    const probe = scope.probe;
    this.calls = new StoreCalls({
      pattern: PATTERN,
      policy: resolved.name,
      store: resolved.store.kind,
      settings: resolved.storeSettings,
      telemetry: controller.telemetry.telemetry,
      probe: probe === undefined ? undefined : (signal) => probe.call(scope, signal),
    });
    // First, so the breaker's own state follows a status change before any user listener runs.
    this.calls.onStatusChange(this.storeStatusChanged);
    this.readOp = this.defineOps(
      'read',
      (now, signal) => scope.read(now, signal),
      (local, now) => local.read(now),
    );
    this.recordOp = this.defineOps(
      'record',
      (r, signal) => scope.record(r.batch, this.replica, r.now, signal),
      (local, r) => local.record(r.batch, this.replica, r.now),
    );
    this.releaseOp = this.defineOps(
      'release_probe',
      (r, signal) => scope.releaseProbe(r.token, r.result, r.now, signal),
      (local, r) => local.releaseProbe(r.token, r.result, r.now),
    );
    const abortable = { abortable: scope.abortable === true };
    // The reads calls wait for (the first one, a strict call's): under 'fail-closed' a failure
    // answers the StoreError, and the calls waiting are rejected as if the store refused them.
    this.callReadOp = this.calls.guarded<BreakerView | StoreError, number>(
      'read',
      (now, signal) => scope.read(now, signal),
      {
        failOpen: () => this.controller.currentView(),
        failClosed: (error) => error,
        local: (_, now) => this.localScope().read(now),
      },
      abortable,
    );
    this.seedOp = this.calls.guarded<BreakerView | StoreError, SeedRequest>(
      'seed',
      (r, signal) => scope.seed(r.seed, r.now, signal),
      {
        failOpen: () => this.controller.currentView(),
        failClosed: (error) => error,
        local: (_, r) => this.localScope().seed(r.seed, r.now),
      },
      abortable,
    );
    const acquireFallbacks: StoreFallbacks<ProbeAnswer, AcquireRequest> = {
      failOpen: () => ({ decision: 'admit', view: this.controller.currentView() }),
      failClosed: () => ({ decision: 'reject', view: this.controller.currentView() }),
      local: (_, r) => this.localScope().acquireProbe(r.token, r.now),
    };
    this.acquireOp = this.calls.guarded(
      'acquire_probe',
      (r, signal) => scope.acquireProbe(r.token, r.now, signal),
      acquireFallbacks,
      abortable,
    );
    // Controls need the store: without 'local' a failure rejects them rather than pretending.
    const commandFallbacks: StoreFallbacks<BreakerView, CommandRequest> = {
      failOpen: rethrow,
      failClosed: rethrow,
      local: (_, r) => this.localScope().command(r.command, r.now),
    };
    this.commandOp = this.calls.guarded(
      'command',
      (r, signal) => scope.command(r.command, r.now, signal),
      commandFallbacks,
      abortable,
    );

    const now = this.clock.now();
    if (resolved.initialState !== undefined) {
      const seed = seedFromSnapshot(resolved.initialState, now);
      // The seed applies at once, so the first calls already respect a carried-over open state,
      // even before an asynchronous store answers.
      controller.applySeed(seed, now);
      this.firstSync = this.settleCallAnswer(this.seedOp.run({ seed, now }));
    } else {
      this.firstSync = this.settleCallAnswer(this.callReadOp.run(now));
    }
    // A replica joining an open fleet must not let calls through before it has heard of it: the
    // first calls wait for the first answer (bounded by the store deadline), later ones never do.
    this.firstSync?.then(() => {
      this.firstSync = undefined;
    });
  }

  /**
   * An operation answering a view: while the store fails, `'fail-open'` and `'fail-closed'` keep
   * the cached view, `'local'` asks the in-process stand-in.
   */
  private defineOps<A>(
    name: string,
    invoke: (arg: A, signal: AbortSignal | undefined) => MaybePromise<BreakerView>,
    onLocal: (local: BreakerScope, arg: A) => MaybePromise<BreakerView>,
  ): StoreOp<BreakerView, A> {
    const current = (): BreakerView => this.controller.currentView();
    return this.calls.guarded(
      name,
      invoke,
      {
        failOpen: current,
        failClosed: current,
        local: (_, arg) => onLocal(this.localScope(), arg),
      },
      { abortable: this.scope.abortable === true },
    );
  }

  /** Whether the store answers (`'healthy'`) or the breaker applies `onStoreError`. */
  get status(): StoreStatus {
    return this.calls.status;
  }

  /** The last store failure, until the store answers again. */
  get lastError(): StoreError | undefined {
    return this.calls.lastError;
  }

  /** The in-process stand-in used while the store fails and `onStoreError` is `'local'`. */
  private localScope(): BreakerScope {
    if (this.local === undefined) {
      const standIn = memoryStore().scope(this.name, this.rules);
      const clock = this.clock;
      standIn.seed(this.controller.seedOfView(), clock.now());
      // The stand-in decides when the store did not answer: now, not at the request's time (up to
      // a deadline earlier). Asked at the request's time, a stand-in seeded just now from a
      // half-open view ("open, break over") would answer "open" until that time came again, and
      // a replica still on the store would flip to open for a deadline (the nemesis's
      // breaker-fleet × store-crash-aof: an "open" no store had decided).
      this.local = {
        read: () => standIn.read(clock.now()),
        record: (batch, replica) => standIn.record(batch, replica, clock.now()),
        acquireProbe: (token) => standIn.acquireProbe(token, clock.now()),
        releaseProbe: (token, result) => standIn.releaseProbe(token, result, clock.now()),
        command: (command) => standIn.command(command, clock.now()),
        seed: (seed) => standIn.seed(seed, clock.now()),
      };
    }
    return this.local;
  }

  /** Flushes the local counts; `undefined` when there were none or the store answered at once. */
  flush(): Promise<void> | undefined {
    const now = this.pending.at;
    const batch = this.pending.take();
    if (batch === undefined) return undefined;
    return this.settleAnswer(this.recordOp.run({ batch, now }));
  }

  /**
   * The flush a strict call waits for before it returns. While the store fails but is not degraded
   * yet (its last operation failed: most often the call's own read), nothing is written: the
   * outcome waits in the local counts for the next write, so that no call waits on a failing store
   * twice, one deadline for its read and another for its write. (Once degraded, a write is
   * answered at once.)
   */
  flushForStrictCall(): Promise<void> | undefined {
    if (this.healthy && this.calls.lastError !== undefined) return undefined;
    return this.flush();
  }

  /** Re-reads the shared state. */
  refresh(): Promise<void> {
    return this.settleAnswer(this.readOp.run(this.clock.now())) ?? Promise.resolve();
  }

  /**
   * The read a call waits for before it is admitted (a strict call whose last read is older than
   * `syncIntervalMs`). Resolves once the view is applied, or with the `StoreError` when the store
   * failed and `onStoreError` is `'fail-closed'`: the call is then rejected, as if the store had
   * refused it. `undefined` when a synchronous store answered at once.
   */
  readBeforeCall(): Promise<StoreError | undefined> | undefined {
    return this.settleCallAnswer(this.callReadOp.run(this.clock.now()));
  }

  /** {@link settleAnswer} for an answer calls wait on, which may be the `'fail-closed'` error. */
  private settleCallAnswer(
    answer: MaybePromise<BreakerView | StoreError>,
  ): Promise<StoreError | undefined> | undefined {
    const seq = ++this.answerSeq;
    if (!isPromiseLike(answer)) {
      if (isStoreError(answer)) return Promise.resolve(answer);
      this.controller.applyView(answer, seq);
      return undefined;
    }
    return answer.then(
      (view) => {
        if (isStoreError(view)) return view;
        this.controller.applyView(view, seq);
        return undefined;
      },
      // Only a fallback that itself throws gets here; the call is then decided as usual.
      () => undefined,
    );
  }

  /** Applies a store answer now if it is synchronous, otherwise when it arrives. */
  private settleAnswer(answer: MaybePromise<BreakerView>): Promise<void> | undefined {
    const seq = ++this.answerSeq;
    if (!isPromiseLike(answer)) {
      this.controller.applyView(answer, seq);
      return undefined;
    }
    return answer.then(
      (view) => this.controller.applyView(view, seq),
      () => {
        // The call path answers failures with a fallback view; only a fallback that itself
        // throws gets here, and it must not fail the call that triggered the sync.
      },
    );
  }

  /** Applies a store answer that has just arrived, in the order of the answers requested. */
  applyAnswer(view: BreakerView): void {
    this.controller.applyView(view, ++this.answerSeq);
  }

  /** A probe lease token no other replica or call uses. */
  nextProbeToken(): string {
    return `${this.replica}:${++this.probeCounter}`;
  }

  /** Asks the store for a half-open probe lease (answer it with {@link applyAnswer}). */
  acquireProbe(token: string, now: number): MaybePromise<ProbeAnswer> {
    const answer = this.acquireOp.run({ token, now });
    return isPromiseLike(answer)
      ? answer.then((granted) => this.admitProbe(token, granted, now))
      : this.admitProbe(token, answer, now);
  }

  /** Ends a probe lease with the probe's result, and applies the store's answer. */
  releaseProbe(token: string, result: ProbeResult, now: number): Promise<void> | undefined {
    this.runningProbes.delete(token);
    return this.settleAnswer(this.releaseOp.run({ token, result, now }));
  }

  /**
   * Keeps a granted lease as one of this breaker's running probes, or, when `halfOpen.maxCalls`
   * of them run already, hands it back (`'ignored'`) and refuses the call. The store is still asked
   * first: its answer carries what time alone changed (a half-open state past its maximum
   * duration re-opens).
   */
  private admitProbe(token: string, answer: ProbeAnswer, now: number): ProbeAnswer {
    if (answer.decision !== 'probe') return answer;
    if (this.runningProbes.size > 0 && this.probesFull(now)) {
      void this.settleAnswer(this.releaseOp.run({ token, result: 'ignored', now }));
      return { decision: 'reject', view: answer.view };
    }
    this.runningProbes.set(token, now + this.rules.probeLeaseMs);
    return answer;
  }

  /** Whether this breaker runs `halfOpen.maxCalls` probes already (leases past their end dropped). */
  private probesFull(now: number): boolean {
    for (const [token, leaseEnd] of this.runningProbes) {
      if (leaseEnd <= now) this.runningProbes.delete(token);
    }
    return this.runningProbes.size >= this.rules.halfOpenMaxCalls;
  }

  /**
   * Runs `isolate()`, `reset()` or `disable()`, bounded by the store deadline: a store failure
   * rejects it (with the `StoreError`) rather than falling back, except with `'local'`.
   */
  async command(command: BreakerCommand): Promise<void> {
    if (!this.started) this.start();
    const answer = this.commandOp.run({ command, now: this.clock.now() });
    const seq = ++this.answerSeq;
    const view = isPromiseLike(answer) ? await answer : answer;
    this.controller.applyView(view, seq);
  }

  start(): void {
    this.started = true;
    if (this.closed) return;
    if (this.scope.subscribe !== undefined) {
      this.unsubscribe = this.scope.subscribe(
        (view) => this.applyPushed(view),
        () => {
          if (!this.closed) void this.refresh();
        },
      );
    }
    if (this.syncIntervalMs > 0) {
      this.timer = setInterval(() => this.tick(), this.syncIntervalMs);
      // A breaker must never keep a process alive on its own.
      this.timer.unref();
    }
  }

  /** Stops the timer and the subscription for good; false when they were stopped already. */
  stop(): boolean {
    if (this.closed) return false;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    return true;
  }

  /**
   * After {@link stop}: flushes what is left and waits for every store operation in flight, each
   * bounded by the store deadline — so at most one deadline, with the store up, refused or hung —
   * and stops the background probe.
   */
  async drain(): Promise<void> {
    await Promise.all([this.inFlightSync, this.flush()]);
    await this.calls.close();
  }

  private tick(): void {
    if (this.inFlightSync !== undefined) return;
    let sync: Promise<void> | undefined;
    if (this.pending.size > 0) sync = this.flush();
    else {
      const stale = this.clock.now() - this.view.lastSyncAt >= this.resyncMs;
      if (this.scope.subscribe === undefined || !this.healthy || stale) sync = this.refresh();
    }
    if (sync !== undefined) {
      this.inFlightSync = sync;
      sync.finally(() => {
        this.inFlightSync = undefined;
      });
    }
  }

  private applyPushed(view: BreakerView): void {
    this.controller.applyView(view, undefined);
  }

  private readonly storeStatusChanged = (change: StoreStatusChange): void => {
    this.healthy = change.status === 'healthy';
    if (!this.healthy) return;
    // The store is authoritative again: accept its next answer whatever its version, drop the
    // stand-in so a later outage starts from the then current state, and re-read the shared
    // state now rather than at the next resync (after the operation that reported the recovery
    // has been answered, so the re-read is the newer answer).
    this.view.forgetVersion();
    this.local = undefined;
    queueMicrotask(() => {
      if (this.started && !this.closed) void this.refresh();
    });
  };
}
