import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DeadlineEntry, DeadlineQueue } from '../index.js';

describe('DeadlineQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function node(expiresAt: number, failed: string[], name: string): DeadlineEntry {
    return {
      expiresAt,
      fail: () => failed.push(name),
      prev: undefined,
      next: undefined,
      linked: false,
    };
  }

  it('fails enqueued nodes in order when due, and not those settled in time', () => {
    vi.useFakeTimers();
    const queue = new DeadlineQueue(50);
    const failed: string[] = [];
    const start = performance.now();
    const a = node(queue.expiryOf(start), failed, 'a');
    const b = node(queue.expiryOf(start), failed, 'b');
    const c = node(queue.expiryOf(start), failed, 'c');
    queue.enqueue(a);
    queue.enqueue(b);
    queue.enqueue(c);
    expect(queue.size).toBe(3);
    expect(queue.settle(b)).toBe(true);
    expect(queue.settle(b)).toBe(false);
    expect(queue.size).toBe(2);
    vi.advanceTimersByTime(60);
    expect(failed).toEqual(['a', 'c']);
    expect(queue.size).toBe(0);
    expect(queue.settle(a)).toBe(false);
    queue.dispose();
  });

  it('mixes enqueued nodes with tracked callbacks', () => {
    vi.useFakeTimers();
    const queue = new DeadlineQueue(50);
    const failed: string[] = [];
    const tracked = queue.track(() => failed.push('tracked'));
    queue.enqueue(node(queue.expiryOf(performance.now()), failed, 'node'));
    queue.dispose();
    expect(failed).toEqual(['tracked', 'node']);
    expect(queue.settle(tracked)).toBe(false);
  });

  it('run() settles like the promise in time, and rejects with onTimeout() when late', async () => {
    vi.useFakeTimers();
    const queue = new DeadlineQueue(50);
    await expect(queue.run(Promise.resolve(1), () => new Error('late'))).resolves.toBe(1);
    const never = new Promise<number>(() => {});
    const late = queue.run(never, () => new Error('late'));
    vi.advanceTimersByTime(49);
    let settled = false;
    late
      .catch(() => {})
      .finally(() => {
        settled = true;
      });
    await Promise.resolve();
    expect(settled).toBe(false);
    vi.advanceTimersByTime(2);
    await expect(late).rejects.toThrow('late');
    queue.dispose();
  });

  it('re-arms for the oldest call still in flight when its timer finds nothing due', () => {
    vi.useFakeTimers();
    const queue = new DeadlineQueue(50);
    const failed: string[] = [];
    const first = queue.track(() => failed.push('first'));
    vi.advanceTimersByTime(30);
    queue.track(() => failed.push('second'));
    // The first settles in time; the timer armed for it must still fail the second on time.
    expect(queue.settle(first)).toBe(true);
    vi.advanceTimersByTime(25);
    expect(failed).toEqual([]);
    vi.advanceTimersByTime(30);
    expect(failed).toEqual(['second']);
    queue.dispose();
  });
});
