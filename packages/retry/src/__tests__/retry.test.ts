import { readFileSync } from 'node:fs';
import { ExecutionRejectedError, pipeline, timeout } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  constant,
  exponential,
  type GiveUpEvent,
  isNonRetryableError,
  linear,
  NonRetryableError,
  type RetryEvent,
  retry,
  retryAfterFromHeaders,
} from '../index.js';
import { RETRY_PACKAGE } from '../version.js';
import { abortListeners, activeTimers, failing, flush } from './helpers.js';

describe('retry()', () => {
  it('returns the first result without retrying, passing signal and attempt', async () => {
    const seen: unknown[] = [];
    const policy = retry();
    await expect(
      policy.execute((ctx) => {
        seen.push(ctx);
        return 42;
      }),
    ).resolves.toBe(42);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ attempt: 1 });
    expect((seen[0] as { signal: AbortSignal }).signal.aborted).toBe(false);
  });

  it('retries until success, numbering attempts, waiting as the backoff says', async () => {
    const clock = fakeClock();
    const attempts: number[] = [];
    const times: number[] = [];
    const policy = retry({ clock, maxAttempts: 4, backoff: linear({ initialMs: 100 }) });
    const fn = failing(3, 'ok');
    const result = policy.execute(({ attempt }) => {
      attempts.push(attempt);
      times.push(clock.now());
      return fn();
    });
    await clock.advance(600);
    await expect(result).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(times).toEqual([0, 100, 300, 600]);
  });

  it('waits exactly the drawn delays for every jitter mode', async () => {
    for (const jitter of ['none', 'full', 'equal', 'decorrelated'] as const) {
      const clock = fakeClock();
      const draws = [0.25, 0.75, 0.5];
      const mirror = exponential({ initialMs: 100, jitter, random: makeReplay(draws) });
      const policy = retry({
        clock,
        maxAttempts: 4,
        backoff: exponential({ initialMs: 100, jitter, random: makeReplay(draws) }),
      });
      const times: number[] = [];
      const result = policy.execute(() => {
        times.push(clock.now());
        throw new Error('down');
      });
      result.catch(() => {});
      await clock.advance(10_000);
      await expect(result).rejects.toThrow('down');
      let last = 0;
      const expected = [0];
      for (let n = 1; n <= 3; n++) {
        last = mirror(n, last);
        expected.push(expected[n - 1]! + last);
      }
      // The fake clock resolves a sleep at its exact due time.
      expect(times.map((t) => Math.round(t * 1000) / 1000)).toEqual(
        expected.map((t) => Math.round(t * 1000) / 1000),
      );
    }
  });

  it('gives up after maxAttempts with the last error', async () => {
    const clock = fakeClock();
    const fn = failing(10, 'never');
    const result = retry({ clock, maxAttempts: 3, backoff: constant({ delayMs: 10 }) }).execute(fn);
    result.catch(() => {});
    await clock.advance(100);
    await expect(result).rejects.toThrow('fail 3');
    expect(fn.calls).toBe(3);
  });

  it('maxAttempts: 1 never retries', async () => {
    const fn = failing(1, 'x');
    await expect(retry({ maxAttempts: 1 }).execute(fn)).rejects.toThrow('fail 1');
    expect(fn.calls).toBe(1);
  });

  it('stops before a sleep that would pass maxElapsedMs', async () => {
    const clock = fakeClock();
    const giveUps: GiveUpEvent[] = [];
    const policy = retry({
      clock,
      maxAttempts: 100,
      maxElapsedMs: 1_000,
      backoff: constant({ delayMs: 300 }),
    });
    policy.onGiveUp((event) => giveUps.push(event));
    const fn = failing(100, 'x');
    const result = policy.execute(fn);
    result.catch(() => {});
    await clock.advance(5_000);
    await expect(result).rejects.toThrow('fail 4');
    // Attempts at 0, 300, 600, 900; a fifth at 1,200 would pass 1,000, so no fourth sleep.
    expect(fn.calls).toBe(4);
    expect(giveUps[0]).toMatchObject({ reason: 'max-elapsed', attempts: 4, elapsedMs: 900 });
  });

  it('an abort during a backoff sleep ends the wait at once, rejecting with the reason', async () => {
    const clock = fakeClock();
    const controller = new AbortController();
    const fn = failing(10, 'x');
    const giveUp = vi.fn();
    const policy = retry({ clock, backoff: constant({ delayMs: 60_000 }), deadLetter: giveUp });
    const result = policy.execute(fn, { signal: controller.signal });
    result.catch(() => {});
    await flush();
    expect(clock.pendingSleeps).toBe(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(clock.pendingSleeps).toBe(0);
    expect(fn.calls).toBe(1);
    expect(giveUp).not.toHaveBeenCalled();
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('an abort during an attempt rejects at once and never retries', async () => {
    const controller = new AbortController();
    let calls = 0;
    const result = retry({ backoff: constant({ delayMs: 0 }) }).execute(
      ({ signal }) => {
        calls++;
        expect(signal).toBe(controller.signal);
        return new Promise(() => {});
      },
      { signal: controller.signal },
    );
    await flush();
    controller.abort('stop');
    await expect(result).rejects.toBe('stop');
    expect(calls).toBe(1);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects at once with an already aborted signal', async () => {
    const fn = vi.fn();
    await expect(retry().execute(fn, { signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(fn).not.toHaveBeenCalled();
  });

  it('NonRetryableError stops at once and surfaces the wrapped error', async () => {
    const original = new TypeError('bad request');
    const fn = vi.fn(() => {
      throw new NonRetryableError(original);
    });
    const events: GiveUpEvent[] = [];
    const policy = retry({ maxAttempts: 5 });
    policy.onGiveUp((e) => events.push(e));
    await expect(policy.execute(fn)).rejects.toBe(original);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(events[0]).toMatchObject({ reason: 'not-retryable', attempts: 1, error: original });
    const bare = new NonRetryableError();
    expect(isNonRetryableError(bare)).toBe(true);
    await expect(
      policy.execute(() => {
        throw bare;
      }),
    ).rejects.toBe(bare);
  });

  it('shouldRetry decides which errors are retried', async () => {
    const clock = fakeClock();
    const fn = failing(3, 'ok', (n) =>
      Object.assign(new Error(`e${n}`), { code: n < 2 ? 'ECONNRESET' : 'EACCES' }),
    );
    const seen: unknown[] = [];
    const policy = retry({
      clock,
      backoff: constant({ delayMs: 1 }),
      shouldRetry: (outcome) => {
        seen.push({ ok: outcome.ok, attempt: outcome.attempt });
        return (outcome.error as { code?: string } | undefined)?.code === 'ECONNRESET';
      },
    });
    const result = policy.execute(fn);
    result.catch(() => {});
    await clock.advance(10);
    await expect(result).rejects.toThrow('e2');
    expect(seen).toEqual([
      { ok: false, attempt: 1 },
      { ok: false, attempt: 2 },
    ]);
  });

  it('retries on results (an HTTP 503) without throwing, and returns the last one on give-up', async () => {
    const clock = fakeClock();
    const statuses = [503, 503, 200];
    const policy = retry<{ status: number }>({
      clock,
      backoff: constant({ delayMs: 5 }),
      shouldRetry: ({ ok, result }) => !ok || result.status === 503,
    });
    const result = policy.execute(() => ({ status: statuses.shift()! }));
    await clock.advance(100);
    await expect(result).resolves.toEqual({ status: 200 });

    const givenUp = vi.fn();
    const always503 = retry<{ status: number }>({
      clock,
      maxAttempts: 2,
      backoff: constant({ delayMs: 5 }),
      shouldRetry: ({ result }) => result?.status === 503,
      deadLetter: givenUp,
    });
    const last = always503.execute(() => ({ status: 503 }));
    await clock.advance(100);
    await expect(last).resolves.toEqual({ status: 503 });
    expect(givenUp).toHaveBeenCalledWith(
      expect.objectContaining({
        ok: true,
        result: { status: 503 },
        error: undefined,
        reason: 'max-attempts',
      }),
    );
  });

  it('a shouldRetry that throws surfaces its error and does not retry', async () => {
    const bug = new Error('predicate bug');
    const fn = failing(5, 'x');
    const policy = retry({
      shouldRetry: () => {
        throw bug;
      },
    });
    await expect(policy.execute(fn)).rejects.toBe(bug);
    expect(fn.calls).toBe(1);
  });

  it('a custom backoff returning a bad delay surfaces a RangeError naming it', async () => {
    const policy = retry({ backoff: () => -1 });
    await expect(policy.execute(failing(1, 'x'))).rejects.toThrow(
      'Expected `backoff` to return a finite number >= 0, got -1',
    );
  });

  it('passes the previous delay to a custom backoff', async () => {
    const clock = fakeClock();
    const calls: [number, number][] = [];
    const policy = retry({
      clock,
      maxAttempts: 4,
      backoff: (attempt, last) => {
        calls.push([attempt, last]);
        return last + 10;
      },
    });
    const result = policy.execute(failing(3, 'ok'));
    await clock.advance(100);
    await expect(result).resolves.toBe('ok');
    expect(calls).toEqual([
      [1, 0],
      [2, 10],
      [3, 20],
    ]);
  });

  it('waits at least the retryAfterMs of a Breakwater rejection, up to maxHintMs', async () => {
    const clock = fakeClock();
    const times: number[] = [];
    const policy = retry({ clock, backoff: constant({ delayMs: 10 }), maxHintMs: 2_500 });
    let calls = 0;
    const result = policy.execute(() => {
      times.push(clock.now());
      if (calls++ === 0) {
        throw new ExecutionRejectedError('circuit open', { policyName: 'cb', retryAfterMs: 2_500 });
      }
      if (calls === 2)
        throw new ExecutionRejectedError('short hint', { policyName: 'cb', retryAfterMs: 1 });
      return 'ok';
    });
    await clock.advance(10_000);
    await expect(result).resolves.toBe('ok');
    // The hint wins when it is longer than the backoff, the backoff when it is longer.
    expect(times).toEqual([0, 2_500, 2_510]);
  });

  it('a server hint that would pass maxElapsedMs gives up at once', async () => {
    const clock = fakeClock();
    const hinted = Object.assign(new Error('slow down'), { retryAfterMs: 60_000 });
    const fn = vi.fn(() => {
      throw hinted;
    });
    const result = retry({ clock, maxElapsedMs: 10_000 }).execute(fn);
    await expect(result).rejects.toBe(hinted);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('honours Retry-After on results through retryAfter + retryAfterFromHeaders', async () => {
    const clock = fakeClock();
    const responses = [
      { status: 429, headers: new Headers({ 'Retry-After': '3' }) },
      { status: 200, headers: new Headers() },
    ];
    const times: number[] = [];
    const policy = retry<{ status: number; headers: Headers }>({
      clock,
      backoff: constant({ delayMs: 1 }),
      maxHintMs: 60_000,
      shouldRetry: ({ ok, result }) => !ok || result.status === 429,
      retryAfter: ({ result }) => retryAfterFromHeaders(result?.headers),
    });
    const result = policy.execute(() => {
      times.push(clock.now());
      return responses.shift()!;
    });
    await clock.advance(5_000);
    await expect(result).resolves.toMatchObject({ status: 200 });
    expect(times).toEqual([0, 3_000]);
  });

  it('hooks: onRetry, onSuccess, onGiveUp with disposers; a throwing listener is only a warning', async () => {
    const clock = fakeClock();
    const policy = retry({ clock, backoff: constant({ delayMs: 7 }), maxAttempts: 2 });
    const retries: RetryEvent[] = [];
    const successes: unknown[] = [];
    const giveUps: GiveUpEvent[] = [];
    const disposeRetry = policy.onRetry((e) => retries.push(e));
    policy.onSuccess((e) => successes.push(e));
    policy.onGiveUp((e) => giveUps.push(e));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const disposeBad = policy.onSuccess(() => {
      throw new Error('listener bug');
    });

    const ok = policy.execute(failing(1, 'fine'));
    await clock.advance(10);
    await expect(ok).resolves.toBe('fine');
    await flush();
    expect(retries).toEqual([
      expect.objectContaining({
        policyName: 'retry',
        attempt: 1,
        delayMs: 7,
        ok: false,
        elapsedMs: 0,
      }),
    ]);
    expect(successes).toEqual([
      expect.objectContaining({ attempts: 2, elapsedMs: 7, result: 'fine' }),
    ]);
    expect(warnings.some((w) => w.includes('listener bug'))).toBe(true);
    disposeBad();
    disposeRetry();
    disposeRetry();

    const bad = policy.execute(failing(5, 'x'), { input: { orderId: 7 } });
    bad.catch(() => {});
    await clock.advance(10);
    await expect(bad).rejects.toThrow('fail 2');
    expect(retries).toHaveLength(1);
    expect(giveUps[0]).toMatchObject({
      reason: 'max-attempts',
      attempts: 2,
      input: { orderId: 7 },
      deadLetterError: undefined,
    });
    process.off('warning', onWarning);
    expect(() => policy.onRetry('x' as never)).toThrow(
      'Expected `onRetry` to be a function, got "x"',
    );
  });

  it('hands give-ups to deadLetter before rejecting; a throwing deadLetter keeps the original error', async () => {
    const order: string[] = [];
    const policy = retry({
      maxAttempts: 2,
      backoff: constant({ delayMs: 0 }),
      deadLetter: async (failure) => {
        order.push(`dead-letter ${String((failure.error as Error).message)} ${failure.attempts}`);
      },
    });
    await expect(policy.execute(failing(5, 'x'), { input: 'payload' })).rejects.toThrow('fail 2');
    order.push('rejected');
    expect(order).toEqual(['dead-letter fail 2 2', 'rejected']);

    const dlError = new Error('queue down');
    const broken = retry({
      maxAttempts: 1,
      deadLetter: () => {
        throw dlError;
      },
    });
    const giveUps: GiveUpEvent[] = [];
    broken.onGiveUp((e) => giveUps.push(e));
    await expect(broken.execute(failing(1, 'x'))).rejects.toThrow('fail 1');
    expect(giveUps[0]?.deadLetterError).toBe(dlError);
  });

  it('composes in pipeline: fn sees attempt, each attempt bounded by an inner timeout', async () => {
    const attempts: number[] = [];
    const policy = pipeline(
      retry({ maxAttempts: 3, backoff: constant({ delayMs: 0 }) }),
      timeout({ ms: 20 }),
    );
    const result = await policy.execute(async ({ attempt, signal }) => {
      attempts.push(attempt);
      if (attempt < 3) {
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        );
      }
      return 'third time';
    });
    expect(result).toBe('third time');
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('validates options, naming the option and the value', () => {
    expect(() => retry({ maxAttempts: 0 })).toThrow(
      'Expected `maxAttempts` to be an integer >= 1, got 0',
    );
    expect(() => retry({ maxAttempts: 1.5 })).toThrow(
      'Expected `maxAttempts` to be an integer >= 1, got 1.5',
    );
    expect(() => retry({ maxElapsedMs: -1 })).toThrow(
      'Expected `maxElapsedMs` to be a finite number > 0, got -1',
    );
    expect(() => retry({ maxElapsedMs: Number.POSITIVE_INFINITY })).toThrow(/`maxElapsedMs`/);
    expect(() => retry({ backoff: 5 as never })).toThrow(
      'Expected `backoff` to be a function, got 5',
    );
    expect(() => retry({ shouldRetry: true as never })).toThrow(/`shouldRetry`/);
    expect(() => retry({ deadLetter: {} as never })).toThrow(/`deadLetter`/);
    expect(() => retry({ name: '' })).toThrow(/`name`/);
    expect(() => retry({ clock: {} as never })).toThrow(/`clock.now`/);
    expect(() => retry({ budget: {} as never })).toThrow(/`budget.recordCall`/);
  });

  it('keeps RETRY_PACKAGE equal to package.json', () => {
    const manifest = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    expect(RETRY_PACKAGE).toEqual({ name: manifest.name, version: manifest.version });
  });
});

function makeReplay(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('retry() leaves nothing behind', () => {
  it('no timer and no abort listener after success, give-up or abort', async () => {
    const timersBefore = activeTimers();
    const controller = new AbortController();
    const policy = retry({ maxAttempts: 2, backoff: constant({ delayMs: 1 }) });
    await policy.execute(async () => 1, { signal: controller.signal });
    await policy.execute(failing(1, 'x'), { signal: controller.signal });
    await policy.execute(failing(5, 'x'), { signal: controller.signal }).catch(() => {});
    await flush();
    expect(abortListeners(controller.signal)).toBe(0);
    // At most as many: a timer of an earlier test may have fired meanwhile.
    expect(activeTimers()).toBeLessThanOrEqual(timersBefore);
  });
});

describe('retry() properties', () => {
  it('makes min(failures + 1, maxAttempts) attempts, waiting exactly the backoff between them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 0, max: 500 }),
        async (maxAttempts, failures, initialMs, stepMs) => {
          const clock = fakeClock();
          const policy = retry({ clock, maxAttempts, backoff: linear({ initialMs, stepMs }) });
          const starts: number[] = [];
          const fn = failing(failures, 'ok');
          const result = policy.execute(() => {
            starts.push(clock.now());
            return fn();
          });
          result.catch(() => {});
          await clock.advance(1_000_000);
          const attempts = Math.min(failures + 1, maxAttempts);
          expect(starts).toHaveLength(attempts);
          const expected = [0];
          for (let n = 1; n < attempts; n++)
            expected.push(expected[n - 1]! + initialMs + stepMs * (n - 1));
          expect(starts).toEqual(expected);
          if (failures < maxAttempts) await expect(result).resolves.toBe('ok');
          else await expect(result).rejects.toThrow(`fail ${maxAttempts}`);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('retry() input checks', () => {
  it('rejects a non-function fn without retrying it', async () => {
    await expect(retry().execute(42 as never)).rejects.toThrow(
      'Expected `fn` to be a function, got 42',
    );
  });
});
