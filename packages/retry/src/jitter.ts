/**
 * Jitter spreads the retries of many clients that failed at the same moment, so they do not come
 * back in lockstep and knock the recovering dependency over again (see the README, "Choosing a
 * backoff"). The modes follow the AWS Architecture Blog's "Exponential Backoff And Jitter".
 */

/** Jitter applicable to any backoff: none, full (0 … ceiling) or equal (ceiling/2 … ceiling). */
export type Jitter = 'none' | 'full' | 'equal';

/** Jitter of {@link exponential}: the {@link Jitter} modes plus `'decorrelated'`. */
export type ExponentialJitter = Jitter | 'decorrelated';

/** The accepted values of {@link Jitter}. */
export const JITTER_MODES: readonly Jitter[] = ['none', 'full', 'equal'];

/** The accepted values of {@link ExponentialJitter}. */
export const EXPONENTIAL_JITTER_MODES: readonly ExponentialJitter[] = [
  'none',
  'full',
  'equal',
  'decorrelated',
];

/** A source of uniform random numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * Draws a delay for one of the ceiling-based modes.
 * - `none`: the ceiling itself.
 * - `full`: uniform in [0, ceiling) — the widest spread, hence the least contention.
 * - `equal`: uniform in [ceiling/2, ceiling) — keeps a guaranteed minimum wait.
 */
export function jittered(mode: Jitter, ceilingMs: number, random: RandomSource): number {
  switch (mode) {
    case 'none':
      return ceilingMs;
    case 'full':
      return random() * ceilingMs;
    default: {
      const half = ceilingMs / 2;
      return half + random() * half;
    }
  }
}

/**
 * Decorrelated jitter: uniform in [base, 3 × previous), capped. Each delay grows from the last one
 * actually drawn rather than from the attempt number, which de-synchronises clients further.
 */
export function decorrelated(
  baseMs: number,
  capMs: number,
  lastDelayMs: number,
  random: RandomSource,
): number {
  const upper = Math.max(baseMs, lastDelayMs) * 3;
  return Math.min(capMs, baseMs + random() * (upper - baseMs));
}
