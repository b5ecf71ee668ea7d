import { type DeadlineEntry, DeadlineQueue, isTimeoutError } from '@breakwater/core';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallDeadlines, TimedCall } from '../call-timeout.js';
import { circuitBreaker } from '../circuit-breaker.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** A deadline queue that records which calls ran out of time, and when (fake ms since start). */
function queue(ms: number) {
  const expired: { call: TimedCall; at: number }[] = [];
  const start = Date.now();
  const deadlines = new CallDeadlines(ms, (call) => expired.push({ call, at: Date.now() - start }));
  return { deadlines, expired };
}

describe('CallDeadlines', () => {
  it('times a call out no earlier than the limit and at most limit / 16 later', () => {
    for (const startAt of [0, 1, 3, 4, 5, 7]) {
      const { deadlines, expired } = queue(160);
      // Another call arms the timer first, so the one under test starts between two ticks.
      const first = new TimedCall();
      deadlines.add(first);
      vi.advanceTimersByTime(startAt);
      const call = new TimedCall();
      deadlines.add(call);
      deadlines.remove(first);
      vi.advanceTimersByTime(159);
      expect(expired).toHaveLength(0);
      vi.advanceTimersByTime(10);
      const [entry] = expired;
      expect(entry?.call).toBe(call);
      expect(entry!.at - startAt).toBeGreaterThanOrEqual(160);
      expect(entry!.at - startAt).toBeLessThanOrEqual(160 + 160 / 16);
      vi.clearAllTimers();
    }
  });

  it('times a call that arms the timer out exactly at the limit when a tick divides it', () => {
    const { deadlines, expired } = queue(160);
    deadlines.add(new TimedCall());
    vi.advanceTimersByTime(159);
    expect(expired).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(expired.map((e) => e.at)).toEqual([160]);
  });

  it('keeps a 1 ms tick for limits under 32 ms', () => {
    const { deadlines, expired } = queue(5);
    const call = new TimedCall();
    deadlines.add(call);
    vi.advanceTimersByTime(4);
    expect(expired).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(expired.map((e) => e.call)).toEqual([call]);
  });

  it('times out only the calls still in the queue, oldest first', () => {
    const { deadlines, expired } = queue(100);
    const calls = Array.from({ length: 5 }, () => new TimedCall());
    for (const call of calls) {
      deadlines.add(call);
      vi.advanceTimersByTime(10);
    }
    deadlines.remove(calls[0]!);
    deadlines.remove(calls[3]!);
    vi.advanceTimersByTime(200);
    expect(expired.map((e) => calls.indexOf(e.call))).toEqual([1, 2, 4]);
    for (const [i, entry] of expired.entries()) {
      const startedAt = [10, 20, 40][i]!;
      expect(entry.at - startedAt).toBeGreaterThanOrEqual(100);
      expect(entry.at - startedAt).toBeLessThanOrEqual(100 + 100 / 16);
    }
  });

  it('lets its timer lapse when no call is in flight', () => {
    const { deadlines } = queue(1000);
    const call = new TimedCall();
    deadlines.add(call);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.remove(call);
    // The armed tick fires once, finds nothing and does not re-arm.
    vi.advanceTimersByTime(1000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('dispose() stops an idle timer but not the deadline of a call in flight', () => {
    const { deadlines, expired } = queue(1000);
    const call = new TimedCall();
    deadlines.add(call);
    deadlines.dispose();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000 + 1000 / 16);
    expect(expired.map((e) => e.call)).toEqual([call]);

    const next = new TimedCall();
    deadlines.add(next);
    deadlines.remove(next);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a call added while calls time out is queued behind them', () => {
    const added: TimedCall[] = [];
    let deadlines!: CallDeadlines;
    const expired: TimedCall[] = [];
    deadlines = new CallDeadlines(32, (call) => {
      expired.push(call);
      if (added.length < 2) {
        const next = new TimedCall();
        added.push(next);
        deadlines.add(next);
      }
    });
    const first = new TimedCall();
    deadlines.add(first);
    vi.advanceTimersByTime(32);
    expect(expired).toEqual([first]);
    vi.advanceTimersByTime(40);
    expect(expired).toEqual([first, added[0]]);
    vi.advanceTimersByTime(40);
    expect(expired).toEqual([first, added[0], added[1]]);
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('property: every call still queued times out within [limit, limit + limit / 16] of its start', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const) }),
            fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
            fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) }),
          ),
          { maxLength: 80 },
        ),
        (ms, steps) => {
          vi.clearAllTimers();
          const startedAt = new Map<TimedCall, number>();
          const removed = new Set<TimedCall>();
          const expiredAt = new Map<TimedCall, number>();
          const t0 = Date.now();
          const deadlines = new CallDeadlines(ms, (call) => {
            expect(expiredAt.has(call)).toBe(false);
            expiredAt.set(call, Date.now() - t0);
          });
          const inQueue = () =>
            [...startedAt.keys()].filter((c) => !removed.has(c) && !expiredAt.has(c));
          for (const step of steps) {
            if (step.op === 'add') {
              const call = new TimedCall();
              startedAt.set(call, Date.now() - t0);
              deadlines.add(call);
            } else if (step.op === 'remove') {
              const queued = inQueue();
              const call = queued[step.pick % Math.max(1, queued.length)];
              if (call !== undefined) {
                deadlines.remove(call);
                removed.add(call);
              }
            } else {
              vi.advanceTimersByTime(step.ms);
            }
          }
          vi.advanceTimersByTime(ms + ms / 16 + 1);
          for (const [call, start] of startedAt) {
            // A call taken out of the queue (it settled) never times out.
            if (removed.has(call)) continue;
            const at = expiredAt.get(call);
            expect(at).toBeDefined();
            expect(at! - start).toBeGreaterThanOrEqual(ms);
            expect(at! - start).toBeLessThanOrEqual(ms + Math.max(1, ms / 16));
          }
          for (const call of removed) expect(expiredAt.has(call)).toBe(false);
          expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});

