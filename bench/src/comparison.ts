/**
 * Breakwater against the libraries users would pick instead, per pattern: the numbers behind
 * `bench/RESULTS.md` and `bench/results/ratios.svg`.
 *
 * Suites mark their cases with a {@link CaseRole} and attach {@link Target}s (the goals the
 * issues set); this module pairs every `ours` case with every `competitor` case of its suite,
 * computes the ratios and checks the targets. It only reads results: nothing here measures.
 */
import type { RowRuns, TargetRuns } from './aggregate.js';
import type { CaseMeasurement, CaseResult, Suite, SuiteResult } from './harness.js';

/**
 * The part a case plays in the comparison. `ours`: a Breakwater case (normally the one main case
 * of its suite); `competitor`: a library users would pick instead.
 */
export type CaseRole = 'ours' | 'competitor';

/**
 * A performance goal for one case, compared with another case of the same suite (`versus`, a
 * case name; omitted: the suite's baseline). Three metrics, matching how the issues state goals:
 *
 * - `overhead`: what this case adds to the bare call ÷ what `versus` adds
 *   (`mean − baseline mean` of each). "Overhead ≤ 1/4 of opossum's" is `{ atMost: 0.25 }`.
 * - `time`: mean time of this case ÷ mean time of `versus`. "An L2 hit costs ≤ 1.15× a raw GET"
 *   is `{ metric: 'time', atMost: 1.15 }` with the raw GET as baseline.
 * - `speedup`: operations per second of this case ÷ those of `versus` (the same as `versus`'s
 *   mean time ÷ this case's). "Decisions/s ≥ 2× rate-limiter-flexible" is `{ atLeast: 2 }`.
 * - `parts`: what this case adds to the bare call ÷ the sum of what the `parts` cases add: a
 *   composition against its parts alone. "A pipeline costs at most 1.5× the sum of its policies
 *   alone" is `{ metric: 'parts', parts: ['retry() alone', …], atMost: 1.5 }`.
 * - `added`: mean time of this case − mean time of `versus`, in nanoseconds: what one feature
 *   adds to a call. "A recording OTel SDK adds ≤ 100 ns per breaker call" is
 *   `{ metric: 'added', versus: 'breakwater circuitBreaker()', atMost: 100 }`.
 * - `count`: one of the counts the case reports (`BenchCase.counts`), not a time. "≤ 0.1
 *   store round trips per call" is `{ metric: 'count', count: 'store round trips per call',
 *   atMost: 0.1 }`.
 */
export type Target =
  | {
      readonly metric: 'overhead' | 'time' | 'added';
      readonly versus?: string;
      /** A ratio for `overhead` and `time`; nanoseconds for `added`. */
      readonly atMost: number;
      /** The issue that sets the goal. */
      readonly issue?: number;
    }
  | {
      readonly metric: 'parts';
      /** The cases whose overheads add up to the reference. */
      readonly parts: readonly string[];
      readonly versus?: undefined;
      readonly atMost: number;
      /** The issue that sets the goal. */
      readonly issue?: number;
    }
  | {
      readonly metric: 'count';
      /** The name of the count, as the case reports it. */
      readonly count: string;
      readonly versus?: undefined;
      readonly atMost: number;
      /** The issue that sets the goal. */
      readonly issue?: number;
    }
  | {
      readonly metric: 'speedup';
      readonly versus?: string;
      readonly atLeast: number;
      /** The issue that sets the goal. */
      readonly issue?: number;
    };

/** A ratio with its 95 % interval, when both sides were measured and the ratio is meaningful. */
export interface Ratio {
  readonly value: number;
  /** Lower and upper bound from the two margins of error (first-order error propagation). */
  readonly low: number;
  readonly high: number;
}

