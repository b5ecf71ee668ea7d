/**
 * What the opossum bridge (opossum-bridge.ts) needs beyond a breaker's public surface: opossum runs
 * the calls, so the breaker counts outcomes it did not see, and hands a half-open probe lease to
 * the bridge, which lets opossum run the probe.
 */
import type { ObservedBreaker } from '../circuit-breaker.js';
import type { ProbeResult } from '../store.js';
import { PROBE } from './controller.js';
import { BreakerPolicy } from './policy.js';

/** A breaker driven by the opossum bridge: what `observedBreaker()` returns. */
export class ObservedBreakerPolicy extends BreakerPolicy<never> implements ObservedBreaker {
  observe(failed: boolean, durationMs: number): void {
    if (!this.sync.started) this.sync.start();
    this.controller.telemetry.call(failed ? 'failure' : 'success', durationMs);
    void this.controller.count(failed, durationMs >= this.calls.slowCallMs, this.clock.now());
  }

  async acquireProbeLease(): Promise<string | undefined> {
    const sync = this.sync;
    if (!sync.started) sync.start();
    await sync.firstSync;
    const now = this.clock.now();
    const token = sync.nextProbeToken();
    const answer = await sync.acquireProbe(token, now);
    sync.applyAnswer(answer.view);
    if (answer.decision === 'probe') return token;
    return answer.decision === 'admit' ? 'closed' : undefined;
  }

  async releaseProbeLease(token: string, result: ProbeResult): Promise<void> {
    const now = this.clock.now();
    await this.sync.releaseProbe(token, result, now);
  }

  breakOver(): boolean {
    return this.controller.gate(this.clock.now()) === PROBE;
  }

  connect(): void {
    if (!this.sync.started) this.sync.start();
  }
}
