/**
 * The breaker's state machine as pure functions over a {@link BreakerRecord}: the single
 * definition of every transition, shared by the memory store and the DynamoDB store (which runs it
 * between a read and a conditional write). The Redis script mirrors it in Lua.
 *
 * Every operation first settles what time alone changes, then applies its own change. Each
 * function mutates the record in place and returns whether the state changed.
 */
import type { BreakerRecord } from './record.js';
import type {
  BreakerCommand,
  BreakerRules,
  BreakerSeed,
  OutcomeBatch,
  ProbeDecision,
  ProbeResult,
} from './store.js';
import { addToWindow, clearWindow, expireWindow } from './window.js';

/** The break duration after the `opens`-th opening in a row. */
export function breakDurationMs(rules: BreakerRules, opens: number): number {
  const table = rules.breakDurationsMs;
  return table[Math.min(Math.max(opens, 1), table.length) - 1] ?? 0;
}

function enter(record: BreakerRecord, state: BreakerRecord['state'], now: number): void {
  record.state = state;
  record.ver += 1;
  record.since = now;
  record.probes = {};
  record.psucc = 0;
}

/** Opens the breaker for the break duration of its next consecutive opening. */
export function open(record: BreakerRecord, rules: BreakerRules, now: number): void {
  enter(record, 'open', now);
  record.opens += 1;
  record.until = now + breakDurationMs(rules, record.opens);
  record.consec = 0;
  record.rep = {};
  clearWindow(record);
}

/** Closes the breaker with an empty window. */
export function close(record: BreakerRecord, now: number): void {
  enter(record, 'closed', now);
  record.until = 0;
  record.opens = 0;
  record.consec = 0;
  record.rep = {};
  clearWindow(record);
}

/**
 * Applies what time alone changes: a half-open state older than `halfOpenMaxDurationMs` re-opens,
 * an isolation with an end becomes an open breaker whose break is over (the next call probes),
 * expired probe leases and quorum reports are dropped, and old time buckets rotate out.
 */
export function settle(record: BreakerRecord, rules: BreakerRules, now: number): boolean {
  let changed = false;
  if (record.state === 'half-open' && now - record.since >= rules.halfOpenMaxDurationMs) {
    open(record, rules, now);
    changed = true;
  } else if (record.state === 'isolated' && record.until > 0 && now >= record.until) {
    const until = record.until;
    enter(record, 'open', now);
    record.until = until;
    changed = true;
  }
  // Leases exist only while half-open, reports only with a quorum: skip the scans otherwise, the
  // memory store runs this on every failure.
  if (record.state === 'half-open') {
    for (const token in record.probes) {
      if ((record.probes[token] ?? 0) <= now) delete record.probes[token];
    }
  }
  if (rules.quorumReplicas > 1) {
    for (const replica in record.rep) {
      if ((record.rep[replica] ?? 0) <= now - rules.quorumWindowMs) delete record.rep[replica];
    }
  }
  expireWindow(record, rules, now);
  return changed;
}

/** Whether the window and the quorum call for opening a closed breaker. */
export function shouldTrip(record: BreakerRecord, rules: BreakerRules): boolean {
  if (rules.quorumReplicas > 1 && Object.keys(record.rep).length < rules.quorumReplicas)
    return false;
  if (rules.consecutiveFailures > 0 && record.consec >= rules.consecutiveFailures) return true;
  const [successes = 0, failures = 0, slow = 0] = record.tot;
  const calls = successes + failures;
  if (calls === 0 || calls < rules.minimumThroughput) return false;
  if (rules.failureRatio > 0 && failures / calls >= rules.failureRatio) return true;
  return rules.slowCallRatio > 0 && slow / calls >= rules.slowCallRatio;
}

/** Merges a replica's outcome batch; opens the breaker when a trip condition holds. */
export function recordBatch(
  record: BreakerRecord,
  rules: BreakerRules,
  now: number,
  batch: OutcomeBatch,
  replica: string,
): boolean {
  let changed = settle(record, rules, now);
  if (record.state !== 'closed' && record.state !== 'disabled') return changed;
  addToWindow(record, rules, now, batch.successes, batch.failures, batch.slowCalls);
  record.consec =
    batch.successes > 0 ? batch.trailingFailures : record.consec + batch.trailingFailures;
  if (batch.failures > 0 && rules.quorumReplicas > 1) record.rep[replica] = now;
  if (record.state === 'closed' && shouldTrip(record, rules)) {
    open(record, rules, now);
    changed = true;
  }
  return changed;
}

/** Grants, refuses or waves through a call while the breaker may not be closed. */
export function acquireProbe(
  record: BreakerRecord,
  rules: BreakerRules,
  now: number,
  token: string,
): { decision: ProbeDecision; changed: boolean } {
  let changed = settle(record, rules, now);
  switch (record.state) {
    case 'closed':
    case 'disabled':
      return { decision: 'admit', changed };
    case 'isolated':
      return { decision: 'reject', changed };
    case 'open':
      if (now < record.until) return { decision: 'reject', changed };
      enter(record, 'half-open', now);
      record.until = 0;
      changed = true;
      break;
    case 'half-open':
      break;
  }
  if (Object.keys(record.probes).length >= rules.halfOpenMaxCalls)
    return { decision: 'reject', changed };
  record.probes[token] = now + rules.probeLeaseMs;
  return { decision: 'probe', changed };
}

/** Ends a probe. Unknown tokens (an expired lease, a past half-open) change nothing. */
export function releaseProbe(
  record: BreakerRecord,
  rules: BreakerRules,
  now: number,
  token: string,
  result: ProbeResult,
): boolean {
  const changed = settle(record, rules, now);
  if (record.state !== 'half-open' || !(token in record.probes)) return changed;
  delete record.probes[token];
  if (result === 'failure') {
    open(record, rules, now);
    return true;
  }
  if (result === 'success') {
    record.psucc += 1;
    if (record.psucc >= rules.halfOpenSuccessThreshold) {
      close(record, now);
      return true;
    }
  }
  return changed;
}

/** Applies a manual control. Always counts as a transition, so every replica hears of it. */
export function applyCommand(
  record: BreakerRecord,
  rules: BreakerRules,
  now: number,
  command: BreakerCommand,
): true {
  settle(record, rules, now);
  switch (command.type) {
    case 'isolate':
      enter(record, 'isolated', now);
      record.until = command.forMs > 0 ? now + command.forMs : 0;
      break;
    case 'reset':
      close(record, now);
      break;
    case 'disable':
      enter(record, 'disabled', now);
      record.until = 0;
      record.consec = 0;
      record.rep = {};
      clearWindow(record);
      break;
  }
  return true;
}

/** Builds a record from a seed (the `initialState` of a breaker). */
export function seedRecord(
  record: BreakerRecord,
  rules: BreakerRules,
  now: number,
  seed: BreakerSeed,
): void {
  record.state = seed.state === 'half-open' ? 'open' : seed.state;
  record.opens = seed.consecutiveOpens;
  record.consec = seed.consecutiveFailures;
  record.until = 0;
  if (record.state === 'open') record.until = now + Math.max(0, seed.remainingMs);
  if (record.state === 'isolated' && seed.remainingMs >= 0) record.until = now + seed.remainingMs;
  if (record.state === 'closed' || record.state === 'disabled') {
    addToWindow(record, rules, now, seed.calls - seed.failures, seed.failures, seed.slowCalls);
  }
  record.ver = Math.max(1, seed.version ?? 1);
  record.since = now;
}