/** One Breakwater case against one competitor, from the same suite and run. */
export interface ComparisonRow {
  readonly suiteId: string;
  /** The part of the suite id after the pattern: `success` for `circuit-breaker/success`. */
  readonly scenario: string;
  readonly ours: CaseResult;
  readonly competitor: CaseResult;
  /** Competitor's mean time ÷ ours (= our ops/s ÷ theirs). Above 1: Breakwater is faster. */
  readonly speedup: Ratio | undefined;
  /**
   * What ours adds to the bare call ÷ what the competitor adds. Below 1: Breakwater adds less.
   * Undefined when the competitor's overhead is not measurably above zero.
   */
  readonly overheadRatio: Ratio | undefined;
  /**
   * Set when the row folds several runs (aggregate.ts): `speedup` and `overheadRatio` are then
   * medians with the range over the runs as their interval.
   */
  readonly runs?: RowRuns;
}

/** How a target fared in this run. */
export type Verdict = 'met' | 'missed' | 'unknown';

/** One target checked against this run. */
export interface TargetCheck {
  readonly suiteId: string;
  readonly scenario: string;
  /** The case the target belongs to. */
  readonly caseName: string;
  /** The case it is compared with (the baseline's name when the target names none). */
  readonly versusName: string;
  readonly target: Target;
  /** The measured value of the target's metric; undefined when it could not be computed. */
  readonly measured: Ratio | undefined;
  /** Judged on the mean of this run. */
  readonly verdict: Verdict;
  /** The target lies inside the measured interval: another run may well say the opposite. */
  readonly withinMargin: boolean;
  /**
   * Set when the check folds several runs (aggregate.ts): `measured` is then the median with the
   * range as its interval, and `verdict` is `met` only if every run met the target.
   */
  readonly runs?: TargetRuns;
}

/** Everything the report shows for one pattern (`circuit-breaker`, `rate-limit`, …). */
export interface PatternComparison {
  /** The suite id prefix: `circuit-breaker`. */
  readonly pattern: string;
  /** Human name: `Circuit breaker`. */
  readonly title: string;
  /** The suites of this pattern that take part in the comparison, in run order. */
  readonly suites: readonly SuiteResult[];
  readonly rows: readonly ComparisonRow[];
  readonly targets: readonly TargetCheck[];
}

/** `circuit-breaker/success` → `circuit-breaker`. */
export function patternOf(suiteId: string): string {
  const slash = suiteId.indexOf('/');
  return slash === -1 ? suiteId : suiteId.slice(0, slash);
}

/** `circuit-breaker/success` → `success`. */
export function scenarioOf(suiteId: string): string {
  const slash = suiteId.indexOf('/');
  return slash === -1 ? suiteId : suiteId.slice(slash + 1);
}

