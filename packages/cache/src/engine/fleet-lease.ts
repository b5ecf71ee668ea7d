/**
 * Fleet leases: one replica of a fleet loads a missing key while the others wait for the value to
 * appear — woken by the bus, or re-checking with a bounded backoff — and take over if the lease
 * expires. The leases of running loads are kept alive by the {@link LeaseKeeper}; a load's write
 * releases its lease, or a failed load releases it here.
 */
import { randomUUID } from 'node:crypto';
import { type Clock, TimeoutError } from '@breakwater/core';
import type { ResolvedOptions } from '../options.js';
import type { LeaseResult } from '../store.js';
import type { BackgroundWrites } from './background-writes.js';
import { type Job, standIn } from './flight.js';
import type { KeyWaiters } from './key-waiters.js';
import type { L1Tier } from './l1-tier.js';
import type { L2Reader } from './l2-reader.js';
import type { L2Store } from './l2-store.js';
import { LeaseKeeper } from './lease-keeper.js';

const MAX_LEASE_POLL_MS = 1_000;
const FIRST_LEASE_POLL_MS = 25;

/** The fleet leases of one cache's loads. */
export class FleetLeases {
  private readonly clock: Clock;
  private readonly name: string;
  private readonly keeper: LeaseKeeper | undefined;

  /** @param waiters Callers waiting for another replica's load, woken by bus messages. */
  constructor(
    private readonly o: ResolvedOptions,
    private readonly ns: L2Store | undefined,
    private readonly l1: L1Tier | undefined,
    private readonly reader: L2Reader,
    private readonly waiters: KeyWaiters,
    private readonly background: BackgroundWrites,
  ) {
    this.clock = o.clock;
    this.name = o.name;
    this.keeper =
      ns === undefined || o.lease === undefined
        ? undefined
        : new LeaseKeeper(o.lease.ttlMs, o.clock, (key, token, ttlMs) =>
            ns.extendLease(key, token, ttlMs),
          );
  }

  /**
   * Takes the key's fleet lease, or waits for the replica holding it to publish the value.
   * Returns `done` when the flight has been answered without loading here.
   */
  async take(
    job: Job,
    initialVersion: number,
  ): Promise<{ done: boolean; token?: string; seenVersion: number; storeUsable: boolean }> {
    const ns = this.ns!;
    const key = job.key;
    const token = randomUUID();
    const leaseTtlMs = this.o.lease!.ttlMs;
    let seenVersion = initialVersion;
    let poll = FIRST_LEASE_POLL_MS;
    for (;;) {
      let result: LeaseResult;
      try {
        result = await ns.acquireLease(key, token, leaseTtlMs, seenVersion);
      } catch (error) {
        if (this.o.onStoreError === 'fail-closed' && !job.delivered) throw error;
        return { done: false, seenVersion, storeUsable: false };
      }
      if (result.status === 'acquired')
        return { done: false, token, seenVersion, storeUsable: true };
      if (result.status === 'changed') {
        seenVersion = result.current?.version ?? 0;
        const entry =
          result.current === undefined ? undefined : await this.reader.usable(result.current);
        const now = this.clock.now();
        if (entry !== undefined && now < entry.staleUntil) {
          // Another replica (or a `set`) wrote the key meanwhile: that is our answer.
          this.l1?.put(key, entry, job.flight);
          job.deliver({ entry, result: 'hit', tier: 'l2' });
          return { done: true, seenVersion, storeUsable: true };
        }
        if (entry !== undefined && now < entry.graceUntil) {
          job.candidate = entry;
          job.candidateTier = 'l2';
        }
        continue;
      }
      // Held by another replica. A refresh, or a flight that already served a stale value, can
      // leave the load to it.
      if (job.refresh || job.delivered) return { done: true, seenVersion, storeUsable: true };
      const waited = this.clock.now() - job.started;
      const { softTimeoutMs, hardTimeoutMs } = job.settings;
      const candidate = job.candidate;
      if (
        candidate !== undefined &&
        softTimeoutMs !== undefined &&
        waited >= softTimeoutMs &&
        this.clock.now() < candidate.graceUntil
      ) {
        job.deliver(standIn(candidate, job.candidateTier, this.clock.now()));
        return { done: true, seenVersion, storeUsable: true };
      }
      if (hardTimeoutMs !== undefined && waited >= hardTimeoutMs) {
        throw new TimeoutError(
          `Cache "${this.name}" waited ${hardTimeoutMs} ms for another replica to load the key`,
          { policyName: this.name, timeoutMs: hardTimeoutMs },
        );
      }
      let waitMs = Math.min(poll, result.ttlMs + 1);
      if (softTimeoutMs !== undefined && candidate !== undefined) {
        waitMs = Math.min(waitMs, Math.max(1, softTimeoutMs - waited));
      }
      if (hardTimeoutMs !== undefined)
        waitMs = Math.min(waitMs, Math.max(1, hardTimeoutMs - waited));
      poll = Math.min(poll * 2, MAX_LEASE_POLL_MS);
      await this.waiters.wait(key, waitMs);
    }
  }

  /** Keeps the lease of `key` alive while its loader runs. */
  keepAlive(key: string, token: string): void {
    this.keeper?.hold(key, token);
  }

  /** The loader is over: stop renewing the lease (the write that follows releases it). */
  stopKeepingAlive(key: string, token: string): void {
    this.keeper?.release(key, token);
  }

  /** Releases the lease of a load that will not write (in the background). */
  release(key: string, token: string): void {
    if (this.ns !== undefined) void this.background.track(this.ns.releaseLease(key, token));
  }

  /** Stops renewing leases for good. */
  close(): void {
    this.keeper?.close();
  }
}
