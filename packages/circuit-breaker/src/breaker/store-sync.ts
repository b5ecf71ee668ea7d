/**
 * Everything a breaker says to its store, and how the answers reach the controller: the first read
 * (or the seed from `initialState`), flushes of the local counts, refreshes, the subscription and
 * the sync timer, probe leases, commands, and the `onStoreError` fallbacks. It is the only part of
 * the breaker that uses the store channel (store-channel.ts), so a new store layer replaces this
 * file and leaves the others alone; the store status types come from here for the same reason.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, StoreError } from '@breakwater/core';
import type { CachedView } from '../cached-view.js';
import type { Listeners } from '../events.js';
import type { LocalCounts } from '../local-counts.js';
import type { OnStoreError, ResolvedOptions } from '../options.js';
import { seedFromSnapshot } from '../snapshot.js';
import type {
  BreakerBinding,
  BreakerCommand,
  BreakerRules,
  BreakerView,
  MaybePromise,
  OutcomeBatch,
  ProbeAnswer,
  ProbeResult,
} from '../store.js';
import {
  isPromiseLike,
  StoreChannel,
  type StoreStatus,
  type StoreStatusEvent,
} from '../store-channel.js';
import { memoryStore } from '../stores/memory.js';
import type { BreakerTelemetry } from '../telemetry.js';
import type { BreakerController } from './controller.js';

export type { StoreStatus, StoreStatusEvent } from '../store-channel.js';

/** Without pushes from the store, a breaker that heard nothing re-reads this often at most. */
const RESYNC_FACTOR = 10;
const MIN_RESYNC_MS = 1000;

