/**
 * `bench/RESULTS.md`: Breakwater against the libraries users would pick instead, one table per
 * pattern, with the targets from the issues, the chart, and the machine and versions of the run.
 * A pure function of the run's results, so the page can be regenerated from `latest.json`.
 */
import { RUNS_REQUIRED } from './aggregate.js';
import {
  type ComparisonRow,
  type PatternComparison,
  type Ratio,
  scenarioOf,
  type Target,
  type TargetCheck,
} from './comparison.js';
import type { Environment } from './environment.js';
import type { CaseResult } from './harness.js';
import { formatDuration, formatRatio } from './report.js';

/** What the page is built from. */
export interface ResultsPageInput {
  readonly environment: Environment;
  /** `[package, installed version]`, sorted by package. */
  readonly versions: readonly (readonly [string, string])[];
  readonly patterns: readonly PatternComparison[];
  /** The chart, relative to the page: `results/ratios.svg`. */
  readonly chartPath: string;
  /**
   * The dates of the runs `patterns` fold (aggregate.ts), oldest first; omitted for one run. The
   * environment is then the newest run's.
   */
  readonly runDates?: readonly string[];
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A ratio with its 95 % interval: `0.32× (0.31–0.33)`. */
export function formatRatioWithInterval(ratio: Ratio): string {
  if (ratio.high < 0.005) return formatRatio(ratio.high);
  return `${formatRatio(ratio.value)} (${formatRatio(ratio.low).slice(0, -1)}–${formatRatio(ratio.high)})`;
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** Characters, not UTF-16 units: `µ`, `×` and `–` are one column each. */
function width(text: string): number {
  return [...text].length;
}

/**
 * A markdown table with padded, aligned columns: readable as plain text, and exactly what the
 * repository's formatter (Biome) would write, so `biome check` passes on the generated page.
 */
export function table(
  header: readonly string[],
  align: readonly ('left' | 'right')[],
  body: readonly (readonly string[])[],
): string {
  const rows = [header, ...body].map((cells) => cells.map(escapeCell));
  const widths = align.map((_, column) =>
    Math.max(3, ...rows.map((cells) => width(cells[column] ?? ''))),
  );
  const pad = (cell: string, column: number) => {
    const fill = ' '.repeat((widths[column] ?? 0) - width(cell));
    return align[column] === 'right' ? fill + cell : cell + fill;
  };
  const line = (cells: readonly string[]) =>
    `| ${align.map((_, column) => pad(cells[column] ?? '', column)).join(' | ')} |`;
  const rule = `| ${widths
    .map((size, column) =>
      align[column] === 'right' ? `${'-'.repeat(size - 1)}:` : '-'.repeat(size),
    )
    .join(' | ')} |`;
  const [head = [], ...rest] = rows;
  return [line(head), rule, ...rest.map(line)].join('\n');
}

function opsPerSec(result: CaseResult): string {
  return result.ok ? integer.format(result.opsPerSec) : 'failed';
}

function overhead(result: CaseResult): string {
  if (!result.ok) return 'failed';
  const sign = result.overheadNs >= 0 ? '+' : '−';
  return `${sign}${formatDuration(Math.abs(result.overheadNs))}`;
}

/** A ratio over several runs: `0.32× (0.30–0.35×)`, the median and the range. */
function withRange(ratio: Ratio, bold: boolean): string {
  const median = bold ? `**${formatRatio(ratio.value)}**` : formatRatio(ratio.value);
  if (ratio.high < 0.005) return median;
  return `${median} (${formatRatio(ratio.low).slice(0, -1)}–${formatRatio(ratio.high)})`;
}

function speedupCell(row: ComparisonRow): string {
  const ratio = row.speedup;
  if (ratio === undefined) return 'n/a';
  if (row.runs !== undefined && row.runs.count > 1) return withRange(ratio, true);
  return `**${formatRatio(ratio.value)}**`;
}

function overheadRatioCell(row: ComparisonRow): string {
  const ratio = row.overheadRatio;
  if (ratio === undefined) return row.ours.ok && row.competitor.ok ? '— ¹' : 'n/a';
  if (ratio.value <= 0) return '< 0 ²';
  if (row.runs !== undefined && row.runs.count > 1) return withRange(ratio, false);
  return formatRatio(ratio.value);
}

/** The pattern's comparison table: one row per Breakwater case and competitor. */
export function formatComparisonTable(rows: readonly ComparisonRow[]): string {
  return table(
    [
      'scenario',
      'Breakwater',
      'ops/s',
      'competitor',
      'ops/s',
      'speed-up',
      'overhead / call',
      'overhead ratio',
    ],
    ['left', 'left', 'right', 'left', 'right', 'right', 'right', 'right'],
    rows.map((row) => [
      `\`${row.scenario}\``,
      row.ours.name,
      opsPerSec(row.ours),
      row.competitor.name,
      opsPerSec(row.competitor),
      speedupCell(row),
      `${overhead(row.ours)} vs ${overhead(row.competitor)}`,
      overheadRatioCell(row),
    ]),
  );
}

/** `overhead ≤ 0.25× opossum (timeout: false)'s`, `time ≤ 1.15× the baseline (ioredis GET)`. */
export function describeTarget(target: Target, versusName: string, versusIsBaseline: boolean) {
  const versus = versusIsBaseline ? `the baseline (${versusName})` : versusName;
  switch (target.metric) {
    case 'overhead':
      return `overhead ≤ ${formatRatio(target.atMost)} that of ${versus}`;
    case 'time':
      return `time per operation ≤ ${formatRatio(target.atMost)} that of ${versus}`;
    case 'speedup':
      return `ops/s ≥ ${formatRatio(target.atLeast)} those of ${versus}`;
    case 'added':
      return `adds ≤ ${formatDuration(target.atMost)} per operation to ${versus}`;
    case 'parts':
      return `overhead ≤ ${formatRatio(target.atMost)} the sum of its parts’ (${target.parts.join(', ')})`;
    case 'count':
      return `${target.count} ≤ ${formatCount(target.atMost)}`;
  }
}

/** A count: `0.10`, `0.002`, `12` — enough digits to tell it from its goal. */
function formatCount(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return value >= 0.01 ? value.toFixed(2) : value.toPrecision(2);
}

/** A measured `count` target: `0.002`, with the range over runs when they differ. */
function formatCountRange(measured: Ratio): string {
  const median = formatCount(measured.value);
  if (measured.low === measured.high) return median;
  return `${median} (${formatCount(measured.low)}–${formatCount(measured.high)})`;
}

/** A measured `added` target: `+85.0 ns (70.2–99.8 ns)`, the interval or the range over runs. */
function formatAdded(measured: Ratio): string {
  const signed = (ns: number) => `${ns < 0 ? '−' : '+'}${formatDuration(Math.abs(ns))}`;
  return `${signed(measured.value)} (${signed(measured.low)} to ${signed(measured.high)})`;
}

function measuredCell(check: TargetCheck, overRuns: boolean): string {
  if (check.measured === undefined) return 'n/a';
  if (check.target.metric === 'added') return formatAdded(check.measured);
  if (check.target.metric === 'count') return formatCountRange(check.measured);
  return overRuns ? withRange(check.measured, false) : formatRatioWithInterval(check.measured);
}

function verdictCell(check: TargetCheck): string {
  if (check.verdict === 'unknown') return 'not measured';
  if (check.runs !== undefined && check.runs.count > 1) {
    return check.verdict === 'met' ? 'met' : '**missed**';
  }
  const verdict = check.verdict === 'met' ? 'met' : '**missed**';
  return check.withinMargin ? `${verdict} (within the margin)` : verdict;
}

/**
 * The pattern's targets and how this run fared; over several runs, the median and range of the
 * measured value and in how many runs the target was met.
 */
export function formatTargetTable(
  checks: readonly TargetCheck[],
  baselineNames: ReadonlyMap<string, string>,
): string {
  const runs = Math.max(1, ...checks.map((check) => check.runs?.count ?? 1));
  const describe = (check: TargetCheck) =>
    describeTarget(
      check.target,
      check.versusName,
      baselineNames.get(check.suiteId) === check.versusName,
    );
  if (runs > 1) {
    return table(
      [
        'scenario',
        'case',
        'target',
        'issue',
        `median (range) over ${runs} runs`,
        'met in',
        'result',
      ],
      ['left', 'left', 'left', 'left', 'right', 'right', 'left'],
      checks.map((check) => [
        `\`${check.scenario}\``,
        check.caseName,
        describe(check),
        check.target.issue === undefined ? '' : `#${check.target.issue}`,
        measuredCell(check, true),
        `${check.runs?.metIn ?? 0}/${runs}`,
        verdictCell(check),
      ]),
    );
  }
  return table(
    ['scenario', 'case', 'target', 'issue', 'measured (95 % interval)', 'result'],
    ['left', 'left', 'left', 'left', 'right', 'left'],
    checks.map((check) => [
      `\`${check.scenario}\``,
      check.caseName,
      describe(check),
      check.target.issue === undefined ? '' : `#${check.target.issue}`,
      measuredCell(check, false),
      verdictCell(check),
    ]),
  );
}

function patternSection(pattern: PatternComparison): string[] {
  const baselineNames = new Map<string, string>();
  for (const suite of pattern.suites) {
    const baseline = suite.cases.find((result) => result.isBaseline);
    if (baseline !== undefined) baselineNames.set(suite.id, baseline.name);
  }
  const lines = [`## ${pattern.title}`, ''];
  for (const suite of pattern.suites) {
    lines.push(
      `- \`${scenarioOf(suite.id)}\`: ${suite.title} ` +
        `(baseline: ${baselineNames.get(suite.id) ?? 'none'})`,
    );
  }
  if (pattern.rows.length > 0) lines.push('', formatComparisonTable(pattern.rows));
  if (pattern.targets.length > 0) {
    lines.push('', `Targets:`, '', formatTargetTable(pattern.targets, baselineNames));
  }
  const notes = new Set<string>();
  for (const row of pattern.rows) {
    for (const result of [row.ours, row.competitor]) {
      if (result.ok && result.note) notes.add(`${result.name}: ${result.note}`);
    }
  }
  if (notes.size > 0) lines.push('', ...[...notes].map((note) => `- ${note}`));
  return lines;
}

function counts(patterns: readonly PatternComparison[], runs: number): string {
  const checks = patterns.flatMap((pattern) => pattern.targets);
  const met = checks.filter((check) => check.verdict === 'met').length;
  const missed = checks.filter((check) => check.verdict === 'missed').length;
  const unknown = checks.length - met - missed;
  if (runs > 1) {
    return (
      `${met} of ${checks.length} targets met in all ${runs} runs, ${missed} missed in at least one` +
      (unknown > 0 ? `, ${unknown} not measured` : '') +
      (runs < RUNS_REQUIRED ? ` (a target must hold in ${RUNS_REQUIRED} consecutive runs)` : '') +
      '.'
    );
  }
  return (
    `${met} of ${checks.length} targets met, ${missed} missed` +
    (unknown > 0 ? `, ${unknown} not measured` : '') +
    (runs === 1 ? ` in one run (a target must hold in ${RUNS_REQUIRED} consecutive runs)` : '') +
    '.'
  );
}

/** The whole page. Deterministic: the same input gives the same bytes. */
export function renderResultsPage({
  environment,
  versions,
  patterns,
  chartPath,
  runDates,
}: ResultsPageInput): string {
  const runs = runDates?.length ?? 0;
  const measuredIn =
    runs > 1
      ? [
          `process, in each of the last ${runs} consecutive full runs (${runDates![0]} to`,
          `${runDates![runs - 1]}; every ratio is the median over the runs, with its range). Each`,
          'table pairs a Breakwater case with each competitor of the same scenario. Full tables of',
          'the newest run, every case and the margins of error:',
        ]
      : [
          `process and one run (${environment.date}, all suites). Each table pairs a Breakwater case`,
          'with each competitor of the same scenario. Full tables, every case and the margins of error:',
        ];
  const lines = [
    '# Breakwater benchmark results',
    '',
    '<!-- Generated by `pnpm bench` (bench/src/results-page.ts). Do not edit by hand. -->',
    '',
    'Breakwater against the libraries users would pick instead, measured side by side in one',
    ...measuredIn,
    '[results/latest.md](results/latest.md); how the harness measures: [README.md](README.md).',
    '',
    `**${counts(patterns, runs)}**`,
    '',
    `![Speed-up of Breakwater over each competitor, log scale](${chartPath})`,
    '',
    '## How to read the numbers',
    '',
    '- **speed-up** = competitor’s mean time per operation ÷ Breakwater’s, which equals',
    '  Breakwater’s ops/s ÷ the competitor’s. `2.00×`: Breakwater does twice as many operations per',
    '  second; `1.00×`: the same; `0.50×`: half as many. **Higher is better**. The chart plots it.',
    '- **overhead / call** = mean time of the case − mean time of the suite’s baseline (usually the',
    '  bare call): what the wrapper adds to every call.',
    '- **overhead ratio** = Breakwater’s overhead ÷ the competitor’s. `0.25×`: Breakwater adds a',
    '  quarter of what the competitor adds. **Lower is better**. For wrappers of a cheap call this',
    '  is the fairer number (the speed-up of two wrappers around a 50 ns call is diluted by the call',
    '  itself only a little, around a 100 µs Redis round trip a lot). ¹ no ratio: the competitor’s',
    '  overhead is not measurably above zero. ² Breakwater is faster than the baseline itself',
    '  (it saves round trips the baseline makes).',
    ...(runs > 1
      ? [
          '- **Targets** come from the issues, each in the metric the issue states. A target counts',
          `  as met only if every one of the ${runs} runs met it on its mean (“met in”); the measured`,
          '  value is the median over the runs, with the range (lowest–highest) in brackets.',
          `- **Over ${runs} runs**: speed-ups and overhead ratios are medians over the runs, with the`,
          '  range in brackets; ops/s and overhead / call are the newest run’s.',
        ]
      : [
          '- **Targets** come from the issues, each in the metric the issue states. A target is judged on',
          '  the mean of this run; “within the margin” means the goal lies inside the 95 % interval of',
          '  the measured ratio, so another run may well say the opposite.',
        ]),
    '- One operation is what the scenario says (for `redis-64` and `queued`, 64 calls at once).',
    '  Compare rows within a pattern; absolute numbers move from machine to machine.',
    '',
    '## Machine and versions',
    '',
    table(
      ['', runs > 1 ? 'newest run' : 'this run'],
      ['left', 'left'],
      [
        ['Run', environment.date],
        ['CPU', environment.cpu],
        ['Cores', String(environment.cores)],
        ['Memory', `${environment.memoryGiB} GiB`],
        ['OS', environment.os],
        ['Node.js', `${environment.node} (V8 ${environment.v8})`],
        ['Redis', environment.redis ?? 'not recorded'],
        ...versions.map(([name, version]) => [name, version]),
      ],
    ),
  ];
  for (const pattern of patterns) lines.push('', ...patternSection(pattern));
  lines.push(
    '',
    '## How to reproduce',
    '',
    'On an idle machine with `redis-server` and `taskset` on `PATH` and PostgreSQL at',
    '`POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`), from the repository root',
    '(the run starts a private Redis on the first core and pins itself to the last; with',
    '`REDIS_URL` set it uses that Redis, unpinned):',
    '',
    '```sh',
    'npx --yes pnpm@10 install',
    'npx --yes pnpm@10 bench',
    '```',
    '',
    'A full run that completes without a failed suite or case rewrites this page and',
    '[results/ratios.svg](results/ratios.svg). A filtered run (`pnpm bench core`) writes only',
    '`results/latest.md` and `results/latest.json`. To rebuild this page and the chart from the',
    'last full run’s `results/latest.json` without measuring again:',
    '`npx --yes pnpm@10 --filter @breakwater/bench run bench --report`.',
  );
  return `${lines.join('\n')}\n`;
}
