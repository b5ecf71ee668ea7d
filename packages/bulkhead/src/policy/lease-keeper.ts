/**
 * Renews the leases of running calls. One timer per bulkhead, not one per call: it ticks every
 * quarter of `renewIntervalMs` while any lease is held and renews the leases that are due, so a
 * call shorter than the renew interval costs no timer at all.
 *
 * Precision where it matters: while a renewal is in flight, a timer is armed for the lease's end
 * (known locally as the send time of the last successful acquire or renewal plus the TTL, which is
 * never later than the store's own expiry). If no renewal succeeded by then, the call's signal
 * aborts with a `LeaseLostError` — before the store can hand the permit to anyone else.
 */
import type { Clock } from '@breakwater/core';
import { LeaseLostError } from '../errors.js';
import type { Lease } from '../store.js';
import type { HeldPermit, LeaseHolder } from './held-permit.js';
import { type CancelTimer, schedule } from './timer.js';

/** What the keeper needs from its bulkhead. */
export interface LeaseKeeperOptions {
  readonly name: string;
  readonly clock: Clock;
  readonly leaseTtlMs: number;
  readonly renewIntervalMs: number;
  /** Renews one lease: `true` extended, `false` gone, `undefined` the store did not answer. */
  readonly renew: (lease: Lease) => Promise<boolean | undefined>;
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

  constructor(private readonly options: LeaseKeeperOptions) {
    this.tickMs = Math.max(1, options.renewIntervalMs / 4);
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
    const now = this.options.clock.now();
    for (const permit of this.held) {
      if (!permit.renewing && now - permit.renewedAt >= this.options.renewIntervalMs) {
        this.renew(permit, now);
      }
    }
  }

  private renew(permit: HeldPermit, sentAt: number): void {
    permit.renewing = true;
    permit.cancelLoss ??= schedule(this.options.clock, Math.max(0, permit.leaseEnd - sentAt), () =>
      this.lose(permit, this.options.lastError()),
    );
    void this.options.renew(permit.lease!).then((alive) => {
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

  private lose(permit: HeldPermit, cause: unknown): void {
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