/** The link between one breaker's controller and its store. */
export class StoreSync {
  /** Whether the subscription and the timer were started (at the first call, or `connect()`). */
  started = false;
  /** The first store answer, while it is pending: calls wait for it rather than guess. */
  firstSync: Promise<void> | undefined;
  /** The flush or read the timer started, while it runs. */
  inFlightSync: Promise<void> | undefined;
  private closed = false;
  private readonly name: string;
  private readonly rules: BreakerRules;
  private readonly clock: Clock;
  private readonly onStoreError: OnStoreError;
  private readonly syncIntervalMs: number;
  private readonly resyncMs: number;
  private readonly controller: BreakerController;
  private readonly view: CachedView;
  private readonly pending: LocalCounts;
  private readonly telemetry: BreakerTelemetry;
  private readonly storeStatus: Listeners<StoreStatusEvent>;
  private readonly binding: BreakerBinding;
  private readonly channel: StoreChannel;
  private readonly replica = randomUUID();
  private probeCounter = 0;
  private answerSeq = 0;
  private local: BreakerBinding | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    resolved: ResolvedOptions<unknown>,
    controller: BreakerController,
    storeStatus: Listeners<StoreStatusEvent>,
  ) {
    this.name = resolved.name;
    this.rules = resolved.rules;
    this.clock = resolved.clock;
    this.onStoreError = resolved.onStoreError;
    this.syncIntervalMs = resolved.syncIntervalMs;
    this.resyncMs = Math.max(MIN_RESYNC_MS, resolved.syncIntervalMs * RESYNC_FACTOR);
    this.controller = controller;
    this.view = controller.view;
    this.pending = controller.pending;
    this.telemetry = controller.telemetry;
    this.storeStatus = storeStatus;
    this.binding = resolved.store.bind(resolved.name, resolved.rules);
    this.channel = new StoreChannel(resolved.store.kind, resolved.storeDeadlineMs, {
      operationDone: (operation, durationMs) =>
        this.telemetry.storeOperation(operation, durationMs),
      operationFailed: (operation) => this.telemetry.storeError(operation),
      statusChanged: (event) => this.storeStatusChanged(event),
    });
    const now = this.clock.now();
    if (resolved.initialState !== undefined) {
      const seed = seedFromSnapshot(resolved.initialState, now);
      // The seed applies at once, so the first calls already respect a carried-over open state,
      // even before an asynchronous store answers.
      controller.applySeed(seed, now);
      this.firstSync = this.settleAnswer(
        this.storeCall(
          'seed',
          () => this.binding.seed(seed, now),
          (b) => b.seed(seed, now),
          this.currentViewFallback,
        ),
      );
    } else {
      this.firstSync = this.settleAnswer(
        this.storeCall(
          'read',
          () => this.binding.read(now),
          (b) => b.read(now),
          this.currentViewFallback,
        ),
      );
    }
    // A replica joining an open fleet must not let calls through before it has heard of it: the
    // first calls wait for the first answer (bounded by the store deadline), later ones never do.
    this.firstSync?.then(() => {
      this.firstSync = undefined;
    });
  }

  /** Whether the store answers (`'healthy'`) or the breaker applies `onStoreError`. */
  get status(): StoreStatus {
    return this.channel.status;
  }

  /** What degraded the store, while it is degraded. */
  get lastError(): StoreError | undefined {
    return this.channel.lastError;
  }

  /** Runs a store operation through the channel, with the fallback `onStoreError` chose. */
  private storeCall<T>(
    operation: string,
    invoke: () => MaybePromise<T>,
    onLocal: (binding: BreakerBinding) => MaybePromise<T>,
    otherwise: (error: StoreError) => MaybePromise<T>,
  ): MaybePromise<T> {
    return this.channel.run(operation, invoke, (error) =>
      this.onStoreError === 'local' ? onLocal(this.localBinding()) : otherwise(error),
    );
  }

  private readonly currentViewFallback = (): BreakerView => this.controller.currentView();

  private readonly probeFallback = (): ProbeAnswer => ({
    decision: this.onStoreError === 'fail-closed' ? 'reject' : 'admit',
    view: this.controller.currentView(),
  });

  /** The in-process stand-in used while the store is down and `onStoreError` is `'local'`. */
  private localBinding(): BreakerBinding {
    if (this.local === undefined) {
      this.local = memoryStore().bind(this.name, this.rules);
      this.local.seed(this.controller.seedOfView(), this.clock.now());
    }
    return this.local;
  }

  flush(): Promise<void> | undefined {
    const now = this.pending.at;
    const batch = this.pending.take();
    if (batch === undefined) return undefined;
    const replica = this.replica;
    if (this.channel.status === 'healthy') {
      // The common case, without the closures of storeCall(): a synchronous store answers here.
      let answer: MaybePromise<BreakerView>;
      try {
        answer = this.binding.record(batch, replica, now);
      } catch (error) {
        return this.settleAnswer(
          this.channel.failed('record', error, this.recordFallback(batch, now)),
        );
      }
      if (!isPromiseLike(answer)) {
        this.applyAnswer(answer);
        return undefined;
      }
      return this.settleAnswer(
        this.channel.settle('record', answer, this.recordFallback(batch, now)),
      );
    }
    return this.settleAnswer(
      this.storeCall(
        'record',
        () => this.binding.record(batch, replica, now),
        (b) => b.record(batch, replica, now),
        this.currentViewFallback,
      ),
    );
  }

  /** What a failed flush answers, per `onStoreError`. */
  private recordFallback(
    batch: OutcomeBatch,
    now: number,
  ): (error: StoreError) => MaybePromise<BreakerView> {
    return () =>
      this.onStoreError === 'local'
        ? this.localBinding().record(batch, this.replica, now)
        : this.controller.currentView();
  }

  refresh(): Promise<void> {
    const now = this.clock.now();
    const answer = this.storeCall(
      'read',
      () => this.binding.read(now),
      (b) => b.read(now),
      this.currentViewFallback,
    );
    return this.settleAnswer(answer) ?? Promise.resolve();
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
        // The channel answers failures with a fallback view; only a fallback that itself throws
        // gets here, and it must not fail the call that triggered the sync.
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
    return this.storeCall(
      'acquire_probe',
      () => this.binding.acquireProbe(token, now),
      (b) => b.acquireProbe(token, now),
      this.probeFallback,
    );
  }

  /** Ends a probe lease with the probe's result, and applies the store's answer. */
  releaseProbe(token: string, result: ProbeResult, now: number): Promise<void> | undefined {
    return this.settleAnswer(
      this.storeCall(
        'release_probe',
        () => this.binding.releaseProbe(token, result, now),
        (b) => b.releaseProbe(token, result, now),
        this.currentViewFallback,
      ),
    );
  }

  /** Runs `isolate()`, `reset()` or `disable()`: a store failure rejects it rather than falling back. */
  async command(command: BreakerCommand): Promise<void> {
    if (!this.started) this.start();
    const now = this.clock.now();
    const answer = this.storeCall(
      'command',
      () => this.binding.command(command, now),
      (b) => b.command(command, now),
      (error) => {
        throw error;
      },
    );
    const seq = ++this.answerSeq;
    const view = isPromiseLike(answer) ? await answer : answer;
    this.controller.applyView(view, seq);
  }

  start(): void {
    this.started = true;
    if (this.closed) return;
    if (this.binding.subscribe !== undefined) {
      this.unsubscribe = this.binding.subscribe(
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

  private tick(): void {
    if (this.inFlightSync !== undefined) return;
    let sync: Promise<void> | undefined;
    if (this.pending.size > 0) sync = this.flush();
    else {
      const stale = this.clock.now() - this.view.lastSyncAt >= this.resyncMs;
      if (this.binding.subscribe === undefined || this.channel.status === 'degraded' || stale)
        sync = this.refresh();
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

  private storeStatusChanged(event: StoreStatusEvent): void {
    if (event.status === 'healthy') {
      // The store is authoritative again: accept its next answer whatever its version, and drop
      // the stand-in so a later outage starts from the then current state.
      this.view.forgetVersion();
      this.local = undefined;
    }
    this.telemetry.storeStatus(event.status);
    if (this.storeStatus.active) this.storeStatus.emit(event);
  }
}
