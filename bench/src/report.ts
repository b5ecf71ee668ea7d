/**
 * Turns suite results into tables: aligned plain text for the terminal, GitHub markdown for
 * `bench/results/latest.md`. Both show the same columns.
 */
import type { CaseResult, SuiteResult } from './harness.js';

/** One-line explanation of the `time × baseline` column, printed under every table. */
export const RATIO_LEGEND =
  '`time × baseline` = mean time of one call ÷ mean time of one baseline call ' +
  '(1.00× = costs the same as the baseline, 2.00× = twice as slow; lower is better). ' +
  '`overhead / call` = mean(case) − mean(baseline): the time the wrapper adds to every call, ' +
  '± the combined 95 % margins of error; an overhead inside its margin is indistinguishable from 0.';

type Align = 'left' | 'right';

const HEADERS = [
  'case',
  'ops/s',
  'mean',
  '± rme',
  'time × baseline',
  'overhead / call',
  'samples',
] as const;
const ALIGN: readonly Align[] = ['left', 'right', 'right', 'right', 'right', 'right', 'right'];

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `842 ns`, `12.3 µs`, `4.56 ms`: three significant digits, unit chosen by magnitude. */
export function formatDuration(ns: number): string {
  const abs = Math.abs(ns);
  if (abs < 1e3) return `${ns.toFixed(abs < 10 ? 2 : abs < 100 ? 1 : 0)} ns`;
  if (abs < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (abs < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}

/** `< 0.01×`, `0.08×`, `2.71×`, `17.3×`, `1,860×`: precision that suits the magnitude. */
export function formatRatio(value: number): string {
  const abs = Math.abs(value);
  if (value >= 0 && value < 0.005) return '< 0.01×';
  if (abs >= 100) return `${integer.format(value)}×`;
  if (abs >= 10) return `${value.toFixed(1)}×`;
  return `${value.toFixed(2)}×`;
}

/** `+123 ns ± 4.1 ns`, signed so that a negative overhead (noise, or faster) stands out. */
export function formatOverhead(ns: number, moeNs: number): string {
  const sign = ns >= 0 ? '+' : '−';
  return `${sign}${formatDuration(Math.abs(ns))} ± ${formatDuration(moeNs)}`;
}

function caseLabel(result: CaseResult): string {
  return result.isBaseline ? `${result.name} (baseline)` : result.name;
}

function rows(suite: SuiteResult): string[][] {
  return suite.cases.map((result) => {
    if (!result.ok) return [caseLabel(result), 'failed', result.error, '', '', '', ''];
    return [
      caseLabel(result),
      integer.format(result.opsPerSec),
      formatDuration(result.meanNs),
      `±${result.rmePct.toFixed(2)} %`,
      result.isBaseline ? '1.00×' : `${result.timeVsBaseline.toFixed(2)}×`,
      result.isBaseline ? '—' : formatOverhead(result.overheadNs, result.overheadMoeNs),
      integer.format(result.samples),
    ];
  });
}

function notes(suite: SuiteResult): string[] {
  const lines: string[] = [];
  for (const result of suite.cases) {
    if (result.ok && result.note) lines.push(`${result.name}: ${result.note}`);
  }
  return lines;
}

function renderPlainTable(header: readonly string[], body: readonly string[][]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...body.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return ALIGN[column] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}

function escapeMarkdown(cell: string): string {
  return cell.replaceAll('|', '\\|');
}

function renderMarkdownTable(header: readonly string[], body: readonly string[][]): string {
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell) => escapeMarkdown(cell)).join(' | ')} |`;
  const rule = `|${ALIGN.map((align) => (align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

function measurementLine(suite: SuiteResult): string {
  const batching =
    suite.fixedBatch === undefined
      ? `batch sized per case so a sample lasts ~${formatDuration(suite.targetSampleNs)}`
      : `${suite.fixedBatch} operation(s) per sample`;
  return (
    `${batching}, ${suite.warmupMs} ms warmup + ` +
    `${suite.timeMs} ms measuring per case in ${suite.rounds} interleaved rounds; suite took ${(suite.durationMs / 1000).toFixed(1)} s.`
  );
}

/** The suite as an aligned plain-text table with its title, for the terminal. */
export function formatSuiteText(suite: SuiteResult): string {
  const parts = [
    '',
    `${suite.title}  [${suite.id}]`,
    renderPlainTable(HEADERS, rows(suite)),
    ...notes(suite).map((note) => `  * ${note}`),
    ...(suite.teardownError ? [`  ! teardown failed: ${suite.teardownError}`] : []),
    `  ${measurementLine(suite)}`,
    '  time × baseline: how many times as long as the baseline (lower is better);',
    '  overhead / call: mean(case) − mean(baseline), ± 95 % margin.',
  ];
  return parts.join('\n');
}

/** The suite as a markdown section: heading, description, table, notes. */
export function formatSuiteMarkdown(suite: SuiteResult): string {
  const parts = [`### ${suite.title}`, '', `\`${suite.id}\``];
  if (suite.description) parts.push('', suite.description);
  parts.push('', renderMarkdownTable(HEADERS, rows(suite)), '');
  for (const note of notes(suite)) parts.push(`- ${note}`);
  if (suite.teardownError) parts.push(`- **Teardown failed:** ${suite.teardownError}`);
  parts.push(`- ${measurementLine(suite)}`);
  return parts.join('\n');
}
