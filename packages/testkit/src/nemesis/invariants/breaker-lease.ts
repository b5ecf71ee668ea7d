/**
 * Breaker invariant about a prober paused past its probe lease: the outcome it reports when it
 * resumes, after the store's lease has lapsed, moves nothing. The store's design says so (a
 * release whose token is no longer among the record's leases — expired, or from a past half-open
 * period — changes nothing, see `releaseProbe` in packages/circuit-breaker/src/machine.ts), and
 * the replicas' `probe-call` records (recording-breaker-store.ts) show what each call answered.
 */
import type { CheckResult, Violation } from '../checker.js';
import type { HistoryEvent } from '../history.js';
import type { ProbeCall } from '../recording-breaker-store.js';
import { holderPauses } from './lease-pauses.js';

/** What bounds a probe lease's life, for {@link checkStaleProbeOutcomes}. */
export interface ProbeLeaseBound {
  /** The breaker's `halfOpen.probeLeaseMs`. */
  probeLeaseMs: number;
  /** Slack between the store's expiry of a lease and the replicas' clock. @default 10 */
  slackMs?: number;
}

/** The state a probe's outcome moves a half-open fleet to, if it moves it. */
const MOVES_TO: Record<string, string> = { failure: 'open', success: 'closed' };

/**
 * A probe outcome reported past its lease moves nothing: a release sent later than
 * `probeLeaseMs` after the store granted its lease (the grant's answer: the store set the expiry
 * before answering) must not be the call that moved the record to the state its outcome asks for.
 * It was, when its answer names that state at a record version (and generation) no other call,
 * of any replica, sent before that answer arrived had been answered with — then no one else can
 * have made the transition. (A call sent in that window and answered with the same version is
 * taken for the cause: the check can miss such a stale transition, never accuse a legal one.)
 * `checked` counts the outcomes reported past their lease; `counts` the pauses that caught a
 * prober under its lease. `worst` is the number of stale outcomes that moved the fleet (bound 0).
 */
export function checkStaleProbeOutcomes(
  history: HistoryEvent[],
  bound: ProbeLeaseBound,
): CheckResult {
  const slack = bound.slackMs ?? 10;
  const grants = new Map<string, HistoryEvent>();
  const releases: { event: HistoryEvent; call: ProbeCall }[] = [];
  // Who was answered with each record version, by `generation:version`.
  const sightings = new Map<string, { event: HistoryEvent; call: ProbeCall }[]>();
  for (const event of history) {
    if (event.f !== 'probe-call') continue;
    const call = event.value as ProbeCall;
    const version = `${call.generation}:${call.version}`;
    const list = sightings.get(version) ?? [];
    list.push({ event, call });
    sightings.set(version, list);
    if (call.call === 'acquire') grants.set(`${event.pid}:${call.token}`, event);
    else if (call.call === 'release') releases.push({ event, call });
  }
  const violations: Violation[] = [];
  let checked = 0;
  for (const release of releases) {
    const { call, event } = release;
    const grant = grants.get(`${event.pid}:${call.token}`);
    if (grant === undefined || call.result === undefined || !(call.result in MOVES_TO)) continue;
    const late = call.askedAt - (grant.mono + bound.probeLeaseMs);
    if (late <= slack) continue;
    checked++;
    if (call.state !== MOVES_TO[call.result]) continue;
    const others = (sightings.get(`${call.generation}:${call.version}`) ?? []).filter(
      (other) => other.event !== event && other.call.askedAt <= event.mono,
    );
    if (others.length > 0) continue;
    violations.push({
      invariant: 'breaker/stale-probe-outcome',
      message:
        `r${event.process} reported its probe's ${call.result} ${late.toFixed(0)} ms after its ` +
        `lease (token ${call.token}) had lapsed, and the store moved the fleet to ${call.state} ` +
        `(version ${call.version}) on it`,
      events: [grant, event],
    });
  }
  return {
    invariant: 'breaker/stale-probe-outcome',
    checked,
    violations,
    worst: violations.length,
    bound: 0,
    counts: { 'pauses of a prober under its lease': holderPauses(history, 'probe-start').length },
  };
}
