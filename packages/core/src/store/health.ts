/**
 * The one degraded-mode rule of every store-backed policy. After `failureThreshold` consecutive
 * failures the store is `degraded`: no call waits on it any more (each takes its `onStoreError`
 * answer at once), and one probe every `probeIntervalMs` decides when it is back. A success of any
 * operation — a probe, or a call that was already in flight — makes it `healthy` again.
 *
 * The probe runs in the background (an unref'd timer: it never keeps a process alive) when the
 * store gives one; a store without one lets a single real call through per interval instead.
 */
import type { StoreError } from '../errors.js';
import type { StoreStatus } from './status.js';

/** Settings and hooks of a {@link StoreHealth}. */
export interface StoreHealthOptions {
  /** Consecutive failures after which the store is degraded (≥ 1). */
  readonly failureThreshold: number;
  /** While degraded, the time between probes, in milliseconds. */
  readonly probeIntervalMs: number;
  /**
   * Probes the store once, already bounded by the store deadline; reports its outcome through
   * {@link StoreHealth.succeeded} / {@link StoreHealth.failed} itself. Without it, one real call
   * per interval is the probe.
   */
  readonly probe?: (() => Promise<unknown>) | undefined;
  /** Called when the status changes: with the error that degraded the store, or without. */
  readonly onChange: (status: StoreStatus, error: StoreError | undefined) => void;
}

/** The health of one policy's store. */
export class StoreHealth {
  private currentStatus: StoreStatus = 'healthy';
  private lastFailure: StoreError | undefined;
  private failures = 0;
  /** A real call is on its way as the probe (stores without a background probe). */
  private probing = false;
  private nextProbeAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: StoreHealthOptions) {}

  /** `'healthy'`, or `'degraded'` after `failureThreshold` consecutive failures. */
  get status(): StoreStatus {
    return this.currentStatus;
  }

  /** The last failure, until a success clears it. */
  get lastError(): StoreError | undefined {
    return this.lastFailure;
  }

  /** Whether nothing needs resetting on a success: the hot path's cheap check. */
  get clean(): boolean {
    return this.failures === 0 && this.currentStatus === 'healthy';
  }

  /**
   * Whether a call may go to the store now: always while healthy; while degraded, only as the
   * probe of a store without a background probe, once per interval.
   */
  admits(): boolean {
    if (this.currentStatus === 'healthy') return true;
    if (this.options.probe !== undefined && !this.closed) return false;
    if (this.probing || performance.now() < this.nextProbeAt) return false;
    this.probing = true;
    return true;
  }

  /** The store answered. */
  succeeded(): void {
    this.failures = 0;
    this.probing = false;
    if (this.currentStatus === 'degraded') {
      this.currentStatus = 'healthy';
      this.lastFailure = undefined;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.options.onChange('healthy', undefined);
      return;
    }
    this.lastFailure = undefined;
  }

  /** The store failed or missed its deadline. */
  failed(error: StoreError): void {
    this.lastFailure = error;
    this.probing = false;
    this.failures++;
    this.nextProbeAt = performance.now() + this.options.probeIntervalMs;
    if (this.currentStatus === 'healthy' && this.failures >= this.options.failureThreshold) {
      this.currentStatus = 'degraded';
      this.schedule();
      this.options.onChange('degraded', error);
    }
  }

  /** A call admitted as the probe ended without an answer either way (its caller left). */
  abandoned(): void {
    this.probing = false;
  }

  /** Stops the background probe. Later probing, if needed, goes through real calls. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.options.probe === undefined || this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(this.runProbe, this.options.probeIntervalMs);
    // A degraded store must not keep a process alive that has nothing else to do.
    this.timer.unref();
  }

  private readonly runProbe = (): void => {
    this.timer = undefined;
    if (this.currentStatus !== 'degraded' || this.closed) return;
    this.options.probe!().then(
      () => this.rescheduleIfDegraded(),
      () => this.rescheduleIfDegraded(),
    );
  };

  private rescheduleIfDegraded(): void {
    if (this.currentStatus === 'degraded') this.schedule();
  }
}
