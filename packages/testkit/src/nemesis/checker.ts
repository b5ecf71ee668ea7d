/**
 * What a checker reports, and how a violation is shown: with the history around each event it
 * names, so a reader sees what the fleet and the nemesis were doing at the time.
 */
import type { HistoryEvent } from './history.js';

/** One broken invariant. */
export interface Violation {
  /** The invariant's name, e.g. `rate-limit/window`. */
  invariant: string;
  /** What was observed against what was allowed. */
  message: string;
  /** The events at fault (shown with their neighbours). */
  events: HistoryEvent[];
}

/** The verdict of one invariant over one history. */
export interface CheckResult {
  /** The invariant's name. */
  invariant: string;
  /** How many operations (or decisions) it judged. */
  checked: number;
  /** Every violation found; empty when the invariant held. */
  violations: Violation[];
  /** The worst value observed against the bound (e.g. most admitted in a window). */
  worst?: number;
  /** The bound it was judged against. */
  bound?: number;
  /** What the bound let through that the strict invariant would not, by reason (counts). */
  excused?: Record<string, number>;
  /** What the run gave the invariant to judge, by kind (e.g. pauses that caught a lease holder). */
  counts?: Record<string, number>;
}

/** A short, one-line rendering of an event. */
export function describeEvent(event: HistoryEvent, t0: number): string {
  const at = (event.mono - t0).toFixed(1).padStart(9);
  const who =
    event.process === -1 ? 'nemesis' : event.process === -2 ? 'resource' : `r${event.process}`;
  const token = event.token === undefined ? '' : ` token=${event.token}`;
  const value = event.value === undefined ? '' : ` ${JSON.stringify(event.value)}`;
  return `#${event.index ?? '?'} +${at} ms ${who.padEnd(7)} ${event.type.padEnd(6)} ${event.f}[${event.id}]${token}${value}`;
}

/**
 * Renders every violation with `around` events of history before and after each event it names
 * (the named events marked `>>`). Returns an empty string when there are none.
 */
export function formatViolations(
  history: HistoryEvent[],
  violations: Violation[],
  around = 4,
  maxShown = 20,
): string {
  if (violations.length === 0) return '';
  const t0 = history[0]?.mono ?? 0;
  const parts: string[] = [];
  for (const violation of violations.slice(0, maxShown)) {
    const marked = new Set(violation.events.map((event) => event.index));
    const shown = new Set<number>();
    for (const event of violation.events) {
      const index = event.index ?? 0;
      for (let i = Math.max(0, index - around); i <= index + around && i < history.length; i++) {
        shown.add(i);
      }
    }
    const lines = [...shown]
      .sort((a, b) => a - b)
      .map((i) => `${marked.has(i) ? '>>' : '  '} ${describeEvent(history[i]!, t0)}`);
    parts.push(`[${violation.invariant}] ${violation.message}\n${lines.join('\n')}`);
  }
  if (violations.length > maxShown) {
    parts.push(`… and ${violations.length - maxShown} more violation(s)`);
  }
  return parts.join('\n\n');
}
