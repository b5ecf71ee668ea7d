/**
 * The backoff between attempts of DynamoDB's optimistic writes (a compare-and-set that lost, a
 * transaction cancelled by a concurrent one): a random delay in [0, min(maxDelayMs,
 * baseDelayMs × 2^(attempt−1))] — "full jitter", so writers that collided do not collide again in
 * lockstep.
 */
import type { Clock } from '../clock.js';

/** Backoff settings shared by `conditionalUpdate` and `transactWrite`. */
export interface ConflictBackoff {
  /** Ceiling of the first retry's delay, in milliseconds. */
  readonly baseDelayMs: number;
  /** Ceiling of every delay, in milliseconds. */
  readonly maxDelayMs: number;
}

/** Sleeps before the retry that follows `attempt` (1-based) failed; rejects if `signal` aborts. */
export async function backOff(
  attempt: number,
  backoff: ConflictBackoff,
  clock: Pick<Clock, 'sleep'>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const ceilingMs = Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** (attempt - 1));
  if (ceilingMs > 0) await clock.sleep(Math.random() * ceilingMs, signal);
}
