import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aggregateRuns, spreadOf } from '../aggregate.js';
import { comparePatterns } from '../comparison.js';
import type { SuiteResult } from '../harness.js';
import { renderResultsPage } from '../results-page.js';
import { loadRuns, RUNS_KEPT, runFileName, saveRun, selectRuns } from '../run-history.js';
import type { RunRecord } from '../run-record.js';
import { environment, suite } from './fixtures.js';

/**
 * One run of a breaker suite: ours costs `oursNs`, cockatiel 350 ns, the baseline 50 ns. The
 * target "overhead ≤ 1× cockatiel's" is met while ours stays under 350 ns.
 */
function breakerRun(oursNs: number): SuiteResult[] {
  return [
    suite('circuit-breaker/success', { name: 'await fn()', meanNs: 50 }, [
      {
        name: 'breakwater circuitBreaker()',
        meanNs: oursNs,
        role: 'ours',
        targets: [
          { metric: 'overhead', versus: 'cockatiel circuitBreaker()', atMost: 1, issue: 3 },
        ],
      },
      { name: 'cockatiel circuitBreaker()', meanNs: 350, role: 'competitor' },
    ]),
  ];
}

function record(date: string, results: SuiteResult[], overrides: Partial<RunRecord> = {}) {
  return {
    environment: { ...environment, date },
    versions: { cockatiel: '4.0.0' },
    filters: [],
    results,
    failed: [],
    ...overrides,
  } satisfies RunRecord;
}

describe('spreadOf', () => {
  it('gives the median, minimum and maximum', () => {
    expect(spreadOf([3, 1, 2])).toMatchObject({ median: 2, min: 1, max: 3, values: [3, 1, 2] });
    expect(spreadOf([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4 });
    expect(spreadOf([])).toBeUndefined();
  });
});

describe('aggregateRuns', () => {
  it('folds ratios into medians with their range, and meets a target only if every run met it', () => {
    // Overhead ratios: 250/300 = 0.83, 350/300 = 1.17 (missed), 200/300 = 0.67.
    const runs = [breakerRun(300), breakerRun(400), breakerRun(250)].map(comparePatterns);
    const [pattern] = aggregateRuns(runs);
    const [check] = pattern!.targets;
    expect(check!.runs).toMatchObject({ count: 3, metIn: 2, verdicts: ['met', 'missed', 'met'] });
    expect(check!.verdict).toBe('missed');
    expect(check!.measured!.value).toBeCloseTo(250 / 300);
    expect(check!.measured!.low).toBeCloseTo(200 / 300);
    expect(check!.measured!.high).toBeCloseTo(350 / 300);
    const [row] = pattern!.rows;
    expect(row!.runs!.count).toBe(3);
    expect(row!.speedup!.value).toBeCloseTo(350 / 300);
    expect(row!.speedup!.low).toBeCloseTo(350 / 400);
    expect(row!.speedup!.high).toBeCloseTo(350 / 250);
    // The row and its ops/s are the newest run's.
    expect(row!.ours.ok && row!.ours.meanNs).toBe(250);

    const [steady] = aggregateRuns(
      [breakerRun(300), breakerRun(310), breakerRun(290)].map(comparePatterns),
    );
    expect(steady!.targets[0]!.verdict).toBe('met');
    expect(steady!.targets[0]!.runs!.metIn).toBe(3);
  });

  it('counts a run that did not measure a target (its suite failed) as not meeting it', () => {
    const runs = [[], breakerRun(300), breakerRun(300)].map(comparePatterns);
    const [pattern] = aggregateRuns(runs);
    expect(pattern!.targets[0]!.runs).toMatchObject({
      count: 3,
      metIn: 2,
      verdicts: ['unknown', 'met', 'met'],
    });
    expect(pattern!.targets[0]!.verdict).toBe('missed');
  });
});

describe('selectRuns', () => {
  it('takes the last full runs on the newest run’s machine, oldest first', () => {
    const a = record('2026-12-01T10:00:00.000Z', []);
    const b = record('2026-12-02T10:00:00.000Z', []);
    const filtered = record('2026-12-03T10:00:00.000Z', [], { filters: ['core'] });
    const c = record('2026-12-04T10:00:00.000Z', [], { failed: ['cache/miss: boom'] });
    const d = record('2026-12-05T10:00:00.000Z', []);
    expect(selectRuns([d, filtered, a, c, b], 3)).toEqual([b, c, d]);
    expect(selectRuns([a, b], 3)).toEqual([a, b]);
    expect(selectRuns([filtered], 3)).toEqual([]);
    const elsewhere = record('2026-12-04T12:00:00.000Z', [], {
      environment: { ...environment, date: '2026-12-04T12:00:00.000Z', node: 'v24.1.0' },
    });
    // A run on another Node.js breaks the sequence: runs before it are not consecutive with d.
    expect(selectRuns([a, b, c, elsewhere, d], 3)).toEqual([d]);
  });
});

describe('saveRun and loadRuns', () => {
  it('keep the newest records, oldest first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-runs-'));
    try {
      const url = pathToFileURL(`${dir}/`);
      const dates = Array.from(
        { length: RUNS_KEPT + 2 },
        (_, i) => `2026-12-${String(i + 1).padStart(2, '0')}T10:00:00.000Z`,
      );
      for (const date of dates) await saveRun(url, record(date, breakerRun(300)));
      expect(await readdir(dir)).toHaveLength(RUNS_KEPT);
      const loaded = await loadRuns(url);
      expect(loaded.map((run) => run.environment.date)).toEqual(dates.slice(2));
      expect(runFileName(loaded[0]!)).toBe('2026-12-03T10-00-00-000Z.json');
      expect(await loadRuns(pathToFileURL(`${dir}/missing/`))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the results page over several runs', () => {
  it('shows medians with ranges, how many runs met each target, and the count over all runs', () => {
    const runs = [breakerRun(300), breakerRun(400), breakerRun(250)];
    const page = renderResultsPage({
      environment,
      versions: [['cockatiel', '4.0.0']],
      patterns: aggregateRuns(runs.map(comparePatterns)),
      chartPath: 'results/ratios.svg',
      runDates: ['2026-12-01T10:00:00.000Z', '2026-12-02T10:00:00.000Z', environment.date],
    });
    expect(page).toContain('**0 of 1 targets met in all 3 runs, 1 missed in at least one.**');
    expect(page).toContain('in each of the last 3 consecutive full runs');
    const lines = page.split('\n');
    const header = lines.find((line) => line.includes('median (range) over 3 runs'));
    expect(header).toContain('met in');
    const target = lines.find((line) => line.includes('overhead ≤ 1.00× that of cockatiel'));
    expect(target).toContain('0.83× (0.67–1.17×)');
    expect(target).toContain('2/3');
    expect(target).toContain('**missed**');
    const row = lines.find(
      (line) => line.startsWith('| `success`') && line.includes('ops/s') === false,
    );
    expect(row).toContain('**1.17×** (0.88–1.40×)');
  });

  it('says when fewer runs than a target needs were folded', () => {
    const page = renderResultsPage({
      environment,
      versions: [],
      patterns: aggregateRuns([breakerRun(300)].map(comparePatterns)),
      chartPath: 'results/ratios.svg',
      runDates: [environment.date],
    });
    expect(page).toContain(
      '**1 of 1 targets met, 0 missed in one run (a target must hold in 3 consecutive runs).**',
    );
  });
});
