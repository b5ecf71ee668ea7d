import { describe, expect, it } from 'vitest';
import { isTimeoutError, TimeoutError, timeout } from '../index.js';
import { abortListeners, flush, trackTimers } from './leaks.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function honouring(ms: number, signal: AbortSignal, log: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve('done'), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      log.push('fn saw abort');
      // Finishing takes a moment, as real clean-up would.
      setTimeout(() => {
        log.push('fn finished');
        reject(signal.reason);
      }, 20);
    });
  });
}

describe('timeout()', () => {
  it('passes the result through when fn finishes in time', async () => {
    const policy = timeout({ ms: 100 });
    await expect(policy.execute(() => 42)).resolves.toBe(42);
    await expect(policy.execute(async () => 'async')).resolves.toBe('async');
  });

  it('passes fn errors through untouched', async () => {
    const boom = new Error('boom');
    await expect(timeout({ ms: 100 }).execute(() => Promise.reject(boom))).rejects.toBe(boom);
    await expect(
      timeout({ ms: 100 }).execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
  });

  it('cooperative: aborts ctx.signal with the TimeoutError and waits for fn before rejecting', async () => {
    const log: string[] = [];
    const policy = timeout({ ms: 10, name: 'db', strategy: 'cooperative' });
    const error = await policy
      .execute(async ({ signal }) => {
        try {
          return await honouring(1_000, signal, log);
        } finally {
          log.push('fn settled');
        }
      })
      .catch((e: unknown) => e);
    log.push('caller rejected');
    expect(log).toEqual(['fn saw abort', 'fn finished', 'fn settled', 'caller rejected']);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(isTimeoutError(error)).toBe(true);
    expect(error).toMatchObject({ policyName: 'db', timeoutMs: 10, name: 'TimeoutError' });
  });

  it('cooperative: rejects with TimeoutError even when fn ignores the abort and succeeds late', async () => {
    const policy = timeout({ ms: 5 });
    await expect(policy.execute(() => sleep(30).then(() => 'late'))).rejects.toBeInstanceOf(
      TimeoutError,
    );
  });

  it('aggressive: rejects at once and still aborts ctx.signal', async () => {
    const log: string[] = [];
    const policy = timeout({ ms: 10, strategy: 'aggressive' });
    let seen: AbortSignal | undefined;
    const error = await policy
      .execute(async ({ signal }) => {
        seen = signal;
        await honouring(1_000, signal, log);
      })
      .catch((e: unknown) => e);
    log.push('caller rejected');
    expect(error).toBeInstanceOf(TimeoutError);
    expect(log).toEqual(['fn saw abort', 'caller rejected']);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
    await sleep(40);
    expect(log).toEqual(['fn saw abort', 'caller rejected', 'fn finished']);
  });

  it('records what fn died of as the cause of the TimeoutError', async () => {
    const died = new Error('socket closed');
    const error = await timeout({ ms: 5 })
      .execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(died))),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).cause).toBe(died);
  });

  it.each(['cooperative', 'aggressive'] as const)(
    '%s: the caller’s abort rejects at once with signal.reason and reaches fn',
    async (strategy) => {
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      let inner: AbortSignal | undefined;
      const pending = timeout({ ms: 1_000, strategy }).execute(
        ({ signal }) => {
          inner = signal;
          return new Promise(() => {});
        },
        { signal: controller.signal },
      );
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(inner?.aborted).toBe(true);
      expect(inner?.reason).toBe(reason);
    },
  );

  it('does not call fn when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('already'));
    let called = false;
    await expect(
      timeout({ ms: 10 }).execute(
        () => {
          called = true;
        },
        { signal: controller.signal },
      ),
    ).rejects.toThrow('already');
    expect(called).toBe(false);
  });

  it('arms one timer per policy, never per call, that keeps no process alive, and leaves no listener', async () => {
    const timers = trackTimers();
    try {
      const controller = new AbortController();
      const signal = controller.signal;
      // A long limit: a timer per call would still be pending when we look.
      const slow = timeout({ ms: 60_000 });
      await slow.execute(() => 1, { signal });
      await slow.execute(() => Promise.reject(new Error('x')), { signal }).catch(() => {});
      await slow
        .execute(() => {
          throw new Error('sync');
        })
        .catch(() => {});
      await Promise.all(Array.from({ length: 50 }, (_, i) => slow.execute(async () => i)));
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => slow.execute(async ({ signal: s }) => s.aborted || i)),
      );
      expect(timers.live()).toBe(1);
      expect(timers.handles().every((handle) => !handle.hasRef())).toBe(true);

      const aborting = new AbortController();
      const pending = slow.execute(({ signal: s }) => honouring(500, s), {
        signal: aborting.signal,
      });
      aborting.abort();
      await pending.catch(() => {});
      expect(abortListeners(aborting.signal)).toBe(0);
      await sleep(40); // lets fn finish its own clean-up timer
      expect(timers.live()).toBe(1);

      await timeout({ ms: 5 })
        .execute(({ signal: s }) => honouring(500, s), { signal })
        .catch(() => {});
      await timeout({ ms: 5, strategy: 'aggressive' })
        .execute(({ signal: s }) => honouring(500, s), { signal })
        .catch(() => {});
      await sleep(40);
      await flush();
      expect(abortListeners(signal)).toBe(0);
      // The 5 ms policies' timers fired, found nothing left to time and stopped.
      expect(timers.live()).toBe(1);
    } finally {
      timers.restore();
    }
  });

  it('creates an AbortController only for calls that read ctx.signal', async () => {
    const Original = globalThis.AbortController;
    let created = 0;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        created++;
      }
    };
    try {
      const cooperative = timeout({ ms: 1_000 });
      const aggressive = timeout({ ms: 1_000, strategy: 'aggressive' });
      const caller = new Original();
      for (const policy of [cooperative, aggressive]) {
        await policy.execute(async () => 1);
        await policy.execute(async () => 1, { signal: caller.signal });
        await policy.execute(() => Promise.reject(new Error('x'))).catch(() => {});
      }
      expect(created).toBe(0);
      await cooperative.execute(({ signal }) => signal.aborted);
      await aggressive.execute(({ signal }) => signal.aborted, { signal: caller.signal });
      expect(created).toBe(2);
    } finally {
      globalThis.AbortController = Original;
    }
  });

  it('rejects bad options, naming the option and the value', () => {
    expect(() => timeout({ ms: -1 })).toThrow('Expected `ms` to be a finite number > 0, got -1');
    expect(() => timeout({ ms: 0 })).toThrow(RangeError);
    expect(() => timeout({ ms: Number.POSITIVE_INFINITY })).toThrow('got Infinity');
    expect(() => timeout({ ms: '5' as unknown as number })).toThrow(TypeError);
    expect(() => timeout({ ms: 5, strategy: 'eager' as 'aggressive' })).toThrow(
      "Expected `strategy` to be one of 'cooperative' | 'aggressive', got \"eager\"",
    );
    expect(() => timeout(undefined as unknown as { ms: number })).toThrow('Expected `options`');
  });
});
