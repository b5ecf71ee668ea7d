/**
 * Renews the leases of running calls. One timer per bulkhead, not one per call: it ticks every
 * quarter of `renewIntervalMs` while any lease is held and renews the leases that are due, so a
 * call shorter than the renew interval costs no timer at all.
 *
 * Precision where it matters: while a renewal is in flight, a timer is armed for the lease's end
 * (known locally as the send time of the last successful acquire or renewal plus the TTL, which is
 * never later than the store's own expiry), less a safety margin. If no renewal succeeded by then,
 * the call's signal aborts with a `LeaseLostError` — before the store can hand the permit to anyone
 * else.
 *
 * Timers are not enough after a pause of the process (SIGSTOP, a long GC, a debugger, a blocked
 * event loop): when it resumes, the call's own next step may run before any timer of the keeper.
 * So the lease's validity is also checked synchronously, by {@link LeaseKeeper.checkLapsed}, each
 * time the call reads `ctx.signal`, `signal.aborted` or `signal.throwIfAborted()` (see
 * `held-permit.ts`), and at each tick before renewing: a lease past its local end (less the margin)
 * is declared lost at once, and the read sees the signal aborted.
 */
import { type Clock, systemClock } from '@breakwater/core';
import { LeaseLostError } from '../errors.js';
import type { HeldPermit, LeaseHolder } from './held-permit.js';
import { type CancelTimer, schedule } from './timer.js';

/**
 * The time lease ends are measured on: with the system clock, the monotonic
 * `performance.timeOrigin + performance.now()`, so a step of the wall clock (an NTP correction)
 * neither ends leases early nor stretches them; a test's clock as it is.
 */
export function leaseClock(clock: Clock): () => number {
  if (clock !== systemClock) return () => clock.now();
  const origin = performance.timeOrigin;
  return () => origin + performance.now();
}

/**
 * How long before its local end a lease is treated as lapsed: a quarter of `renewIntervalMs` (the
 * keeper's tick), but never more than half the time between a renewal falling due and the lease's
 * end, so that a lease whose renewals succeed never lapses.
 */
export function leaseSafetyMarginMs(leaseTtlMs: number, renewIntervalMs: number): number {
  return Math.min(renewIntervalMs / 4, (leaseTtlMs - renewIntervalMs) / 2);
}

/** What the keeper needs from its bulkhead. */
export interface LeaseKeeperOptions {
  readonly name: string;
  /** Schedules the keeper's timers. */
  readonly clock: Clock;
  /** The time lease ends are measured on ({@link leaseClock}). */
  readonly now: () => number;
  readonly leaseTtlMs: number;
  readonly renewIntervalMs: number;
  /**
   * Renews one permit's lease (a block's renewal also resizes it): `true` extended, `false` gone,
   * `undefined` the store did not answer.
   */
  readonly renew: (permit: HeldPermit) => Promise<boolean | undefined>;
  /** The store error behind failing renewals, for the `LeaseLostError`'s cause. */
  readonly lastError: () => unknown;
  /** Called once per lost lease, after its call's signal aborted (telemetry). */
  readonly onLost: () => void;
}

/** Keeps leases alive and declares them lost. */
export class LeaseKeeper implements LeaseHolder {
  private readonly held = new Set<HeldPermit>();
  private cancelTick: CancelTimer | undefined;
  private readonly tickMs: number;
  /** See {@link leaseSafetyMarginMs}. */
  private readonly marginMs: number;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.tickMs = Math.max(1, options.renewIntervalMs / 4);
    this.marginMs = leaseSafetyMarginMs(options.leaseTtlMs, options.renewIntervalMs);
  }

  /**
   * Declares `permit`'s lease lost now, aborting its call's signal, if by local time it lapsed:
   * less than the safety margin is left of it, and no renewal extended it. Synchronous, one clock
   * read: it runs on every read of a fleet call's signal.
   */
  checkLapsed(permit: HeldPermit): void {
    if (this.options.now() >= permit.leaseEnd - this.marginMs && this.held.has(permit)) {
      this.lose(permit, this.options.lastError());
    }
  }

  hold(permit: HeldPermit): void {
    this.held.add(permit);
    if (this.cancelTick === undefined) this.arm();
  }

  /** Stops renewing `permit` (its call finished). */
  drop(permit: HeldPermit): void {
    this.held.delete(permit);
    permit.cancelLoss?.();
    permit.cancelLoss = undefined;
    if (this.held.size === 0) {
      this.cancelTick?.();
      this.cancelTick = undefined;
    }
  }

  private arm(): void {
    this.cancelTick = schedule(this.options.clock, this.tickMs, () => {
      this.cancelTick = undefined;
      this.tick();
      if (this.held.size > 0 && this.cancelTick === undefined) this.arm();
    });
  }

  private tick(): void {
    const now = this.options.now();
    for (const permit of this.held) {
      // A lease that lapsed while nothing ran (the process was paused) is not renewed: the store
      // may have handed it on already. (Deleting the current entry of a Set is safe in for-of.)
      if (now >= permit.leaseEnd - this.marginMs) {
        this.lose(permit, this.options.lastError());
      } else if (!permit.renewing && now - permit.renewedAt >= this.options.renewIntervalMs) {
        this.renew(permit, now);
      }
    }
  }

  private renew(permit: HeldPermit, sentAt: number): void {
    permit.renewing = true;
    permit.cancelLoss ??= schedule(
      this.options.clock,
      Math.max(0, permit.leaseEnd - this.marginMs - sentAt),
      () => this.lose(permit, this.options.lastError()),
    );
    void this.options.renew(permit).then((alive) => {
      permit.renewing = false;
      if (!this.held.has(permit)) return;
      if (alive === false) {
        this.lose(permit, undefined);
        return;
      }
      if (alive === true) {
        permit.renewedAt = sentAt;
        permit.leaseEnd = sentAt + this.options.leaseTtlMs;
        permit.cancelLoss?.();
        permit.cancelLoss = undefined;
      }
      // No answer: the loss timer stays armed for the lease's end; the next tick tries again.
    });
  }

  /**
   * Declares `permit`'s lease lost now (its store answered that it is gone), aborting its call's
   * signal — or, for a block, the signal of every call under it. Does nothing for a permit the
   * keeper no longer holds.
   */
  lose(permit: HeldPermit, cause: unknown): void {
    if (!this.held.has(permit)) return;
    this.drop(permit);
    const lease = permit.lease!;
    permit.lose(
      new LeaseLostError(
        `Bulkhead "${this.options.name}" lost its fleet permit (fencing token ${lease.fencingToken}); another replica may hold it now`,
        { policyName: this.options.name, fencingToken: lease.fencingToken, cause },
      ),
    );
    this.options.onLost();
  }
}