describe("CallDeadlines, the fast-path copy of core's DeadlineQueue", () => {
  it('property: times out the same calls as DeadlineQueue, in the same order, never earlier and at most limit / 16 later', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('add' as const) }),
            fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
            fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) }),
          ),
          { maxLength: 80 },
        ),
        (ms, steps) => {
          vi.clearAllTimers();
          const t0 = Date.now();
          const ids = new Map<TimedCall, number>();
          const ticked: { id: number; at: number }[] = [];
          const exact: { id: number; at: number }[] = [];
          const deadlines = new CallDeadlines(ms, (call) =>
            ticked.push({ id: ids.get(call)!, at: Date.now() - t0 }),
          );
          const queue = new DeadlineQueue(ms);
          const calls: { id: number; call: TimedCall; node: DeadlineEntry }[] = [];
          const expired = (id: number) =>
            ticked.some((e) => e.id === id) || exact.some((e) => e.id === id);
          for (const step of steps) {
            if (step.op === 'add') {
              const id = ids.size;
              const call = new TimedCall();
              ids.set(call, id);
              deadlines.add(call);
              const node = queue.track(() => exact.push({ id, at: Date.now() - t0 }));
              calls.push({ id, call, node });
            } else if (step.op === 'remove') {
              // A call that settles while in flight under both (one that settles between the
              // two deadlines is the documented lateness, not a disagreement).
              const live = calls.filter(({ id }) => !expired(id));
              const picked = live[step.pick % Math.max(1, live.length)];
              if (picked !== undefined) {
                deadlines.remove(picked.call);
                expect(queue.settle(picked.node)).toBe(true);
                calls.splice(calls.indexOf(picked), 1);
              }
            } else {
              vi.advanceTimersByTime(step.ms);
            }
          }
          vi.advanceTimersByTime(ms + ms / 16 + 2);
          expect(ticked.map((e) => e.id)).toEqual(exact.map((e) => e.id));
          for (const [i, { at }] of ticked.entries()) {
            const late = at - exact[i]!.at;
            expect(late).toBeGreaterThanOrEqual(0);
            expect(late).toBeLessThanOrEqual(Math.max(1, ms / 16));
          }
          expect(queue.size).toBe(0);
        },
      ),
    );
  });
});

