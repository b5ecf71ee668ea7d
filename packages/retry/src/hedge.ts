import {
  type Clock,
  childAbortController,
  type ExecuteOptions,
  type ExecutionContext,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  type Policy,
  systemClock,
} from '@breakwater/core';
import { HedgeLostError } from './errors.js';
import { ATTR_ATTEMPT, EVENT_HEDGE, type HedgeInstruments, hedgeInstruments } from './telemetry.js';

/** What a hedge policy hands to each attempt it starts. */
export interface HedgeContext extends ExecutionContext {
  /**
   * Aborts when the caller's signal aborts or another attempt won (the reason is then a
   * `HedgeLostError`). Pass it on so losing attempts stop working.
   */
  readonly signal: AbortSignal;
  /**
   * 0 for the primary attempt, 1 for the first hedge, … (Named apart from retry's `attempt`, so
   * that inside `pipeline(retry(...), hedge(...))` `fn` sees both.)
   */
  readonly hedge: number;
}

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /**
   * How long to wait for an attempt before starting the next one, in milliseconds (finite, ≥ 0).
   * With 0 every attempt starts at once (parallel requests, first answer wins). A good value is
   * the dependency's p90–p99 latency: most calls then never hedge.
   */
  delayMs: number;
  /**
   * How many extra attempts may be started (an integer ≥ 1), so at most `maxHedges + 1` run.
   * @default 1
   */
  maxHedges?: number;
  /**
   * Name reported in telemetry.
   * @default 'hedge'
   */
  name?: string;
  /**
   * Time source for `delayMs`; tests pass a fake clock.
   * @default systemClock
   */
  clock?: Clock;
}

/** A policy that races extra attempts against a slow one; see {@link hedge}. */
export interface HedgePolicy extends Policy<HedgeContext> {
  /** The policy's name. */
  readonly name: string;
  /** The delay before each hedge, in milliseconds. */
  readonly delayMs: number;
  /** The most extra attempts one call may start. */
  readonly maxHedges: number;
  /**
   * Part of the lifecycle every Breakwater policy shares. Hedging keeps no connection and no timer
   * between calls (each call's hedge timer ends with the call), so it resolves at once.
   */
  close(): Promise<void>;
  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Default of {@link HedgeOptions.maxHedges}. */
export const DEFAULT_MAX_HEDGES = 1;

/**
 * Hedging: when an attempt has not finished after `delayMs`, start another one (up to
 * `maxHedges`), and take whichever succeeds first; the other attempts' signals abort with a
 * `HedgeLostError`. An attempt that fails starts the next hedge at once instead of waiting. The
 * call rejects only when every attempt failed (with the last failure) or the caller aborted (with
 * `signal.reason`). Late results and failures of losing attempts are swallowed, never unhandled.
 *
 * Hedge only idempotent operations: several attempts may reach the dependency.
 *
 * @example
 * const fast = hedge({ delayMs: 50, maxHedges: 2 });
 * const item = await fast.execute(({ signal }) => cache.get(key, { signal }));
 */
export function hedge(options: HedgeOptions): HedgePolicy {
  expectObject('options', options);
  const delayMs = expectNonNegative('delayMs', options.delayMs);
  const maxHedges =
    options.maxHedges === undefined
      ? DEFAULT_MAX_HEDGES
      : expectInteger('maxHedges', options.maxHedges);
  const name = options.name === undefined ? 'hedge' : expectNonEmptyString('name', options.name);
  const clock = options.clock ?? systemClock;
  expectFunction('clock.sleep', clock.sleep);
  const settings: HedgeSettings = {
    delayMs,
    maxHedges,
    clock,
    instruments: hedgeInstruments(name),
  };
  return {
    name,
    delayMs,
    maxHedges,
    execute: (fn, executeOptions) => new HedgedCall(settings, fn, executeOptions).promise,
    close: resolved,
    [Symbol.asyncDispose]: resolved,
  };
}

const resolved = (): Promise<void> => Promise.resolve();

interface HedgeSettings {
  readonly delayMs: number;
  readonly maxHedges: number;
  readonly clock: Clock;
  readonly instruments: HedgeInstruments;
}

/** The state of one hedged call: its attempts, its hedge timer and its outcome. */
class HedgedCall<T> {
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
    const signal = options?.signal;
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
