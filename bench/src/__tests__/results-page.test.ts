import { describe, expect, it } from 'vitest';
import { comparePatterns } from '../comparison.js';
import { formatRatio } from '../report.js';
import {
  formatComparisonTable,
  formatRatioWithInterval,
  formatTargetTable,
  renderResultsPage,
  table,
} from '../results-page.js';
import { environment, failed, sampleResults, suite } from './fixtures.js';

const patterns = comparePatterns(sampleResults());
const input = {
  environment,
  versions: [
    ['cockatiel', '4.0.0'],
    ['opossum', '9.0.0'],
  ] as const,
  patterns,
  chartPath: 'results/ratios.svg',
};

/** The cells of a markdown table line, trimmed (tables are padded to align their columns). */
function cells(line: string | undefined): string[] {
  return (line ?? '')
    .slice(2, -2)
    .split(/ (?<!\\)\| /)
    .map((cell) => cell.trim());
}

describe('formatRatio', () => {
  it('suits the precision to the magnitude', () => {
    expect(formatRatio(0.0812)).toBe('0.08×');
    expect(formatRatio(2.714)).toBe('2.71×');
    expect(formatRatio(17.34)).toBe('17.3×');
    expect(formatRatio(1860.4)).toBe('1,860×');
    expect(formatRatio(0.0043)).toBe('< 0.01×');
    expect(formatRatioWithInterval({ value: 0.004, low: 0.003, high: 0.0045 })).toBe('< 0.01×');
    expect(formatRatioWithInterval({ value: 0.32, low: 0.311, high: 0.329 })).toBe(
      '0.32× (0.31–0.33×)',
    );
  });
});

describe('table', () => {
  it('pads and aligns columns the way the formatter does, escaping pipes', () => {
    const rows = [
      ['a × b', '1'],
      ['c | d', '12,345'],
    ];
    expect(table(['case', 'ops/s'], ['left', 'right'], rows).split('\n')).toEqual([
      '| case   |  ops/s |',
      '| ------ | -----: |',
      '| a × b  |      1 |',
      '| c \\| d | 12,345 |',
    ]);
  });
});

describe('comparison table', () => {
  it('has one row per Breakwater case and competitor, with ops/s and both ratios', () => {
    const lines = formatComparisonTable(patterns[0]!.rows).split('\n');
    expect(cells(lines[0])).toEqual([
      'scenario',
      'Breakwater',
      'ops/s',
      'competitor',
      'ops/s',
      'speed-up',
      'overhead / call',
      'overhead ratio',
    ]);
    expect(cells(lines[1]).map((rule) => rule.replace(/-+/, '-'))).toEqual([
      '-',
      '-',
      '-:',
      '-',
      '-:',
      '-:',
      '-:',
      '-:',
    ]);
    expect(lines.slice(2).map(cells)).toEqual([
      [
        '`success`',
        'breakwater circuitBreaker()',
        '4,000,000',
        'cockatiel circuitBreaker()',
        '2,857,143',
        '**1.40×**',
        '+200 ns vs +300 ns',
        '0.67×',
      ],
      [
        '`success`',
        'breakwater circuitBreaker()',
        '4,000,000',
        'opossum (timeout: false)',
        '1,538,462',
        '**2.60×**',
        '+200 ns vs +600 ns',
        '0.33×',
      ],
    ]);
    expect(new Set(lines.map((line) => [...line].length)).size).toBe(1);
  });

  it('shows failed cases as such', () => {
    const [pattern] = comparePatterns([
      suite('cache/l2-hit', { name: 'GET', meanNs: 90_000 }, [
        failed('breakwater get | getOrLoad', 'ours'),
        { name: 'bentocache getOrSet', meanNs: 100_000, role: 'competitor' },
      ]),
    ]);
    const row = formatComparisonTable(pattern!.rows).split('\n')[2];
    expect(cells(row)).toEqual([
      '`l2-hit`',
      'breakwater get \\| getOrLoad',
      'failed',
      'bentocache getOrSet',
      '10,000',
      'n/a',
      'failed vs +10.0 µs',
      'n/a',
    ]);
  });
});

describe('target table', () => {
  it('states each target in its metric, with the measured interval and the verdict', () => {
    const rateLimit = patterns[1]!;
    const baselines = new Map([
      ['rate-limit/redis-64', '64 × EVALSHA'],
      ['rate-limit/redis-latency', 'EVALSHA'],
    ]);
    const lines = formatTargetTable(rateLimit.targets, baselines).split('\n');
    expect(cells(lines[2])).toEqual([
      '`redis-64`',
      'breakwater limit()',
      'ops/s ≥ 1.50× those of RateLimiterRedis.consume()',
      '',
      expect.stringMatching(/^0\.62× \(0\.\d\d–0\.\d\d×\)$/),
      '**missed**',
    ]);
    expect(cells(lines[3])[5]).toBe('met');
    expect(cells(lines[4])).toEqual([
      '`redis-latency`',
      'breakwater limit()',
      'time per operation ≤ 1.20× that of the baseline (EVALSHA)',
      '#4',
      expect.stringMatching(/^1\.28× /),
      '**missed**',
    ]);
  });
});

describe('count targets', () => {
  it('states the count and its goal, and the count measured (with its range over runs)', () => {
    const target = { metric: 'count', count: 'store round trips per call', atMost: 0.1 } as const;
    const [pattern] = comparePatterns([
      suite('bulkhead/fleet', { name: 'bare', meanNs: 50 }, [
        {
          name: 'quota',
          meanNs: 60,
          targets: [{ ...target, issue: 18 }],
          counts: { 'store round trips per call': 0.0021 },
        },
      ]),
    ]);
    const lines = formatTargetTable(pattern!.targets, new Map()).split('\n');
    expect(cells(lines[2])).toEqual([
      '`fleet`',
      'quota',
      'store round trips per call ≤ 0.10',
      '#18',
      '0.0021',
      'met',
    ]);
  });
});

describe('renderResultsPage', () => {
  const page = renderResultsPage(input);

  it('has the intro, the chart, the machine, one section per pattern and how to reproduce', () => {
    const headings = page.split('\n').filter((line) => line.startsWith('## '));
    expect(headings).toEqual([
      '## How to read the numbers',
      '## Machine and versions',
      '## Circuit breaker',
      '## Rate limit',
      '## How to reproduce',
    ]);
    expect(page).toContain('](results/ratios.svg)');
    const rows = page
      .split('\n')
      .filter((line) => line.startsWith('| '))
      .map(cells);
    expect(rows).toContainEqual(['CPU', 'Test CPU <fast> & cheap']);
    expect(rows).toContainEqual(['Node.js', 'v20.20.2 (V8 11.3.244.8-node.38)']);
    expect(rows).toContainEqual(['opossum', '9.0.0']);
    expect(page).toContain('npx --yes pnpm@10 bench');
    expect(page).toContain('**2 of 5 targets met, 3 missed.**');
    expect(page).not.toContain('core/policies');
  });

  it('is deterministic', () => {
    expect(renderResultsPage(input)).toBe(page);
  });
});