describe('TimedCall', () => {
  it('creates no signal until read, and a late read sees the abort', () => {
    const call = new TimedCall();
    const reason = new Error('late');
    call.abort(reason);
    expect(call.signal.aborted).toBe(true);
    expect(call.signal.reason).toBe(reason);
  });
});

describe('a breaker with timeoutMs', () => {
  it('times out concurrent calls each at its own deadline', async () => {
    const breaker = circuitBreaker({ timeoutMs: 100, failureRatio: 1, minimumThroughput: 100 });
    const never = () => new Promise<never>(() => {});
    const results: { i: number; at: number; timedOut: boolean }[] = [];
    const start = Date.now();
    const track = (i: number, promise: Promise<unknown>) =>
      promise.then(
        () => results.push({ i, at: Date.now() - start, timedOut: false }),
        (error: unknown) =>
          results.push({ i, at: Date.now() - start, timedOut: isTimeoutError(error) }),
      );
    const done = [track(0, breaker.execute(never))];
    await vi.advanceTimersByTimeAsync(30);
    let finish = () => {};
    done.push(
      track(
        1,
        breaker.execute(
          () =>
            new Promise<void>((resolve) => {
              finish = resolve;
            }),
        ),
      ),
    );
    await vi.advanceTimersByTimeAsync(30);
    done.push(track(2, breaker.execute(never)));
    await vi.advanceTimersByTimeAsync(30);
    finish();
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all(done);
    expect(results).toEqual([
      { i: 1, at: 90, timedOut: false },
      { i: 0, at: expect.any(Number), timedOut: true },
      { i: 2, at: expect.any(Number), timedOut: true },
    ]);
    expect(results[1]!.at).toBeGreaterThanOrEqual(100);
    expect(results[1]!.at).toBeLessThanOrEqual(100 + 100 / 16);
    expect(results[2]!.at).toBeGreaterThanOrEqual(160);
    expect(results[2]!.at).toBeLessThanOrEqual(160 + 100 / 16);
    expect(breaker.stats()).toMatchObject({ calls: 3, failures: 2 });
    await breaker.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('owns one timer however many calls are in flight, and none once idle and closed', async () => {
    const breaker = circuitBreaker({ timeoutMs: 1000 });
    const ok = () => Promise.resolve(1);
    await Promise.all(Array.from({ length: 50 }, () => breaker.execute(ok)));
    const pending = Array.from({ length: 50 }, () =>
      breaker.execute(() => new Promise((resolve) => setTimeout(resolve, 10))),
    );
    // 50 timers of the calls themselves, one of the breaker.
    expect(vi.getTimerCount()).toBe(51);
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all(pending);
    await breaker.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports durations to listeners and rejects a late result after the timeout', async () => {
    const breaker = circuitBreaker({ timeoutMs: 50, consecutiveFailures: 2 });
    const successes: number[] = [];
    const failures: string[] = [];
    breaker.onSuccess(({ durationMs }) => successes.push(durationMs));
    breaker.onFailure(({ reason, durationMs }) => failures.push(`${reason}:${durationMs}`));
    const quick = breaker.execute(() => new Promise((resolve) => setTimeout(resolve, 20, 'a')));
    const slow = breaker.execute(() => new Promise((resolve) => setTimeout(resolve, 80, 'b')));
    const slowResult = slow.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(100);
    expect(await quick).toBe('a');
    expect(isTimeoutError(await slowResult)).toBe(true);
    expect(successes).toEqual([20]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^timeout:5\d$/);
    await breaker.close();
  });
});
