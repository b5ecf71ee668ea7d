/**
 * `pnpm nemesis`: runs the whole nemesis suite (every pattern, every fault of its set, then all
 * mixed) and prints the reliability table and every violation with its history. Exits 1 when an
 * invariant was violated.
 *
 * Environment: NEMESIS_SECONDS (per run, default 30), NEMESIS_SEED (default: random per run),
 * NEMESIS_PATTERNS and NEMESIS_FAULTS (comma-separated filters, `mixed` names the mixed run).
 */
import type { FaultName } from './faults.js';
import { reliabilityTable, runSuite } from './suite.js';

const list = (name: string): string[] | undefined =>
  process.env[name]
    ?.split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

const seconds = Number(process.env.NEMESIS_SECONDS ?? 30);
if (!Number.isFinite(seconds) || seconds <= 0) {
  throw new RangeError(
    `Expected NEMESIS_SECONDS to be a number > 0, got ${process.env.NEMESIS_SECONDS}`,
  );
}
const seed = process.env.NEMESIS_SEED === undefined ? undefined : Number(process.env.NEMESIS_SEED);

const runs = await runSuite({
  durationMs: seconds * 1_000,
  seed,
  patterns: list('NEMESIS_PATTERNS'),
  faults: list('NEMESIS_FAULTS') as (FaultName | 'mixed')[] | undefined,
  onRun({ pattern, fault, report }) {
    const verdicts = report.results
      .map((result) => {
        const worst = result.worst === undefined ? '' : ` worst ${result.worst}/${result.bound}`;
        const excused =
          result.excused === undefined ? '' : ` excused ${JSON.stringify(result.excused)}`;
        const counts =
          result.counts === undefined ? '' : ` counts ${JSON.stringify(result.counts)}`;
        return `${result.invariant}: ${result.violations.length} violation(s), ${result.checked} checked${worst}${excused}${counts}`;
      })
      .join('; ');
    console.log(
      `[nemesis] ${pattern} × ${fault} (seed ${report.seed}, ${report.operations} operations, faults ${JSON.stringify(report.faults)}): ${verdicts}`,
    );
    if (report.details !== '') {
      console.log(`${report.details}\n(history kept in ${report.historyDir})`);
    }
  },
});
console.log(`\n${reliabilityTable(runs, seconds)}`);
const violated = runs.some((run) => run.report.results.some((r) => r.violations.length > 0));
process.exitCode = violated ? 1 : 0;
