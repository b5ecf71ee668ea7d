/**
 * A client that knows nothing of the limiter but its response headers, and follows the IETF
 * httpapi RateLimit draft's client guidance: Retry-After first (it takes precedence), otherwise
 * never more than `r` units within `t` seconds — spent evenly over `t`, the only way a client can
 * keep to a pace finer than the draft's whole seconds — and with `r=0`, nothing for `t` seconds.
 * It either takes every response's fields as its new plan, or sticks to one response's plan until
 * all `r` units are sent. It schedules on whole microseconds and never early, as a timer would.
 */
import { fakeClock } from '@breakwater/testkit';
import { type AlgorithmName, rateLimiter, rateLimitHeaders } from '../index.js';

/** One limit the client runs against. */
export interface SimulatedLimit {
  readonly algorithm: AlgorithmName;
  readonly limit: number;
  readonly intervalMs: number;
  readonly burst: number;
}

/** What a run measured. */
export interface ClientRun {
  /** Requests admitted. */
  readonly admitted: number;
  /** Requests refused after the client had read a response (its first one goes out blind). */
  readonly denied: number;
  /** Whether the first request, sent before any header was read, was refused. */
  readonly firstDenied: boolean;
  /** Simulated milliseconds from the first request to the end of the run. */
  readonly durationMs: number;
}

/** Parses `"<name>";r=<n>;t=<n>` (one item, as `rateLimitHeaders` writes it). */
export function parseServiceLimit(field: string): { r: number; t: number } {
  const match = /^"(?:[^"\\]|\\.)*";r=(\d+);t=(\d+)$/.exec(field);
  if (!match) throw new Error(`Malformed RateLimit field: ${field}`);
  return { r: Number(match[1]), t: Number(match[2]) };
}

/** Where and how long the client runs. */
export interface RunOptions {
  /** Epoch milliseconds of the client's first request (whole). */
  readonly startMs: number;
  /** Simulated milliseconds the client runs for. */
  readonly durationMs: number;
  /** Someone else's burst before the client starts: `units` calls at once, `gapMs` before. */
  readonly foreign?: { readonly units: number; readonly gapMs: number } | undefined;
  /**
   * `'response'`: every response's `r` and `t` replace the plan (the next unit goes out `t/r`
   * seconds later). `'plan'`: the client sends all `r` units of an admitted response, `t/r`
   * seconds apart, without looking at the fields of those in between, and plans anew from the
   * last one; a refusal still ends the plan (Retry-After).
   * @default 'response'
   */
  readonly follow?: 'response' | 'plan' | undefined;
}

/**
 * Runs the client for `durationMs` of simulated time against a fresh limiter (memory store, fake
 * clock); the limiter may have served someone else's burst before.
 */
export async function runHeaderClient(
  limit: SimulatedLimit,
  options: RunOptions,
): Promise<ClientRun> {
  const clock = fakeClock(options.startMs - (options.foreign?.gapMs ?? 0));
  const limiter = rateLimiter({ name: 'api', ...limit, clock });
  for (let i = 0; i < (options.foreign?.units ?? 0); i++) await limiter.limit('k');
  const startUs = Math.round(options.startMs * 1000);
  const endUs = startUs + Math.round(options.durationMs * 1000);
  let nowUs = startUs;
  let admitted = 0;
  let denied = 0;
  let firstDenied = false;
  // The plan being followed: `planUnits` units, ⌈planUs / planUnits⌉ apart.
  let planUs = 0;
  let planUnits = 0;
  let sent = 0;
  for (let first = true; nowUs < endUs; first = false) {
    clock.set(nowUs / 1000);
    const decision = await limiter.limit('k');
    const headers = rateLimitHeaders(decision, limiter);
    const { r, t } = parseServiceLimit(headers.RateLimit);
    // `allowed` stands for the response's status: 429 or not.
    if (!decision.allowed) {
      if (first) firstDenied = true;
      else denied++;
      const retryAfter = headers['Retry-After'];
      if (retryAfter === undefined || !/^\d+$/.test(retryAfter)) {
        throw new Error(`A refusal without a valid Retry-After: ${String(retryAfter)}`);
      }
      if (Number(retryAfter) <= 0) throw new Error(`Retry-After sent the client back at once`);
      nowUs += Number(retryAfter) * 1e6;
      planUnits = 0;
      continue;
    }
    admitted++;
    sent++;
    if (options.follow !== 'plan' || sent >= planUnits) {
      if (t <= 0) throw new Error(`The headers sent the client back at once: ${headers.RateLimit}`);
      if (r === 0) {
        nowUs += t * 1e6;
        planUnits = 0;
        continue;
      }
      planUs = t * 1e6;
      planUnits = r;
      sent = 0;
    }
    nowUs += Math.ceil(planUs / planUnits);
  }
  return { admitted, denied, firstDenied, durationMs: options.durationMs };
}
