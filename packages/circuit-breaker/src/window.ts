/**
 * The shared outcome window inside a record. Time windows keep one entry per bucket
 * (`floor(now / bucketMs)`), rotated lazily whenever the record is touched, so no timer runs per
 * breaker. Count windows keep one entry per flushed batch and drop the oldest calls beyond the
 * window size; a partly dropped batch loses its failures and slow calls in proportion, which is
 * exact when batches hold one call (the memory store) and close otherwise.
 *
 * The Redis script (stores/redis-script.ts) implements the same arithmetic in Lua; the contract
 * suite keeps both in step.
 */
import type { BreakerRecord } from './record.js';
import type { BreakerRules } from './store.js';

/** Drops the buckets of a time window that have fallen out of it at `now`. */
export function expireWindow(record: BreakerRecord, rules: BreakerRules, now: number): void {
  if (rules.windowKind !== 'time') return;
  const oldestLiveBucket = Math.floor(now / rules.bucketMs) - rules.windowSize + 1;
  const win = record.win;
  let dropped = 0;
  while (dropped < win.length && (win[dropped]![0] ?? 0) < oldestLiveBucket) dropped++;
  if (dropped === 0) return;
  for (const entry of win.splice(0, dropped))
    subtractTotals(record, entry[1] ?? 0, entry[2] ?? 0, entry[3] ?? 0);
}

/** Adds counts to the window at `now`. */
export function addToWindow(
  record: BreakerRecord,
  rules: BreakerRules,
  now: number,
  successes: number,
  failures: number,
  slowCalls: number,
): void {
  if (successes + failures === 0) return;
  const tot = record.tot;
  tot[0] = (tot[0] ?? 0) + successes;
  tot[1] = (tot[1] ?? 0) + failures;
  tot[2] = (tot[2] ?? 0) + slowCalls;
  if (rules.windowKind === 'time') {
    const bucket = Math.floor(now / rules.bucketMs);
    const last = record.win[record.win.length - 1];
    if (last !== undefined && last[0] === bucket) {
      last[1] = (last[1] ?? 0) + successes;
      last[2] = (last[2] ?? 0) + failures;
      last[3] = (last[3] ?? 0) + slowCalls;
    } else {
      record.win.push([bucket, successes, failures, slowCalls]);
    }
    return;
  }
  record.win.push([successes, failures, slowCalls]);
  trimCountWindow(record, rules.windowSize);
}

function trimCountWindow(record: BreakerRecord, size: number): void {
  const win = record.win;
  let excess = (record.tot[0] ?? 0) + (record.tot[1] ?? 0) - size;
  while (excess > 0 && win.length > 0) {
    const oldest = win[0]!;
    const [successes = 0, failures = 0, slow = 0] = oldest;
    const calls = successes + failures;
    if (calls <= excess) {
      win.shift();
      subtractTotals(record, successes, failures, slow);
      excess -= calls;
      continue;
    }
    const kept = calls - excess;
    const keptFailures = Math.floor((failures * kept) / calls + 0.5);
    const keptSlow = Math.floor((slow * kept) / calls + 0.5);
    const keptSuccesses = kept - keptFailures;
    subtractTotals(record, successes - keptSuccesses, failures - keptFailures, slow - keptSlow);
    oldest[0] = keptSuccesses;
    oldest[1] = keptFailures;
    oldest[2] = keptSlow;
    excess = 0;
  }
}

function subtractTotals(
  record: BreakerRecord,
  successes: number,
  failures: number,
  slow: number,
): void {
  const tot = record.tot;
  tot[0] = Math.max(0, (tot[0] ?? 0) - successes);
  tot[1] = Math.max(0, (tot[1] ?? 0) - failures);
  tot[2] = Math.max(0, (tot[2] ?? 0) - slow);
}

/** Empties the window. */
export function clearWindow(record: BreakerRecord): void {
  record.win = [];
  record.tot = [0, 0, 0];
}
