import { describe, expect, it, vi } from 'vitest';
import {
  addedOf,
  checkComparisons,
  comparePatterns,
  countOf,
  divide,
  judge,
  overheadRatioOf,
  partsRatioOf,
  patternTitle,
  speedupOf,
} from '../comparison.js';
import { runSuite, type Suite } from '../harness.js';
import { suites } from '../suites/index.js';
import { failed, measured, sampleResults, suite } from './fixtures.js';

const base = { meanNs: 50, moeNs: 0.5 };

describe('ratios', () => {
  it('speed-up is the competitor’s mean time over ours', () => {
    const ours = measured({ name: 'ours', meanNs: 250 }, base);
    const theirs = measured({ name: 'theirs', meanNs: 1000 }, base);
    expect(speedupOf(ours, theirs)?.value).toBe(4);
    expect(speedupOf(theirs, ours)?.value).toBe(0.25);
  });

  it('overhead ratio is our overhead over theirs', () => {
    const ours = measured({ name: 'ours', meanNs: 250 }, base);
    const theirs = measured({ name: 'theirs', meanNs: 850 }, base);
    expect(overheadRatioOf(ours, theirs)?.value).toBe(0.25);
  });

  it('has no overhead ratio when the competitor’s overhead is within its margin', () => {
    const ours = measured({ name: 'ours', meanNs: 250 }, base);
    const theirs = measured({ name: 'theirs', meanNs: 50.2, moeNs: 1 }, base);
    expect(overheadRatioOf(ours, theirs)).toBeUndefined();
  });

  it('carries the margins of error into an interval around the ratio', () => {
    const ratio = divide(100, 3, 50, 2);
    expect(ratio?.value).toBe(2);
    expect(ratio?.low).toBeCloseTo(2 - 2 * Math.hypot(0.03, 0.04));
    expect(ratio?.high).toBeCloseTo(2 + 2 * Math.hypot(0.03, 0.04));
    expect(divide(1, 0, 0, 0)).toBeUndefined();
  });

  it('has no ratio when a side failed', () => {
    const ours = measured({ name: 'ours', meanNs: 250 }, base);
    expect(speedupOf(ours, failed('theirs'))).toBeUndefined();
    expect(overheadRatioOf(failed('ours'), ours)).toBeUndefined();
  });
});

describe('added and parts', () => {
  it('added is our mean minus theirs, in nanoseconds, with the margins combined', () => {
    const ours = measured({ name: 'ours', meanNs: 250, moeNs: 3 }, base);
    const theirs = measured({ name: 'theirs', meanNs: 180, moeNs: 4 }, base);
    expect(addedOf(ours, theirs)).toEqual({ value: 70, low: 65, high: 75 });
    expect(addedOf(ours, failed('x'))).toBeUndefined();
  });

  it('parts is our overhead over the sum of the parts’ overheads', () => {
    const whole = measured({ name: 'whole', meanNs: 350 }, base);
    const parts = [
      measured({ name: 'a', meanNs: 150 }, base),
      measured({ name: 'b', meanNs: 150 }, base),
    ];
    expect(partsRatioOf(whole, parts)?.value).toBe(1.5);
    expect(partsRatioOf(whole, [...parts, undefined])).toBeUndefined();
    const [pattern] = comparePatterns([
      suite('pipeline/readme', { name: 'bare', meanNs: 50 }, [
        { name: 'a', meanNs: 150 },
        { name: 'b', meanNs: 150 },
        {
          name: 'whole',
          meanNs: 400,
          targets: [
            { metric: 'parts', parts: ['a', 'b'], atMost: 1.5 },
            { metric: 'added', atMost: 300 },
          ],
        },
      ]),
    ]);
    expect(pattern!.targets.map((check) => [check.versusName, check.verdict])).toEqual([
      ['a + b', 'missed'],
      ['bare', 'missed'],
    ]);
    expect(pattern!.targets[0]!.measured!.value).toBeCloseTo(1.75);
    expect(pattern!.targets[1]!.measured!.value).toBe(350);
  });
});

