/**
 * What the state-machine and calls-and-controls tests share: breakers on the memory store with a
 * fake clock, closed after each test, and short ways to make calls that succeed or fail.
 */
import { fakeClock } from '@breakwater/testkit';
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import type { CircuitBreakerOptions } from '../options.js';

export const boom = new Error('boom');
export const ok = () => 'ok';
export const fail = (): never => {
  throw boom;
};

/** The breakers a test built; each file closes them after each test. */
export const open: CircuitBreaker<unknown>[] = [];

export function make<R = never>(options: CircuitBreakerOptions<R> = {}) {
  const clock = fakeClock(1_000_000);
  const breaker = circuitBreaker<R>({ clock, ...options });
  open.push(breaker as CircuitBreaker<unknown>);
  const transitions: string[] = [];
  breaker.onStateChange(({ from, to }) => transitions.push(`${from}->${to}`));
  return { clock, breaker, transitions };
}

export async function settle<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Makes one call per character of `outcomes`: `F` fails, anything else succeeds. */
export async function calls(breaker: CircuitBreaker<unknown>, outcomes: string): Promise<void> {
  for (const outcome of outcomes) {
    await settle(breaker.execute(outcome === 'F' ? fail : ok));
  }
}
