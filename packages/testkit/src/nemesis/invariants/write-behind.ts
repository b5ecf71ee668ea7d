/**
 * Write-behind invariant over the replicas' acknowledged writes and the rows the shared resource
 * (the "database") recorded: every acknowledged write reaches the database at its version or a
 * newer one of its key, once the fleet has drained.
 */
import type { CheckResult, Violation } from '../checker.js';
import { faultIntervals, lostWith, stateLosses, throughPromotion } from '../fault-log.js';
import type { HistoryEvent } from '../history.js';

/** What the write-behind checker allows. */
export interface WriteBehindBound {
  /**
   * Whether a loss of the store's state (a restart without persistence, a failover of a queue
   * acknowledging on the primary) may take acknowledged writes with it: those acknowledged before
   * the loss began and not yet in the database then are excused, as the queue documents. `false`
   * for a queue that must lose nothing (`durability: 'wait'` across a failover).
   */
  excuseStateLoss: boolean;
}

/**
 * Every `write` that ended `ok` with `{ key, version }` reaches the database at `version` or
 * above: some `act` of kind `persist` recorded its key at a version ≥ it. With
 * {@link WriteBehindBound.excuseStateLoss}, a write the loss may have taken (acknowledged before
 * a state loss began — for a failover, before its new primary was promoted: see
 * {@link throughPromotion} — or while a loss of the latest writes was in force: see
 * `stateLosses`) whose key the database did not have at its version by the loss's end is excused
 * (`lost with the store's state`). _Worst_ is the number of writes lost beyond the bound (bound 0).
 */
export function checkWritesPersisted(
  history: HistoryEvent[],
  bound: WriteBehindBound,
): CheckResult {
  // Per key, the rows the database received, in the resource's order (its single clock).
  const rows = new Map<string, { mono: number; version: number }[]>();
  for (const event of history) {
    if (event.f !== 'act') continue;
    const value = event.value as { kind?: string; key?: string; version?: number };
    if (value.kind !== 'persist' || value.key === undefined || value.version === undefined) {
      continue;
    }
    let list = rows.get(value.key);
    if (list === undefined) {
      list = [];
      rows.set(value.key, list);
    }
    list.push({ mono: event.mono, version: value.version });
  }
  const losses = stateLosses(faultIntervals(history)).map((loss) =>
    throughPromotion(loss, history),
  );
  const violations: Violation[] = [];
  const excused: Record<string, number> = {};
  let checked = 0;
  for (const event of history) {
    if (event.f !== 'write' || event.type !== 'ok') continue;
    const { key, version } = event.value as { key: string; version: number };
    checked++;
    const keyRows = rows.get(key) ?? [];
    if (keyRows.some((row) => row.version >= version)) continue;
    // Lost with the store's state: acknowledged before a loss, not in the database when it began.
    const loss = losses.find(
      (candidate) =>
        lostWith(candidate, event.mono) &&
        !keyRows.some((row) => row.mono <= candidate.to && row.version >= version),
    );
    if (bound.excuseStateLoss && loss !== undefined) {
      const reason = `lost with the store's state (${loss.fault.fault})`;
      excused[reason] = (excused[reason] ?? 0) + 1;
      continue;
    }
    const newest = keyRows.reduce((max, row) => Math.max(max, row.version), -1);
    violations.push({
      invariant: 'write-behind/acknowledged-persisted',
      message:
        `r${event.process} write of ${key} at version ${version} was acknowledged and never ` +
        `reached the database (newest row of ${key}: ${newest < 0 ? 'none' : newest})` +
        (loss === undefined ? '' : `; a ${loss.fault.fault} followed it`),
      events: loss === undefined ? [event] : [event, loss.fault.event],
    });
  }
  return {
    invariant: 'write-behind/acknowledged-persisted',
    checked,
    violations,
    worst: violations.length,
    bound: 0,
    ...(Object.keys(excused).length > 0 ? { excused } : {}),
  };
}
