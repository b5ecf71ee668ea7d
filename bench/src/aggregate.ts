/**
 * Numbers that hold (issue #18): a target counts as met only if it holds in every one of the last
 * three consecutive full runs. This module folds the comparisons of several runs into one: every
 * ratio becomes its median over the runs with the range (min–max) as its interval, and every
 * target says in how many runs it was met. Like comparison.ts, it only reads results.
 */
import type {
  ComparisonRow,
  PatternComparison,
  Ratio,
  Target,
  TargetCheck,
  Verdict,
} from './comparison.js';

/** How many consecutive full runs a target must hold in, and how many the page aggregates. */
export const RUNS_REQUIRED = 3;

/** A value over several runs. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** The value of each run that measured it, oldest first. */
  readonly values: readonly number[];
}

/** What a comparison row says over several runs. */
export interface RowRuns {
  /** Runs aggregated (including any in which the row was not measured). */
  readonly count: number;
  readonly speedup: Spread | undefined;
  readonly overheadRatio: Spread | undefined;
}

/** What a target says over several runs. */
export interface TargetRuns {
  /** Runs aggregated. */
  readonly count: number;
  /** Runs in which the target was met (a run that did not measure it did not meet it). */
  readonly metIn: number;
  /** The verdict of each run, oldest first. */
  readonly verdicts: readonly Verdict[];
  readonly measured: Spread | undefined;
}

/** The median (the mean of the two middle values for an even count), minimum and maximum. */
export function spreadOf(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, values };
}

/** A spread as a ratio: the median, with the range as its interval. */
function asRatio(spread: Spread | undefined): Ratio | undefined {
  return spread === undefined
    ? undefined
    : { value: spread.median, low: spread.min, high: spread.max };
}

function rowKey(row: ComparisonRow): string {
  return JSON.stringify([row.suiteId, row.ours.name, row.competitor.name]);
}

function targetKey(check: TargetCheck): string {
  return JSON.stringify([check.suiteId, check.caseName, check.versusName, goalOf(check.target)]);
}

function goalOf(target: Target): [string, number] {
  return target.metric === 'speedup'
    ? [target.metric, target.atLeast]
    : [target.metric, target.atMost];
}

/**
 * Folds the comparisons of several runs (oldest first) into one. The newest run decides which
 * rows and targets there are (a case renamed or removed since drops out); the others contribute
 * their values. A target is `met` only if it was met in every run, `missed` if some run measured
 * it and it was not met in all, and `unknown` if no run measured it.
 */
export function aggregateRuns(
  runs: readonly (readonly PatternComparison[])[],
): PatternComparison[] {
  const newest = runs[runs.length - 1];
  if (newest === undefined) return [];
  // Per run, its rows and targets by key: a run that lacks one (a failed suite) has a hole.
  const rowsOfRun = runs.map(
    (run) => new Map(run.flatMap((pattern) => pattern.rows.map((row) => [rowKey(row), row]))),
  );
  const checksOfRun = runs.map(
    (run) =>
      new Map(run.flatMap((pattern) => pattern.targets.map((check) => [targetKey(check), check]))),
  );
  const count = runs.length;
  return newest.map((pattern) => ({
    ...pattern,
    rows: pattern.rows.map((row) => {
      const all = rowsOfRun.map((rows) => rows.get(rowKey(row)));
      const speedup = spreadOf(all.flatMap((r) => (r?.speedup ? [r.speedup.value] : [])));
      const overheadRatio = spreadOf(
        all.flatMap((r) => (r?.overheadRatio ? [r.overheadRatio.value] : [])),
      );
      const runsOfRow: RowRuns = { count, speedup, overheadRatio };
      return {
        ...row,
        speedup: asRatio(speedup),
        overheadRatio: asRatio(overheadRatio),
        runs: runsOfRow,
      };
    }),
    targets: pattern.targets.map((check) => {
      const all = checksOfRun.map((checks) => checks.get(targetKey(check)));
      // A run that did not produce this target at all (a failed suite) did not meet it either.
      const verdicts = all.map((c): Verdict => c?.verdict ?? 'unknown');
      const metIn = verdicts.filter((verdict) => verdict === 'met').length;
      const measured = spreadOf(all.flatMap((c) => (c?.measured ? [c.measured.value] : [])));
      const verdict: Verdict =
        metIn === count ? 'met' : measured === undefined ? 'unknown' : 'missed';
      const runsOfTarget: TargetRuns = { count, metIn, verdicts, measured };
      return {
        ...check,
        measured: asRatio(measured),
        verdict,
        withinMargin: false,
        runs: runsOfTarget,
      };
    }),
  }));
}
