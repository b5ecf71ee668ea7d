// What callers see around the breaker's state machine (state-machine.test.ts): timeoutMs and
// cancellation, fallbacks, the controls (isolate, disable, reset), events and listeners, close().
import { getEventListeners } from 'node:events';
import { fakeClock } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';
import { isBrokenCircuitError, isIsolatedCircuitError } from '../errors.js';
import { boom, calls, fail, make, ok, open, settle } from './state-machine-helpers.js';

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

describe('timeoutMs and cancellation', () => {
  const activeTimers = () =>
    process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

  it('leaves no timer and no abort listener behind', async () => {
    const { breaker } = make({ timeoutMs: 10_000 });
    const controller = new AbortController();
    const before = activeTimers();
    for (let i = 0; i < 20; i++) await breaker.execute(ok, { signal: controller.signal });
    await breaker.execute(fail, { signal: controller.signal }).catch(() => {});
    expect(activeTimers()).toBe(before);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('a caller abort rejects at once with its reason and aborts ctx.signal', async () => {
    const { breaker } = make({ timeoutMs: 10_000, consecutiveFailures: 1 });
    const controller = new AbortController();
    let seen: unknown;
    const pending = breaker.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            seen = signal.reason;
            reject(signal.reason);
          });
        }),
      { signal: controller.signal },
    );
    const reason = new Error('user navigated away');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(seen).toBe(reason);
    expect(breaker.state).toBe('closed');
  });

  it('ctx.signal read after the timeout is already aborted', async () => {
    const { breaker } = make({ timeoutMs: 5 });
    let late: AbortSignal | undefined;
    let release = () => {};
    const result = breaker.execute(async (ctx) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      late = ctx.signal;
    });
    await expect(result).rejects.toMatchObject({ name: 'TimeoutError', timeoutMs: 5 });
    release();
    await new Promise((r) => setImmediate(r));
    expect(late?.aborted).toBe(true);
  });
});

describe('fallback', () => {
  it('answers handled failures and rejections with a value', async () => {
    const { breaker } = make<string>({ consecutiveFailures: 1, fallback: { value: 'cached' } });
    await expect(breaker.execute(fail)).resolves.toBe('cached');
    await expect(breaker.execute(ok)).resolves.toBe('cached');
  });

  it('passes the error to a fallback function', async () => {
    const seen: unknown[] = [];
    const { breaker } = make<string>({
      consecutiveFailures: 1,
      fallback: ({ error }) => {
        seen.push(error);
        return 'fb';
      },
    });
    await breaker.execute(fail);
    await breaker.execute(ok);
    expect(seen[0]).toBe(boom);
    expect(isBrokenCircuitError(seen[1])).toBe(true);
  });

  it('is not used for ignored errors', async () => {
    const { breaker } = make<string>({ shouldHandle: () => false, fallback: { value: 'fb' } });
    await expect(breaker.execute(fail)).rejects.toBe(boom);
  });
});

describe('controls', () => {
  it('isolate() rejects with IsolatedCircuitError until reset()', async () => {
    const { breaker, clock } = make();
    await breaker.isolate();
    await clock.advance(1e9);
    const result = await settle(breaker.execute(ok));
    expect(isIsolatedCircuitError((result as { error: unknown }).error)).toBe(true);
    expect((result as { error: { retryAfterMs?: number } }).error.retryAfterMs).toBeUndefined();
    await breaker.reset();
    await expect(breaker.execute(ok)).resolves.toBe('ok');
  });

  it('isolate({ forMs }) ends by probing', async () => {
    const { breaker, clock, transitions } = make();
    await breaker.isolate({ forMs: 500 });
    expect(breaker.stats().retryAfterMs).toBe(500);
    await clock.advance(500);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
    // The probe's store operation ends the isolation and grants the probe in one step.
    expect(transitions).toEqual(['closed->isolated', 'isolated->half-open', 'half-open->closed']);
  });

  it('isolate rejects a bad forMs', async () => {
    const { breaker } = make();
    await expect(breaker.isolate({ forMs: -1 })).rejects.toThrow(
      'Expected `forMs` to be a finite number > 0, got -1',
    );
  });

  it('disable() lets every call through and still measures', async () => {
    const { breaker } = make({ consecutiveFailures: 1 });
    await breaker.disable();
    await calls(breaker, 'FFF');
    expect(breaker.state).toBe('disabled');
    expect(breaker.stats()).toMatchObject({ calls: 3, failures: 3 });
    await breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().calls).toBe(0);
  });

  it('reset() closes an open breaker', async () => {
    const { breaker } = make({ consecutiveFailures: 1 });
    await calls(breaker, 'F');
    await breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().consecutiveOpens).toBe(0);
  });
});

describe('events', () => {
  it('reports successes, failures and rejections, and disposers unsubscribe', async () => {
    const { breaker } = make({ consecutiveFailures: 1 });
    const seen: string[] = [];
    const offSuccess = breaker.onSuccess(() => seen.push('success'));
    breaker.onFailure(({ reason }) => seen.push(`failure:${reason}`));
    breaker.onRejected(({ error }) => seen.push(`rejected:${error.name}`));
    await calls(breaker, 'S');
    offSuccess();
    await calls(breaker, 'SFS');
    expect(seen).toEqual(['success', 'failure:error', 'rejected:BrokenCircuitError']);
  });

  it('reports durations to listeners; reads the clock once per call when nothing needs them', async () => {
    const clock = fakeClock(1_000_000);
    let reads = 0;
    const counted = {
      now: () => {
        reads++;
        return clock.now();
      },
      sleep: clock.sleep,
    };
    const breaker = circuitBreaker({ clock: counted, failureRatio: 1, minimumThroughput: 100 });
    open.push(breaker);
    const slowOk = async () => {
      await clock.advance(30);
      return 'ok';
    };
    await breaker.execute(slowOk);
    await breaker.execute(fail).catch(() => {});
    reads = 0;
    await breaker.execute(slowOk);
    await breaker.execute(fail).catch(() => {});
    // The end of each call places its outcome in the window; no start time is needed.
    expect(reads).toBe(2);

    const durations: string[] = [];
    breaker.onSuccess(({ durationMs }) => durations.push(`success:${durationMs}`));
    breaker.onFailure(({ reason, durationMs }) => durations.push(`${reason}:${durationMs}`));
    reads = 0;
    await breaker.execute(slowOk);
    await breaker
      .execute(async () => {
        await clock.advance(5);
        throw boom;
      })
      .catch(() => {});
    expect(reads).toBe(4);
    expect(durations).toEqual(['success:30', 'error:5']);
    expect(breaker.stats()).toMatchObject({ calls: 6, failures: 3 });
  });

  it('a throwing listener does not break the call', async () => {
    const { breaker } = make();
    breaker.onSuccess(() => {
      throw new Error('listener bug');
    });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(warnings.some((w) => w.includes('listener bug'))).toBe(true);
  });
});

describe('close', () => {
  it('leaves no timer behind and is idempotent', async () => {
    const breaker = circuitBreaker({ syncIntervalMs: 50 });
    await breaker.execute(ok);
    await breaker.close();
    await breaker[Symbol.asyncDispose]();
    await expect(breaker.execute(ok)).resolves.toBe('ok');
  });
});