/** `circuit-breaker` → `Circuit breaker`. */
export function patternTitle(pattern: string): string {
  const words = pattern.replaceAll('-', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * `a ÷ b` with its interval. Relative errors add in quadrature (first order), which is accurate
 * while both margins are small next to the values; a denominator whose interval reaches zero has
 * no meaningful ratio.
 */
export function divide(a: number, aMoe: number, b: number, bMoe: number): Ratio | undefined {
  if (!(b > 0) || !Number.isFinite(a) || bMoe >= b) return undefined;
  const value = a / b;
  const relative = Math.hypot(a === 0 ? 0 : aMoe / a, bMoe / b);
  const spread = Math.abs(value) * relative;
  return { value, low: value - spread, high: value + spread };
}

/** Their mean ÷ our mean: how many times as many operations per second Breakwater does. */
export function speedupOf(ours: CaseResult, theirs: CaseResult): Ratio | undefined {
  if (!ours.ok || !theirs.ok) return undefined;
  return divide(theirs.meanNs, theirs.moeNs, ours.meanNs, ours.moeNs);
}

/** Our overhead ÷ theirs; undefined when theirs is not measurably above zero. */
export function overheadRatioOf(ours: CaseResult, theirs: CaseResult): Ratio | undefined {
  if (!ours.ok || !theirs.ok || ours.isBaseline || theirs.isBaseline) return undefined;
  return divide(ours.overheadNs, ours.overheadMoeNs, theirs.overheadNs, theirs.overheadMoeNs);
}

/** Our mean ÷ theirs: how many times as long one operation takes. */
export function timeRatioOf(ours: CaseResult, theirs: CaseResult): Ratio | undefined {
  if (!ours.ok || !theirs.ok) return undefined;
  return divide(ours.meanNs, ours.moeNs, theirs.meanNs, theirs.moeNs);
}

/** The value of a target's metric for `subject` against `versus`. */
export function measureTarget(
  target: Target,
  subject: CaseResult,
  versus: CaseResult,
): Ratio | undefined {
  switch (target.metric) {
    case 'overhead':
      if (versus.isBaseline) return undefined;
      return overheadRatioOf(subject, versus);
    case 'time':
      return timeRatioOf(subject, versus);
    case 'speedup':
      return speedupOf(subject, versus);
    case 'added':
      return addedOf(subject, versus);
    case 'count':
      return countOf(subject, target.count);
    case 'parts':
      return undefined;
  }
}

/** A count the case reported (exact: no interval); undefined when it reported none. */
export function countOf(subject: CaseResult, name: string): Ratio | undefined {
  const value = subject.ok ? subject.counts?.[name] : undefined;
  return value === undefined || !Number.isFinite(value)
    ? undefined
    : { value, low: value, high: value };
}

/** Our overhead ÷ the sum of the parts' overheads; undefined unless every part was measured. */
export function partsRatioOf(
  ours: CaseResult,
  parts: readonly (CaseResult | undefined)[],
): Ratio | undefined {
  if (!ours.ok || ours.isBaseline) return undefined;
  let sum = 0;
  let moeSquared = 0;
  for (const part of parts) {
    if (part === undefined || !part.ok) return undefined;
    sum += part.overheadNs;
    moeSquared += part.overheadMoeNs ** 2;
  }
  return divide(ours.overheadNs, ours.overheadMoeNs, sum, Math.sqrt(moeSquared));
}

/** Our mean − theirs, in nanoseconds, with the two margins combined. */
export function addedOf(ours: CaseResult, theirs: CaseResult): Ratio | undefined {
  if (!ours.ok || !theirs.ok) return undefined;
  const value = ours.meanNs - theirs.meanNs;
  const spread = Math.hypot(ours.moeNs, theirs.moeNs);
  return { value, low: value - spread, high: value + spread };
}

/** Met or missed on the mean; whether the goal lies inside the interval. */
export function judge(
  target: Target,
  measured: Ratio | undefined,
): { verdict: Verdict; withinMargin: boolean } {
  if (measured === undefined) return { verdict: 'unknown', withinMargin: false };
  const goal = target.metric === 'speedup' ? target.atLeast : target.atMost;
  const met = target.metric === 'speedup' ? measured.value >= goal : measured.value <= goal;
  return {
    verdict: met ? 'met' : 'missed',
    withinMargin: measured.low <= goal && goal <= measured.high,
  };
}

function baselineOf(suite: SuiteResult): CaseResult | undefined {
  return suite.cases.find((result) => result.isBaseline);
}

function targetChecks(suite: SuiteResult): TargetCheck[] {
  const baseline = baselineOf(suite);
  const checks: TargetCheck[] = [];
  for (const subject of suite.cases) {
    for (const target of subject.targets ?? []) {
      const versus =
        target.versus === undefined
          ? baseline
          : suite.cases.find((result) => result.name === target.versus);
      const measured =
        target.metric === 'parts'
          ? partsRatioOf(
              subject,
              target.parts.map((name) => suite.cases.find((result) => result.name === name)),
            )
          : versus === undefined
            ? undefined
            : measureTarget(target, subject, versus);
      checks.push({
        suiteId: suite.id,
        scenario: scenarioOf(suite.id),
        caseName: subject.name,
        versusName:
          target.metric === 'parts'
            ? target.parts.join(' + ')
            : target.metric === 'count'
              ? target.count
              : (versus?.name ?? target.versus ?? '(baseline)'),
        target,
        measured,
        ...judge(target, measured),
      });
    }
  }
  return checks;
}

function comparisonRows(suite: SuiteResult): ComparisonRow[] {
  const ours = suite.cases.filter((result) => result.role === 'ours');
  const competitors = suite.cases.filter((result) => result.role === 'competitor');
  return ours.flatMap((our) =>
    competitors
      .filter(
        (competitor) => our.pairsWith === undefined || our.pairsWith.includes(competitor.name),
      )
      .map((competitor) => ({
        suiteId: suite.id,
        scenario: scenarioOf(suite.id),
        ours: our,
        competitor,
        speedup: speedupOf(our, competitor),
        overheadRatio: overheadRatioOf(our, competitor),
      })),
  );
}

/**
 * Groups suite results by pattern and computes every comparison and target. A pattern with no
 * `ours`/`competitor` pair and no target (the core suites) is left out; so is a suite that
 * compares nothing.
 */
export function comparePatterns(results: readonly SuiteResult[]): PatternComparison[] {
  const byPattern = new Map<string, SuiteResult[]>();
  for (const suite of results) {
    const pattern = patternOf(suite.id);
    const list = byPattern.get(pattern) ?? [];
    list.push(suite);
    byPattern.set(pattern, list);
  }
  const patterns: PatternComparison[] = [];
  for (const [pattern, suites] of byPattern) {
    const taking = suites.filter(
      (suite) => comparisonRows(suite).length > 0 || targetChecks(suite).length > 0,
    );
    if (taking.length === 0) continue;
    patterns.push({
      pattern,
      title: patternTitle(pattern),
      suites: taking,
      rows: taking.flatMap(comparisonRows),
      targets: taking.flatMap(targetChecks),
    });
  }
  return patterns;
}

/**
 * Mistakes in a suite's comparison metadata: a target naming a case the suite does not have, an
 * `overhead` target against the baseline (whose overhead is zero by definition), a goal that is
 * not a positive number, or a baseline with a role. Checked before a suite runs.
 */
export function checkComparisons(suite: Suite): string[] {
  const problems: string[] = [];
  const names = new Set([suite.baseline.name, ...suite.cases.map((benchCase) => benchCase.name)]);
  if (suite.baseline.role !== undefined) {
    problems.push(`the baseline "${suite.baseline.name}" cannot have a role`);
  }
  const competitors = new Set(
    suite.cases.filter((benchCase) => benchCase.role === 'competitor').map((c) => c.name),
  );
  for (const benchCase of [suite.baseline, ...suite.cases]) {
    for (const name of benchCase.pairsWith ?? []) {
      if (benchCase.role !== 'ours') {
        problems.push(`"${benchCase.name}" has pairsWith but is not an \`ours\` case`);
      } else if (!competitors.has(name)) {
        problems.push(
          `"${benchCase.name}" pairs with "${name}", which is not a competitor of the suite`,
        );
      }
    }
    for (const target of benchCase.targets ?? []) {
      const where = `target of "${benchCase.name}"`;
      if (target.versus !== undefined && !names.has(target.versus)) {
        problems.push(
          `${where} compares with "${target.versus}", which is not a case of the suite`,
        );
      }
      if (target.versus === benchCase.name) problems.push(`${where} compares the case with itself`);
      if (target.metric === 'count' && benchCase.counts === undefined) {
        problems.push(`${where} judges the count "${target.count}", but the case reports none`);
      }
      if (target.metric === 'parts') {
        if (target.parts.length === 0) problems.push(`${where}: \`parts\` names no case`);
        for (const part of target.parts) {
          if (!names.has(part) || part === suite.baseline.name) {
            problems.push(`${where} sums "${part}", which is not a case of the suite`);
          }
        }
      }
      const isBaseline = target.versus === undefined || target.versus === suite.baseline.name;
      if (target.metric === 'overhead' && isBaseline) {
        problems.push(
          `${where}: an overhead target needs a case to compare with, not the baseline`,
        );
      }
      const goal = target.metric === 'speedup' ? target.atLeast : target.atMost;
      if (!(goal > 0) || !Number.isFinite(goal)) {
        problems.push(`${where}: the goal must be a positive number, got ${goal}`);
      }
    }
  }
  return problems;
}

/** Narrows a result to a measurement. */
export function isMeasured(result: CaseResult): result is CaseMeasurement {
  return result.ok;
}
