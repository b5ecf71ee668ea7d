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
  /**
   * Whether the store forgets its state (a restart without persistence): everything it had
   * acknowledged before the fault began.
   */
  losesState?: boolean;
  /**
   * Whether the store may forget the writes it acknowledged while the fault was in force, and only
   * those (a replica promoted without waiting to catch up: what it had not received, and what the
   * old primary acknowledged before it learned it was demoted). The fault is recorded from just
   * before the primary's offset the replica is let catch up to was read, until the old primary
   * knew it was demoted. Narrower than {@link losesState}.
   */
  losesWrites?: boolean;
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

/**
 * What a fault may have made the store forget: the writes it acknowledged from `from` to `to`. The
 * loss takes effect somewhere between the fault's start and `to` (for a restart without
 * persistence both are its start; for a forced failover the span is the fault's).
 */
export interface StateLoss {
  /** The fault that may have lost them. */
  fault: FaultInterval;
  /** Acknowledged at or after this monotonic time (-Infinity: everything before `to`)… */
  from: number;
  /** …and at or before this one. */
  to: number;
}

/** The state losses among `faults` (those recorded with `losesState` or `losesWrites`). */
export function stateLosses(faults: FaultInterval[]): StateLoss[] {
  const losses: StateLoss[] = [];
  for (const fault of faults) {
    if (fault.losesState) {
      losses.push({ fault, from: Number.NEGATIVE_INFINITY, to: fault.start });
    } else if (fault.losesWrites) {
      losses.push({ fault, from: fault.start, to: fault.end });
    }
  }
  return losses;
}

/**
 * Whether `loss` may have taken effect within `[from, to]`: the store may have forgotten, by some
 * moment of it, what it had acknowledged.
 */
export function lossWithin(loss: StateLoss, from: number, to: number): boolean {
  return loss.fault.start <= to && loss.to >= from;
}

/**
 * Info events the nemesis records once a failover's new primary takes writes (with its port):
 * until then, only the primary that died could have acknowledged a write.
 */
const PROMOTIONS: ReadonlySet<string> = new Set(['sentinel-failover']);

/**
 * `loss`, with the acknowledgements it may take stretched to the promotion, when the nemesis
 * recorded one: a failover's fault is recorded before the primary is cut off from its replica and
 * killed, so the writes the primary acknowledged in between (and that its replica never received)
 * are recorded by their replicas after the fault's start.
 */
export function throughPromotion(loss: StateLoss, history: HistoryEvent[]): StateLoss {
  if (!loss.fault.losesState) return loss;
  const promoted = history.find(
    (event) =>
      event.process === -1 &&
      PROMOTIONS.has(event.f) &&
      event.mono >= loss.fault.start &&
      event.mono <= loss.fault.end,
  );
  return promoted === undefined ? loss : { ...loss, to: Math.max(loss.to, promoted.mono) };
}

/** Whether a write acknowledged at `at` may have been lost with `loss`. */
export function lostWith(loss: StateLoss, at: number): boolean {
  return at >= loss.from && at <= loss.to;
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
