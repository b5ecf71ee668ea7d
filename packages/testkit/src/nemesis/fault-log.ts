/**
 * The nemesis's own entries in the history: when each fault started and ended, whom it hit, and
 * whether the store was unreachable or lost its state meanwhile.
 */
import type { HistoryEvent, HistoryRecorder } from './history.js';

/** What a fault entry says (the `value` of a `fault` event). */
export interface FaultEntry {
  /** The fault's name, e.g. `proxy-drop`, `store-pause`, `replica-pause`. */
  fault: string;
  /** `start` once the fault is in force; `end` just before it is healed. */
  phase: 'start' | 'end';
  /** `'store'`, or the index of the replica it hits. */
  target: 'store' | number;
  /** Whether the target replica(s) cannot get any answer from the store while it lasts. */
  unreachable: boolean;
  /** Whether the store forgets its state (a restart without persistence). */
  losesState?: boolean;
  /** Parameters (latency, bandwidth, duration, …). */
  detail?: Record<string, unknown>;
}

/** A fault's span in the history. */
export interface FaultInterval extends Omit<FaultEntry, 'phase'> {
  /** Monotonic time the fault was in force (recorded after it was applied). */
  start: number;
  /** Monotonic time it was healed (recorded before), or +Infinity if never. */
  end: number;
  /** The `start` event. */
  event: HistoryEvent;
}

/** Records a fault's start (after applying it) and returns a function that records its end. */
export function recordFault(
  history: HistoryRecorder,
  entry: Omit<FaultEntry, 'phase'>,
): () => void {
  history.info('fault', { ...entry, phase: 'start' } satisfies FaultEntry);
  return () => history.info('fault', { ...entry, phase: 'end' } satisfies FaultEntry);
}

/** The faults of a history, as intervals. */
export function faultIntervals(history: HistoryEvent[]): FaultInterval[] {
  const open = new Map<string, FaultInterval>();
  const result: FaultInterval[] = [];
  for (const event of history) {
    if (event.f !== 'fault' || event.process !== -1) continue;
    const entry = event.value as FaultEntry;
    const key = `${entry.fault}:${String(entry.target)}`;
    if (entry.phase === 'start') {
      const { phase: _phase, ...rest } = entry;
      const interval = { ...rest, start: event.mono, end: Number.POSITIVE_INFINITY, event };
      open.set(key, interval);
      result.push(interval);
    } else {
      const interval = open.get(key);
      if (interval !== undefined) interval.end = event.mono;
      open.delete(key);
    }
  }
  return result;
}

/** Whether a fault hits `replica` (a store fault hits every replica). */
export function hits(interval: FaultInterval, replica: number): boolean {
  return interval.target === 'store' || interval.target === replica;
}
