/**
 * What one run of `pnpm bench` records in `bench/results/latest.json`, and whether it may
 * replace the committed comparison (`bench/RESULTS.md`, `bench/results/ratios.svg`).
 */
import type { Environment } from './environment.js';
import type { SuiteResult } from './harness.js';

/** What `latest.json` holds. */
export interface RunRecord {
  readonly environment: Environment;
  readonly versions: Record<string, string>;
  readonly filters: readonly string[];
  readonly results: readonly SuiteResult[];
  readonly failed: readonly string[];
}

/**
 * Why a run must not rewrite `RESULTS.md` and `ratios.svg`, or undefined if it may: only a full
 * run in which every suite and case succeeded may replace the committed comparison, so a quick
 * filtered run, or one without Redis, never leaves a partial page behind.
 */
export function whyNotComparison(record: Pick<RunRecord, 'filters' | 'results' | 'failed'>) {
  if (record.filters.length > 0) return `a filtered run (${record.filters.join(', ')})`;
  if (record.failed.length > 0) return `${record.failed.length} suite(s) failed`;
  const failedCases = record.results.flatMap((suite) => suite.cases.filter((c) => !c.ok));
  if (failedCases.length > 0) return `${failedCases.length} case(s) failed`;
  return undefined;
}
