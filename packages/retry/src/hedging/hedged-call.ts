/**
 * One hedged call, as `hedge()` runs it: the attempts it started, the timer that starts the next
 * one, and the outcome it settles once.
 */
import {
  abortableSignal,
  type Clock,
  childAbortController,
  type ExecuteOptions,
} from '@breakwater/core';
import { HedgeLostError } from '../errors.js';
import type { HedgeContext } from '../hedge.js';
import { ATTR_ATTEMPT, EVENT_HEDGE, type HedgeInstruments } from '../telemetry.js';

/** What every call of one hedge policy shares, resolved once by `hedge()`. */
export interface HedgeSettings {
  readonly delayMs: number;
  readonly maxHedges: number;
  readonly clock: Clock;
  readonly instruments: HedgeInstruments;
}

/** The state of one hedged call: its attempts, its hedge timer and its outcome. */
export class HedgedCall<T> {
  readonly promise: Promise<T>;
  private resolve!: (value: T) => void;
  private reject!: (error: unknown) => void;
  private readonly attempts: { controller: AbortController; dispose(): void }[] = [];
  private running = 0;
  private settled = false;
  private timer: AbortController | undefined;
  private readonly onCallerAbort = () => {
    const reason: unknown = this.callerSignal?.reason;
    this.finish(false, reason, 0, reason);
  };
  private readonly callerSignal: AbortSignal | undefined;

  constructor(
    private readonly settings: HedgeSettings,
    private readonly fn: (ctx: HedgeContext) => T | PromiseLike<T>,
    options: ExecuteOptions | undefined,
  ) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // An outer policy's never-aborted signal is no signal: nothing listens to it.
    const signal = abortableSignal(options?.signal);
    this.callerSignal = signal;
    if (signal?.aborted) {
      this.settled = true;
      this.reject(signal.reason);
      return;
    }
    signal?.addEventListener('abort', this.onCallerAbort, { once: true });
    if (settings.delayMs === 0) {
      for (let i = 0; i <= settings.maxHedges && !this.settled; i++) this.launch();
    } else {
      this.launch();
      this.scheduleHedge();
    }
  }

  private get canHedge(): boolean {
    return this.attempts.length <= this.settings.maxHedges;
  }

  private launch(): void {
    const number = this.attempts.length + 1;
    const attempt = childAbortController(this.callerSignal);
    this.attempts.push(attempt);
    this.running++;
    if (number > 1) {
      const { instruments } = this.settings;
      instruments.hedges.add(1, instruments.base);
      instruments.telemetry.addSpanEvent(EVENT_HEDGE, {
        ...instruments.base,
        [ATTR_ATTEMPT]: number,
      });
    }
    let pending: T | PromiseLike<T>;
    try {
      pending = this.fn({ signal: attempt.controller.signal, hedge: number - 1 });
    } catch (error) {
      pending = Promise.reject(error);
    }
    Promise.resolve(pending).then(
      (value) => this.onAttemptSuccess(number, value),
      (error: unknown) => this.onAttemptFailure(error),
    );
  }

  private scheduleHedge(): void {
    if (this.settled || !this.canHedge) return;
    const timer = new AbortController();
    this.timer = timer;
    this.settings.clock.sleep(this.settings.delayMs, timer.signal).then(
      () => {
        if (this.timer !== timer || this.settled) return;
        this.timer = undefined;
        this.launch();
        this.scheduleHedge();
      },
      // Cancelled: the call settled or a failure started the next hedge early.
      () => {},
    );
  }

  private cancelTimer(): void {
    const timer = this.timer;
    this.timer = undefined;
    timer?.abort();
  }

  private onAttemptSuccess(number: number, value: T): void {
    this.running--;
    if (this.settled) return;
    if (number > 1) {
      const { instruments } = this.settings;
      instruments.wins.add(1, instruments.base);
    }
    this.finish(true, value, number);
  }

  private onAttemptFailure(error: unknown): void {
    this.running--;
    if (this.settled) return;
    if (this.canHedge) {
      // Waiting out the delay would only add latency: the failed attempt frees its slot now.
      this.cancelTimer();
      this.launch();
      this.scheduleHedge();
      return;
    }
    if (this.running === 0) this.finish(false, error);
  }

  /**
   * Settles the call once; `winner` is the 1-based number of the attempt that succeeded (0: none). `abortReason` (the caller's reason, or a `HedgeLostError` for the
   * losers of a win) is given to attempts still running; it is passed explicitly because this
   * may run from the caller's abort listener before the attempts' own listeners have fired.
   */
  private finish(ok: boolean, value: unknown, winner = 0, abortReason?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.cancelTimer();
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
    const reason = winner > 0 ? new HedgeLostError(winner - 1) : abortReason;
    for (const [index, attempt] of this.attempts.entries()) {
      attempt.dispose();
      if (reason !== undefined && index + 1 !== winner) attempt.controller.abort(reason);
    }
    if (ok) this.resolve(value as T);
    else this.reject(value);
  }
}
