import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClockCache } from '../clock-cache.js';
import { cache } from '../index.js';

describe('ClockCache', () => {
  it('evicts entries not read since the last pass first (CLOCK)', () => {
    const evicted: string[] = [];
    const lru = new ClockCache<number>(3, Number.POSITIVE_INFINITY, (key) => evicted.push(key));
    lru.set('a', 1, 1);
    lru.set('b', 2, 1);
    lru.set('c', 3, 1);
    lru.set('d', 4, 1); // every entry had its chance: the oldest goes
    expect(evicted).toEqual(['a']);
    expect(lru.get('b')).toBe(2);
    lru.set('e', 5, 1); // b was read again, c and d were not: c goes
    expect(evicted).toEqual(['a', 'c']);
    lru.delete('e');
    expect([...lru.entries()].map(([k]) => k).sort()).toEqual(['b', 'd']);
  });

  it('never evicts the entry just stored', () => {
    const lru = new ClockCache<number>(1, 100);
    lru.set('a', 1, 1);
    lru.get('a');
    lru.set('b', 2, 1);
    expect(lru.peek('b')).toBe(2);
    expect(lru.size).toBe(1);
  });

  it('evicts by approximate bytes and skips values larger than the bound', () => {
    const lru = new ClockCache<string>(100, 10);
    lru.set('a', 'x', 4);
    lru.set('b', 'y', 4);
    lru.set('c', 'z', 4);
    expect(lru.size).toBe(2);
    expect(lru.bytes).toBe(8);
    expect(lru.peek('a')).toBeUndefined();
    lru.set('huge', 'h', 11);
    expect(lru.peek('huge')).toBeUndefined();
    lru.set('b', 'y2', 6);
    expect(lru.bytes).toBe(10);
    lru.delete('b');
    expect(lru.bytes).toBe(4);
    lru.clear();
    expect(lru.size).toBe(0);
  });
});

describe('L1 bounds', () => {
  it('keeps at most l1.maxEntries entries', async () => {
    const c = cache({ name: 'bounded', l1: { maxEntries: 10 } });
    for (let i = 0; i < 50; i++) await c.set(`k${i}`, i);
    let present = 0;
    for (let i = 0; i < 50; i++) if ((await c.get(`k${i}`)) !== undefined) present++;
    expect(present).toBe(10);
    expect(await c.get('k49')).toBe(49);
  });

  it('keeps the approximate size under l1.maxBytes', async () => {
    const c = cache({ name: 'bytes', l1: { maxBytes: 10_000 } });
    for (let i = 0; i < 20; i++) await c.set(`k${i}`, 'x'.repeat(1000));
    let present = 0;
    for (let i = 0; i < 20; i++) if ((await c.get(`k${i}`)) !== undefined) present++;
    expect(present).toBeGreaterThan(0);
    expect(present).toBeLessThan(10);
  });
});

describe('ClockCache (property)', () => {
  it('keeps both bounds and an exact byte count under any sequence of operations', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 20 }),
        size: fc.integer({ min: 1, max: 40 }),
      }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(op, { maxLength: 200 }),
        (maxEntries, maxBytes, ops) => {
          const lru = new ClockCache<number>(maxEntries, maxBytes);
          const sizes = new Map<string, number>();
          for (const o of ops) {
            const key = `k${o.key}`;
            if (o.kind === 'set') lru.set(key, o.key, o.size);
            else if (o.kind === 'get') lru.get(key);
            else lru.delete(key);
            expect(lru.size).toBeLessThanOrEqual(maxEntries);
            expect(lru.bytes).toBeLessThanOrEqual(maxBytes);
            sizes.clear();
            for (const [k, slot] of lru.entries()) sizes.set(k, slot.size);
            expect([...sizes.values()].reduce((a, b) => a + b, 0)).toBe(lru.bytes);
          }
          // The last value set, if it fits on its own, is always present.
          const lastSet = [...ops].reverse().find((o) => o.kind !== 'get');
          if (lastSet?.kind === 'set' && lastSet.size <= maxBytes) {
            expect(lru.peek(`k${lastSet.key}`)).toBe(lastSet.key);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
