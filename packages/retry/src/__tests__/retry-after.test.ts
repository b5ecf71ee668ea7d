import { describe, expect, it } from 'vitest';
import { retryAfterFromHeaders } from '../index.js';

describe('retryAfterFromHeaders()', () => {
  it('reads delay-seconds from Headers, Node header records and plain objects of any case', () => {
    expect(retryAfterFromHeaders(new Headers({ 'Retry-After': '120' }))).toBe(120_000);
    expect(retryAfterFromHeaders({ 'retry-after': '2' })).toBe(2_000);
    expect(retryAfterFromHeaders({ 'Retry-After': '1.5' })).toBe(1_500);
    expect(retryAfterFromHeaders({ 'retry-after': ['3', '4'] })).toBe(3_000);
    expect(retryAfterFromHeaders({ 'retry-after': 0 })).toBe(0);
  });

  it('prefers retry-after-ms', () => {
    expect(retryAfterFromHeaders({ 'retry-after-ms': '250', 'retry-after': '9' })).toBe(250);
  });

  it('turns an HTTP-date into a delay from now (0 when past)', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    expect(retryAfterFromHeaders({ 'retry-after': 'Wed, 21 Oct 2026 07:28:30 GMT' }, { now })).toBe(
      30_000,
    );
    expect(retryAfterFromHeaders({ 'retry-after': 'Wed, 21 Oct 2026 07:27:00 GMT' }, { now })).toBe(
      0,
    );
  });

  it('returns undefined when there is no usable hint', () => {
    expect(retryAfterFromHeaders(undefined)).toBeUndefined();
    expect(retryAfterFromHeaders(null)).toBeUndefined();
    expect(retryAfterFromHeaders(new Headers())).toBeUndefined();
    expect(retryAfterFromHeaders({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterFromHeaders({ 'retry-after': '-5' })).toBeUndefined();
  });
});
