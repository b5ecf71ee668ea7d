/**
 * The local deny cache: after the store denies a key until T, this replica answers that key itself
 * until T, so a client hammering a blocked key costs no round trips. It never admits anything, so
 * it can only make the limiter stricter: if another replica resets the key, this one keeps denying
 * until T at the latest.
 *
 * Bounded: at most `maxKeys` entries, the oldest dropped first (a Map keeps insertion order), and
 * expired entries are dropped when looked up or when they reach the front.
 *
 * Times are on the limiter's (wall) clock. An entry looked up at a time before it was remembered
 * means the clock went back (an NTP step, the end of a forward jump): its `until` is then later than
 * the store ever said, so it is dropped and the store asked again rather than denying for as long
 * as the jump.
 */
import type { RateLimitDecision } from '../decision.js';
import { wholeMs } from './describe-decision.js';

interface DeniedEntry {
  /** Local clock time at which the store's denial was remembered. */
  since: number;
  /** Local clock time until which the key is denied. */
  until: number;
  /** The smallest cost denied: a cheaper call may fit earlier, so it still asks the store. */
  cost: number;
  /** Local clock time at which the key's allowance is full again. */
  resetAt: number;
  limit: number;
  intervalMs: number;
}

/** A bounded map of keys denied until a known time. */
export class DenyCache {
  private readonly entries = new Map<string, DeniedEntry>();

  constructor(private readonly maxKeys: number) {}

  /** Number of keys held; for tests. */
  get size(): number {
    return this.entries.size;
  }

  /** The cached denial of `key` for `cost` at local time `now`, if there is one. */
  lookup(key: string, cost: number, now: number): RateLimitDecision | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.until || now < entry.since) {
      this.entries.delete(key);
      return undefined;
    }
    if (cost < entry.cost) return undefined;
    return {
      allowed: false,
      limit: entry.limit,
      intervalMs: entry.intervalMs,
      remaining: 0,
      retryAfterMs: Math.max(1, wholeMs(entry.until - now)),
      resetAfterMs: wholeMs(entry.resetAt - now),
      source: 'local-cache',
    };
  }

  /** Remembers a denial the store just made, at local time `now`. */
  remember(key: string, cost: number, decision: RateLimitDecision, now: number): void {
    this.entries.delete(key);
    this.entries.set(key, {
      since: now,
      until: now + decision.retryAfterMs,
      cost,
      resetAt: now + decision.resetAfterMs,
      limit: decision.limit,
      intervalMs: decision.intervalMs,
    });
    if (this.entries.size > this.maxKeys) {
      for (const oldest of this.entries.keys()) {
        this.entries.delete(oldest);
        break;
      }
    }
  }

  /** Forgets `key` (after a reset from this replica). */
  forget(key: string): void {
    this.entries.delete(key);
  }

  /**
   * Forgets every key: the limits changed (a `perReplica` limit followed the fleet), and a denial
   * decided under the old ones may be stricter than the new ones.
   */
  clear(): void {
    this.entries.clear();
  }
}
