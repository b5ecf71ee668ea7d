/**
 * Pinned write-behind values live outside the L1's eviction ring: eviction never visits them, however
 * many there are, yet every read finds them and they still count in the L1's bounds.
 */
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { L1Tier } from '../engine/l1-tier.js';
import { RecentVersions } from '../engine/recent-versions.js';
import { EMPTY_TAGS, type Entry } from '../entry.js';
import { cache, writeBehind } from '../index.js';

const entry = (value: number, until = Number.POSITIVE_INFINITY): Entry => ({
  createdAt: 0,
  freshUntil: until,
  staleUntil: until,
  graceUntil: until,
  loadMs: 0,
  negative: false,
  tags: EMPTY_TAGS.tags,
  tagVersions: EMPTY_TAGS.versions,
  value,
  version: value + 1,
  size: 1,
});

describe('pinned values in the L1', () => {
  it('are never visited by eviction, are still read, and still take room in the bounds', () => {
    const pinned = 2_000;
    const room = 100;
    const sets = 1_000;
    const l1 = new L1Tier(
      pinned + room,
      Number.POSITIVE_INFINITY,
      1_000,
      fakeClock(0),
      new RecentVersions(),
    );
    for (let i = 0; i < pinned; i++) l1.pin(`pinned:${i}`, entry(i), 0);
    expect(l1.evictionVisits).toBe(0);

    for (let i = 0; i < sets; i++) l1.store(`k${i}`, entry(i, 60_000), 0);
    // CLOCK visits an entry at most twice per insertion (second chance, then eviction): well
    // under one visit per pinned value. Walking the pinned values would cost `pinned` per pass.
    expect(l1.evictionVisits).toBeGreaterThan(0);
    expect(l1.evictionVisits).toBeLessThanOrEqual(2 * sets);

    // Every pinned value is still there, and found by reads.
    for (let i = 0; i < pinned; i++) expect(l1.get(`pinned:${i}`)?.entry.value).toBe(i);
    // The pinned values take their room: only `room` evictable entries fit beside them.
    expect(l1.size).toBe(pinned + room);
    expect(l1.peek(`k${sets - 1}`)?.entry.value).toBe(sets - 1);
    expect(l1.peek('k0')).toBeUndefined();
  });

  it('leave the pinned set when stored normally again, and are evictable then', () => {
    const l1 = new L1Tier(2, Number.POSITIVE_INFINITY, 1_000, fakeClock(0), new RecentVersions());
    for (let i = 0; i < 5; i++) l1.pin(`p${i}`, entry(i), 0);
    expect(l1.size).toBe(5);
    for (let i = 0; i < 5; i++) l1.store(`p${i}`, entry(i, 60_000), 0); // settled
    expect(l1.size).toBe(2);
    l1.pin('x', entry(9), 0);
    l1.delete('x');
    expect(l1.get('x')).toBeUndefined();
  });

  it('serve every pending write-behind value of a cache whose L1 they overflow', async () => {
    const c = cache({ name: 'pinned', l1: { maxEntries: 10 }, ttlMs: 60_000 });
    const wb = writeBehind<number>({ name: 'pinned', cache: c, flusher: false, persist: () => {} });
    for (let i = 0; i < 200; i++) await wb.write(`w${i}`, i);
    for (let i = 0; i < 50; i++) await c.set(`other${i}`, i);
    for (let i = 0; i < 200; i++) expect(await c.get(`w${i}`)).toBe(i);
    await wb.close();
    await c.close();
  });
});
