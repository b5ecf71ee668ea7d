import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { fakeClock } from '../fake-clock.js';

/** Counts the listeners added to `signal` minus those removed. */
function countListeners(signal: AbortSignal): { readonly count: number } {
  let count = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => {
    count++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => {
    count--;
    remove(...args);
  };
  return {
    get count() {
      return count;
    },
  };
}

describe('fakeClock', () => {
  it('starts at the given epoch and only moves when advanced', async () => {
    const clock = fakeClock(1_000);
    expect(clock.now()).toBe(1_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(clock.now()).toBe(1_000);
    await clock.advance(250);
    expect(clock.now()).toBe(1_250);
  });

  it('never resolves a sleep before its time', async () => {
    const clock = fakeClock();
    let resolved = false;
    const sleeping = clock.sleep(100).then(() => {
      resolved = true;
    });
    await clock.advance(99);
    expect(resolved).toBe(false);
    expect(clock.pendingSleeps).toBe(1);
    await clock.advance(1);
    expect(resolved).toBe(true);
    expect(clock.pendingSleeps).toBe(0);
    await sleeping;
  });

  it('fires sleepers in deadline order, ties in scheduling order, at their own time', async () => {
    const clock = fakeClock(0);
    const fired: string[] = [];
    const track = (label: string, ms: number) =>
      clock.sleep(ms).then(() => fired.push(`${label}@${clock.now()}`));
    void track('c', 30);
    void track('a', 10);
    void track('b1', 20);
    void track('b2', 20);
    await clock.advance(30);
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30']);
  });

  it('fires sleeps scheduled during an advance when they fall within it', async () => {
    const clock = fakeClock();
    const ticks: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 5; i++) {
        await clock.sleep(10);
        ticks.push(clock.now());
      }
    })();
    await clock.advance(35);
    expect(ticks).toEqual([10, 20, 30]);
    expect(clock.now()).toBe(35);
    await clock.advance(15);
    expect(ticks).toEqual([10, 20, 30, 40, 50]);
    await loop;
  });

  it('lets async continuations between sleeps run before time moves on', async () => {
    const clock = fakeClock();
    const seen: number[] = [];
    const worker = (async () => {
      await clock.sleep(10);
      // A few hops of async work before the next sleep is scheduled.
      await Promise.resolve();
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      await clock.sleep(10);
      seen.push(clock.now());
    })();
    await clock.advance(20);
    expect(seen).toEqual([20]);
    await worker;
  });

  it('rejects with the abort reason and drops the sleeper and its listener', async () => {
    const clock = fakeClock();
    const controller = new AbortController();
    const listeners = countListeners(controller.signal);
    const reason = new Error('stop');
    const sleeping = clock.sleep(100, controller.signal);
    expect(listeners.count).toBe(1);
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
    expect(clock.pendingSleeps).toBe(0);
    expect(listeners.count).toBe(0);
  });

  it('removes its abort listener when the sleep completes', async () => {
    const clock = fakeClock();
    const controller = new AbortController();
    const listeners = countListeners(controller.signal);
    const sleeping = clock.sleep(5, controller.signal);
    await clock.advance(5);
    await sleeping;
    expect(listeners.count).toBe(0);
  });

  it('rejects at once on an already aborted signal', async () => {
    const clock = fakeClock();
    const reason = new Error('already');
    await expect(clock.sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('resolves non-positive sleeps at once', async () => {
    const clock = fakeClock();
    await clock.sleep(0);
    await clock.sleep(-5);
    expect(clock.now()).toBe(0);
  });

  it('set() moves the wall clock without firing or delaying sleeps', async () => {
    const clock = fakeClock(0);
    let resolved = false;
    void clock.sleep(100).then(() => {
      resolved = true;
    });
    clock.set(1_000_000);
    expect(clock.now()).toBe(1_000_000);
    await clock.advance(50);
    expect(resolved).toBe(false);
    expect(clock.now()).toBe(1_000_050);
    clock.set(0);
    await clock.advance(50);
    expect(resolved).toBe(true);
    expect(clock.now()).toBe(50);
  });

  it('serialises concurrent advances', async () => {
    const clock = fakeClock();
    const fired: number[] = [];
    void clock.sleep(15).then(() => fired.push(clock.now()));
    await Promise.all([clock.advance(10), clock.advance(10)]);
    expect(fired).toEqual([15]);
    expect(clock.now()).toBe(20);
  });

  it('rejects bad arguments', async () => {
    const clock = fakeClock();
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
    await expect(clock.sleep(Number.NaN)).rejects.toThrow(RangeError);
    expect(() => fakeClock(Number.NaN)).toThrow(RangeError);
  });

  it('keeps the never-early property under random schedules', async () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 20; round++) {
      const clock = fakeClock(0);
      const violations: string[] = [];
      const finished: number[] = [];
      for (let i = 0; i < 10; i++) {
        const start = clock.now();
        const ms = Math.floor(random() * 100);
        void clock.sleep(ms).then(() => {
          if (clock.now() < start + ms) violations.push(`${ms} fired at ${clock.now()}`);
          finished.push(clock.now());
        });
      }
      for (let step = 0; step < 5; step++) await clock.advance(Math.floor(random() * 30));
      expect(violations).toEqual([]);
      expect([...finished].sort((a, b) => a - b)).toEqual(finished);
    }
  });

  it("adds no listener to core's never-aborted signal while sleeping", async () => {
    const clock = fakeClock();
    // Where @breakwater/core keeps its shared never-aborted signal (testkit does not import core).
    const registry = globalThis as { [key: symbol]: AbortSignal | undefined };
    const key = Symbol.for('@breakwater/core/never-aborted-signal');
    registry[key] ??= new AbortController().signal;
    const signal = registry[key];
    const sleeps = Array.from({ length: 20 }, () => clock.sleep(100, signal));
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    await clock.advance(100);
    await Promise.all(sleeps);
  });
});
