/** What the short nemesis tests read off a scenario's report. */
import type { CheckResult } from '../../nemesis/checker.js';
import type { ScenarioReport } from '../../nemesis/scenario.js';

/** The verdict of `invariant` in `report`; throws when the scenario did not judge it. */
export function result(report: ScenarioReport, invariant: string): CheckResult {
  const found = report.results.find((check) => check.invariant === invariant);
  if (found === undefined) throw new Error(`No verdict for ${invariant}`);
  return found;
}

/** The run's seed, faults and every violation with its history: the message of a failed expect. */
export function summary(report: ScenarioReport): string {
  return `${report.scenario} seed ${report.seed}, faults ${JSON.stringify(report.faults)}:\n${report.details}`;
}
