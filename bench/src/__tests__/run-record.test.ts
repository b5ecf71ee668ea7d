import { describe, expect, it } from 'vitest';
import { whyNotComparison } from '../run-record.js';
import { failed, sampleResults, suite } from './fixtures.js';

describe('whyNotComparison', () => {
  it('lets only a full run without failures write RESULTS.md and the chart', () => {
    expect(whyNotComparison({ filters: [], results: sampleResults(), failed: [] })).toBeUndefined();
    expect(whyNotComparison({ filters: ['core'], results: sampleResults(), failed: [] })).toBe(
      'a filtered run (core)',
    );
    expect(
      whyNotComparison({ filters: [], results: sampleResults(), failed: ['cache/miss: boom'] }),
    ).toBe('1 suite(s) failed');
    const withFailedCase = [
      suite('cache/l2-hit', { name: 'GET', meanNs: 90_000 }, [failed('breakwater get', 'ours')]),
    ];
    expect(whyNotComparison({ filters: [], results: withFailedCase, failed: [] })).toBe(
      '1 case(s) failed',
    );
  });
});