describe('count', () => {
  const target = { metric: 'count', count: 'round trips per call', atMost: 0.1 } as const;

  it('judges a count the case reported, exactly, and nothing when it reported none', () => {
    const counts = { 'round trips per call': 0.002 };
    expect(countOf(measured({ name: 'quota', meanNs: 100, counts }, base), target.count)).toEqual({
      value: 0.002,
      low: 0.002,
      high: 0.002,
    });
    expect(countOf(measured({ name: 'quota', meanNs: 100 }, base), target.count)).toBeUndefined();
    expect(countOf(failed('x'), target.count)).toBeUndefined();
    const [pattern] = comparePatterns([
      suite('bulkhead/fleet', { name: 'bare', meanNs: 50 }, [
        { name: 'quota', meanNs: 60, targets: [target], counts: { 'round trips per call': 0.25 } },
      ]),
    ]);
    expect(pattern!.targets.map((check) => [check.versusName, check.verdict])).toEqual([
      ['round trips per call', 'missed'],
    ]);
    expect(pattern!.targets[0]!.measured!.value).toBe(0.25);
  });
});

describe('judge', () => {
  it('checks atMost and atLeast goals on the mean and flags a goal inside the interval', () => {
    const overhead = { metric: 'overhead', versus: 'x', atMost: 0.25 } as const;
    expect(judge(overhead, { value: 0.2, low: 0.19, high: 0.21 })).toEqual({
      verdict: 'met',
      withinMargin: false,
    });
    expect(judge(overhead, { value: 0.26, low: 0.24, high: 0.28 })).toEqual({
      verdict: 'missed',
      withinMargin: true,
    });
    const speedup = { metric: 'speedup', versus: 'x', atLeast: 2 } as const;
    expect(judge(speedup, { value: 2.5, low: 2.4, high: 2.6 }).verdict).toBe('met');
    expect(judge(speedup, { value: 1.5, low: 1.4, high: 1.6 }).verdict).toBe('missed');
    expect(judge(speedup, undefined)).toEqual({ verdict: 'unknown', withinMargin: false });
  });
});

describe('comparePatterns', () => {
  const patterns = comparePatterns(sampleResults());

  it('groups suites by pattern and leaves out patterns that compare nothing', () => {
    expect(patterns.map((pattern) => [pattern.pattern, pattern.title])).toEqual([
      ['circuit-breaker', 'Circuit breaker'],
      ['rate-limit', 'Rate limit'],
    ]);
    expect(patternTitle('cache')).toBe('Cache');
  });

  it('pairs every Breakwater case with every competitor of its suite, and only those', () => {
    const breaker = patterns[0]!;
    expect(breaker.rows.map((row) => [row.ours.name, row.competitor.name])).toEqual([
      ['breakwater circuitBreaker()', 'cockatiel circuitBreaker()'],
      ['breakwater circuitBreaker()', 'opossum (timeout: false)'],
    ]);
    expect(breaker.rows[1]?.speedup?.value).toBeCloseTo(650 / 250);
    expect(breaker.rows[1]?.overheadRatio?.value).toBeCloseTo(200 / 600);
    const rateLimit = patterns[1]!;
    expect(rateLimit.rows.map((row) => `${row.scenario}: ${row.ours.name}`)).toEqual([
      'redis-64: breakwater limit()',
      'redis-64: breakwater limit(), reserve: { batch: 100 }',
      'redis-latency: breakwater limit()',
    ]);
  });

  it('checks each target in its own metric', () => {
    const checks = patterns.flatMap((pattern) => pattern.targets);
    expect(
      checks.map((check) => [
        check.scenario,
        check.versusName,
        Number(check.measured?.value.toFixed(3)),
        check.verdict,
      ]),
    ).toEqual([
      ['success', 'cockatiel circuitBreaker()', 0.667, 'met'],
      ['success', 'opossum (timeout: false)', 0.333, 'missed'],
      ['redis-64', 'RateLimiterRedis.consume()', 0.622, 'missed'],
      ['redis-64', 'RateLimiterRedis.consume()', 17.5, 'met'],
      ['redis-latency', 'EVALSHA', 1.277, 'missed'],
    ]);
  });

  it('pairs a case that names its competitors with those only', () => {
    const [pattern] = comparePatterns([
      suite('circuit-breaker/success', { name: 'bare', meanNs: 50 }, [
        { name: 'ours', meanNs: 200, role: 'ours' },
        { name: 'ours timed', meanNs: 300, role: 'ours', pairsWith: ['opossum (timeout)'] },
        { name: 'cockatiel', meanNs: 300, role: 'competitor' },
        { name: 'opossum (timeout)', meanNs: 1_000, role: 'competitor' },
      ]),
    ]);
    expect(pattern?.rows.map((row) => [row.ours.name, row.competitor.name])).toEqual([
      ['ours', 'cockatiel'],
      ['ours', 'opossum (timeout)'],
      ['ours timed', 'opossum (timeout)'],
    ]);
  });

  it('reports a target of a failed case as not measured', () => {
    const [pattern] = comparePatterns([
      suite('cache/l2-hit', { name: 'GET', meanNs: 90_000 }, [
        failed('breakwater get', 'ours', [{ metric: 'time', atMost: 1.15 }]),
        { name: 'bentocache getOrSet', meanNs: 100_000, role: 'competitor' },
      ]),
    ]);
    expect(pattern?.targets[0]?.verdict).toBe('unknown');
    expect(pattern?.rows[0]?.speedup).toBeUndefined();
  });
});

