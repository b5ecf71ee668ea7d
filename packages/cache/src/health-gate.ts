/**
 * A small circuit breaker on the L2 store. After `failureThreshold` consecutive failures it opens
 * and the cache stops calling the store for `breakDurationMs` — calls fail at once and take the
 * `onStoreError` path — then lets one probe through; the probe's success closes it, its failure
 * opens it again. It lives here rather than in @breakwater/circuit-breaker so the cache does not
 * depend on that package for a dozen lines of state.
 */
import type { Clock } from '@breakwater/core';

/** The gate's state. */
export type GateState = 'closed' | 'open' | 'half-open';

/** The health gate of one cache's L2 store. */
export class HealthGate {
  private state: GateState = 'closed';
  private failures = 0;
  private openUntil = 0;

  /**
   * @param onChange Called when the gate opens (`degraded`) or closes again (`healthy`).
   */
  constructor(
    private readonly failureThreshold: number,
    private readonly breakDurationMs: number,
    private readonly clock: Clock,
    private readonly onChange: (status: 'healthy' | 'degraded') => void,
  ) {}

  /** The current state. */
  get current(): GateState {
    return this.state;
  }

  /** Whether a store call may go ahead now. In half-open state, only the first asker gets through. */
  allow(): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && this.clock.now() >= this.openUntil) {
      this.state = 'half-open';
      return true;
    }
    return false;
  }

  /** Reports a store call that answered. */
  success(): void {
    this.failures = 0;
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.onChange('healthy');
    }
  }

  /** Reports a store call that failed or missed its deadline. */
  failure(): void {
    this.failures++;
    if (
      this.state === 'half-open' ||
      (this.state === 'closed' && this.failures >= this.failureThreshold)
    ) {
      const wasClosed = this.state === 'closed';
      this.state = 'open';
      this.openUntil = this.clock.now() + this.breakDurationMs;
      if (wasClosed) this.onChange('degraded');
    }
  }
}
