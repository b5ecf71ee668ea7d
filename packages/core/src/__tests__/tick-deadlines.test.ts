/**
 * `timeout()`'s deadline queue counts ticks instead of reading the clock per call (a deliberate
 * fast-path copy of the store layer's DeadlineQueue): it must time out the same calls, in the same
 * order, never earlier and at most `ms / 16` later.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineQueue } from '../store/deadline-queue.js';
import { type TickDeadlineEntry, TickDeadlineQueue } from '../tick-deadlines.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** An entry that records when it expired (fake ms since `t0`). */
class Entry implements TickDeadlineEntry {
  expiresAfter = 0;
  older: TickDeadlineEntry | undefined = undefined;
  newer: TickDeadlineEntry | undefined = undefined;
  linked = false;
  expiredAt: number | undefined = undefined;

  constructor(
    private readonly t0: number,
    private readonly onFail?: () => void,
  ) {}

  fail(): void {
    this.expiredAt = Date.now() - this.t0;
    this.onFail?.();
  }
}

describe('TickDeadlineQueue', () => {
  it('times a call that arms the timer out exactly at the limit when a tick divides it', () => {
    const queue = new TickDeadlineQueue(160);
    const call = new Entry(Date.now());
    queue.enqueue(call);
    vi.advanceTimersByTime(159);
    expect(call.expiredAt).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(call.expiredAt).toBe(160);
    expect(queue.settle(call)).toBe(false);
  });

  it('times a call started between ticks out within [limit, limit + limit / 16]', () => {
    for (const startAt of [0, 1, 3, 4, 5, 7]) {
      vi.clearAllTimers();
      const queue = new TickDeadlineQueue(160);
      const t0 = Date.now();
      const first = new Entry(t0);
      queue.enqueue(first);
      vi.advanceTimersByTime(startAt);
      const call = new Entry(t0);
      queue.enqueue(call);
      expect(queue.settle(first)).toBe(true);
      vi.advanceTimersByTime(159);
      expect(call.expiredAt).toBeUndefined();
      vi.advanceTimersByTime(12);
      expect(call.expiredAt! - startAt).toBeGreaterThanOrEqual(160);
      expect(call.expiredAt! - startAt).toBeLessThanOrEqual(170);
    }
  });

  it('lets its timer lapse when no call is in flight', () => {
    const queue = new TickDeadlineQueue(100);
    const call = new Entry(Date.now());
    queue.enqueue(call);
    expect(vi.getTimerCount()).toBe(1);
    expect(queue.settle(call)).toBe(true);
    vi.advanceTimersByTime(queue.tickMs);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('property: times out the same calls as DeadlineQueue, in the same order, never earlier and at most limit / 16 later', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const) }),
            fc.record({ op: fc.constant('settle' as const), pick: fc.nat() }),
            fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) }),
          ),
          { maxLength: 80 },
        ),
        (ms, steps) => {
          vi.clearAllTimers();
          const t0 = Date.now();
          const ticks = new TickDeadlineQueue(ms);
          const exact = new DeadlineQueue(ms);
          const ticked: number[] = [];
          const exactly: { id: number; at: number }[] = [];
          const calls: { id: number; entry: Entry; node: ReturnType<DeadlineQueue['track']> }[] =
            [];
          for (const step of steps) {
            if (step.op === 'add') {
              const id = calls.length;
              const entry = new Entry(t0, () => ticked.push(id));
              ticks.enqueue(entry);
              const node = exact.track(() => exactly.push({ id, at: Date.now() - t0 }));
              calls.push({ id, entry, node });
            } else if (step.op === 'settle') {
              // A call that settles while in flight under both (one that settles between the two
              // deadlines is the documented lateness, not a disagreement).
              const live = calls.filter(
                ({ id, entry }) => entry.linked && !exactly.some((e) => e.id === id),
              );
              const picked = live[step.pick % Math.max(1, live.length)];
              if (picked !== undefined) {
                expect(ticks.settle(picked.entry)).toBe(true);
                expect(exact.settle(picked.node)).toBe(true);
              }
            } else {
              vi.advanceTimersByTime(step.ms);
            }
          }
          vi.advanceTimersByTime(ms + ms / 16 + 2);
          expect(ticked).toEqual(exactly.map((e) => e.id));
          for (const { id, at } of exactly) {
            const late = calls[id]!.entry.expiredAt! - at;
            expect(late).toBeGreaterThanOrEqual(0);
            expect(late).toBeLessThanOrEqual(Math.max(1, ms / 16));
          }
          expect(exact.size).toBe(0);
        },
      ),
    );
  });
});