describe('checkComparisons', () => {
  const fn = () => 1;
  const base: Suite = {
    id: 'x/y',
    title: 'x',
    baseline: { name: 'bare', fn },
    cases: [{ name: 'ours', fn, role: 'ours' }],
  };

  it('accepts targets against a case or the baseline', () => {
    expect(
      checkComparisons({
        ...base,
        cases: [
          {
            name: 'ours',
            fn,
            targets: [
              { metric: 'time', atMost: 1.2 },
              { metric: 'speedup', versus: 'theirs', atLeast: 2 },
            ],
          },
          { name: 'theirs', fn, role: 'competitor' },
        ],
      }),
    ).toEqual([]);
  });

  it('names every mistake', () => {
    const problems = checkComparisons({
      ...base,
      baseline: { name: 'bare', fn, role: 'competitor' },
      cases: [
        {
          name: 'ours',
          fn,
          role: 'ours',
          targets: [
            { metric: 'speedup', versus: 'nobody', atLeast: 2 },
            { metric: 'overhead', atMost: 0.25 },
            { metric: 'time', versus: 'ours', atMost: -1 },
            { metric: 'parts', parts: ['bare', 'missing'], atMost: 1.5 },
            { metric: 'count', count: 'round trips', atMost: 0.1 },
          ],
          pairsWith: ['nobody'],
        },
        { name: 'variant', fn, pairsWith: ['ours'] },
      ],
    });
    expect(problems).toEqual([
      'the baseline "bare" cannot have a role',
      '"ours" pairs with "nobody", which is not a competitor of the suite',
      'target of "ours" compares with "nobody", which is not a case of the suite',
      'target of "ours": an overhead target needs a case to compare with, not the baseline',
      'target of "ours" compares the case with itself',
      'target of "ours": the goal must be a positive number, got -1',
      'target of "ours" sums "bare", which is not a case of the suite',
      'target of "ours" sums "missing", which is not a case of the suite',
      'target of "ours" judges the count "round trips", but the case reports none',
      '"variant" has pairsWith but is not an `ours` case',
    ]);
  });

  it('makes runSuite fail before setup', async () => {
    const setup = vi.fn();
    const broken: Suite = {
      ...base,
      setup,
      cases: [{ name: 'ours', fn, targets: [{ metric: 'speedup', versus: 'x', atLeast: 2 }] }],
    };
    await expect(runSuite(broken, { log: () => {} })).rejects.toThrow(
      'Suite x/y: target of "ours" compares with "x", which is not a case of the suite',
    );
    expect(setup).not.toHaveBeenCalled();
  });

  it('finds no mistake in the registered suites, and every pattern and the pipelines compare', () => {
    for (const registered of suites)
      expect(checkComparisons(registered), registered.id).toEqual([]);
    const comparing = new Set(
      suites
        .filter((registered) => registered.cases.some((c) => c.role === 'competitor'))
        .map((registered) => registered.id.split('/')[0]),
    );
    // core compares through its timeout suite (against cockatiel's timeout).
    expect([...comparing].sort()).toEqual([
      'bulkhead',
      'cache',
      'circuit-breaker',
      'core',
      'pipeline',
      'rate-limit',
      'retry',
    ]);
  });
});
