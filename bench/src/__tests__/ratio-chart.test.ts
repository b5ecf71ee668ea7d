import { describe, expect, it } from 'vitest';
import { comparePatterns } from '../comparison.js';
import { chartGroups, escapeXml, logDomain, renderRatioChart, ticks } from '../ratio-chart.js';
import { failed, sampleResults, suite } from './fixtures.js';

/**
 * A strict-enough XML well-formedness check for what the chart emits: one root element, tags
 * balanced and properly nested, attributes quoted, no stray `<` or `&` in text.
 */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  let roots = 0;
  const token =
    /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!(?:amp|lt|gt|quot|apos);)/g;
  for (const match of xml.matchAll(token)) {
    const [whole, closing, name, , selfClosing] = match;
    if (name === undefined) throw new Error(`stray ${whole} at ${match.index}`);
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}> at ${match.index}`);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClosing) stack.push(name);
    }
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

const patterns = comparePatterns(sampleResults());

describe('renderRatioChart', () => {
  const svg = renderRatioChart({ patterns, subtitle: 'Test CPU <fast> & cheap, 2 cores.' });

  it('is a well-formed SVG document', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    assertWellFormed(svg);
  });

  it('draws one labelled bar per comparison, with its value', () => {
    const bars = [
      ...svg.matchAll(/<(?:rect|path) class="(faster|slower)"[^>]*><title>([^<]*)<\/title>/g),
    ];
    expect(bars.map((bar) => [bar[1], bar[2]])).toEqual([
      ['faster', 'success vs cockatiel circuitBreaker(): 1.40×'],
      ['faster', 'success vs opossum (timeout: false): 2.60×'],
      ['slower', 'redis-64, breakwater limit() vs RateLimiterRedis.consume(): 0.62×'],
      [
        'faster',
        'redis-64, breakwater limit(), reserve: { batch: 100 } vs RateLimiterRedis.consume(): 17.5×',
      ],
      ['slower', 'redis-latency vs RateLimiterRedis.consume(): 0.95×'],
    ]);
    expect(svg).toContain('>Circuit breaker</text>');
    expect(svg).toContain('>Rate limit</text>');
  });

  it('draws the 1× line, escapes text, and paints no background', () => {
    expect(svg).toMatch(/<line class="one" x1="([\d.]+)" y1="[\d.]+" x2="\1"/);
    expect(svg).toContain('Test CPU &lt;fast&gt; &amp; cheap');
    expect(svg).not.toMatch(/<rect(?! class="(?:faster|slower)")/);
  });

  it('cuts a bar that runs past the axis with an arrow, and keeps its value', () => {
    const [pattern] = comparePatterns([
      suite('bulkhead/local', { name: 'await fn()', meanNs: 50 }, [
        { name: 'ours', meanNs: 150, role: 'ours' },
        { name: 'bottleneck', meanNs: 4_650_000, role: 'competitor' },
      ]),
    ]);
    const chart = renderRatioChart({ patterns: [pattern!] });
    assertWellFormed(chart);
    expect(chart).toMatch(/<path class="faster" d="M[\d. ]+H[\d.]+L[\d. ]+L[\d. ]+H[\d.]+Z">/);
    expect(chart).toContain('>31,000×</text>');
    expect(chart).toContain('an arrow: the bar runs past the axis');
  });

  it('starts bars at the 1× line: right for faster, left for slower', () => {
    const one = Number(/<line class="one" x1="([\d.]+)"/.exec(svg)?.[1]);
    for (const match of svg.matchAll(
      /<rect class="(faster|slower)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g,
    )) {
      const [, kind, x, width] = match;
      if (kind === 'faster') expect(Number(x)).toBeCloseTo(one, 0);
      else expect(Number(x) + Number(width)).toBeCloseTo(one, 0);
    }
  });

  it('is deterministic', () => {
    expect(renderRatioChart({ patterns, subtitle: 'Test CPU <fast> & cheap, 2 cores.' })).toBe(svg);
  });

  it('marks a comparison with a failed case instead of drawing a bar', () => {
    const withFailure = comparePatterns([
      suite('cache/l2-hit', { name: 'GET', meanNs: 90_000 }, [
        failed('breakwater getOrLoad', 'ours'),
        { name: 'bentocache getOrSet', meanNs: 100_000, role: 'competitor' },
      ]),
    ]);
    const chart = renderRatioChart({ patterns: withFailure });
    assertWellFormed(chart);
    expect(chart).not.toContain('<rect');
    expect(chart).toContain('n/a (failed)');
  });
});

describe('chart helpers', () => {
  it('labels bars with the scenario, and the Breakwater case when a suite has several', () => {
    expect(chartGroups(patterns).map((group) => group.bars.map((bar) => bar.label))).toEqual([
      ['success vs cockatiel circuitBreaker()', 'success vs opossum (timeout: false)'],
      [
        'redis-64, breakwater limit() vs RateLimiterRedis.consume()',
        'redis-64, breakwater limit(), reserve: { batch: 100 } vs RateLimiterRedis.consume()',
        'redis-latency vs RateLimiterRedis.consume()',
      ],
    ]);
  });

  it('spans whole decades around the values and 1×', () => {
    expect(logDomain([0.62, 17.5])).toEqual({ min: 0.5, max: 100 });
    expect(logDomain([1.4, 2.6])).toEqual({ min: 0.5, max: 10 });
    expect(logDomain([0.3, 1860])).toEqual({ min: 0.2, max: 1000 });
    expect(logDomain([0.001, 5])).toEqual({ min: 0.01, max: 10 });
    expect(ticks(0.5, 10)).toEqual([0.5, 1, 2, 5, 10]);
    expect(ticks(0.2, 1000)).toEqual([0.2, 1, 10, 100, 1000]);
  });

  it('escapes XML', () => {
    expect(escapeXml(`a < b & "c" > 'd'`)).toBe('a &lt; b &amp; &quot;c&quot; &gt; &apos;d&apos;');
  });
});
