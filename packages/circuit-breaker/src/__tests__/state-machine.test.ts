import { getEventListeners } from 'node:events';
import { isExecutionRejectedError, isTimeoutError } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import { isBrokenCircuitError, isIsolatedCircuitError } from '../errors.js';
import type { CircuitBreakerOptions } from '../options.js';
import type { BreakerState } from '../store.js';
import { memoryStore } from '../stores/memory.js';

const boom = new Error('boom');
const ok = () => 'ok';
const fail = (): never => {
  throw boom;
};

const open: CircuitBreaker<unknown>[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function make<R = never>(options: CircuitBreakerOptions<R> = {}) {
  const clock = fakeClock(1_000_000);
  const breaker = circuitBreaker<R>({ clock, ...options });
  open.push(breaker as CircuitBreaker<unknown>);
  const transitions: string[] = [];
  breaker.onStateChange(({ from, to }) => transitions.push(`${from}->${to}`));
  return { clock, breaker, transitions };
}

async function settle<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

async function calls(breaker: CircuitBreaker<unknown>, outcomes: string): Promise<void> {
  for (const outcome of outcomes) {
    await settle(breaker.execute(outcome === 'F' ? fail : ok));
  }
}

describe('trip conditions', () => {
  it('opens on the failure ratio once minimumThroughput calls were seen', async () => {
    const { breaker, transitions } = make({ failureRatio: 0.5, minimumThroughput: 4 });
    await calls(breaker, 'SFS');
    expect(breaker.state).toBe('closed');
    await calls(breaker, 'F');
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual(['closed->open']);
  });

  it('does not open below minimumThroughput however bad the ratio', async () => {
    const { breaker } = make({ failureRatio: 0.5, minimumThroughput: 5 });
    await calls(breaker, 'FFFF');
    expect(breaker.state).toBe('closed');
    expect(breaker.stats()).toMatchObject({ calls: 4, failures: 4, failureRatio: 1 });
  });

  it('count window keeps only the last N calls', async () => {
    const { breaker } = make({
      failureRatio: 0.5,
      minimumThroughput: 4,
      window: { kind: 'count', size: 4 },
    });
    await calls(breaker, 'FSSSS');
    expect(breaker.stats()).toMatchObject({ calls: 4, failures: 0 });
    await calls(breaker, 'F');
    expect(breaker.stats()).toMatchObject({ calls: 4, failures: 1 });
    await calls(breaker, 'F');
    expect(breaker.state).toBe('open');
  });

  it('time window forgets calls older than its duration, bucket by bucket', async () => {
    const { breaker, clock } = make({
      failureRatio: 0.5,
      minimumThroughput: 4,
      window: { kind: 'time', durationMs: 1000, buckets: 4 },
    });
    await calls(breaker, 'FFF');
    await clock.advance(1000);
    await calls(breaker, 'S');
    expect(breaker.stats()).toMatchObject({ calls: 1, failures: 0 });
    await calls(breaker, 'FSF');
    expect(breaker.state).toBe('open');
  });

  it('opens on the slow-call ratio', async () => {
    const { breaker, clock } = make({
      slowCall: { durationMs: 100, ratio: 0.5 },
      minimumThroughput: 2,
    });
    const slow = async () => {
      await clock.advance(150);
      return 'late';
    };
    // clock.advance inside the call resolves after the fake time moved.
    await breaker.execute(slow);
    expect(breaker.state).toBe('closed');
    await breaker.execute(ok);
    expect(breaker.state).toBe('open');
    expect(breaker.stats().slowCalls).toBe(0);
  });

  it('opens on consecutive failures and a success resets the run', async () => {
    const { breaker } = make({ consecutiveFailures: 3 });
    await calls(breaker, 'FFSFF');
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().consecutiveFailures).toBe(2);
    await calls(breaker, 'F');
    expect(breaker.state).toBe('open');
  });

  it('only the configured conditions apply once one is set', async () => {
    const { breaker } = make({ consecutiveFailures: 100, minimumThroughput: 2 });
    await calls(breaker, 'FSFSFSFS');
    expect(breaker.state).toBe('closed');
  });
});

describe('open, half-open and back', () => {
  async function tripped(options: CircuitBreakerOptions = {}) {
    const made = make({ consecutiveFailures: 1, breakDurationMs: 1000, ...options });
    await calls(made.breaker, 'F');
    expect(made.breaker.state).toBe('open');
    return made;
  }

  it('rejects while open with retryAfterMs = time left, without calling fn', async () => {
    const { breaker, clock } = await tripped();
    await clock.advance(400);
    let called = false;
    const result = await settle(
      breaker.execute(() => {
        called = true;
      }),
    );
    expect(called).toBe(false);
    expect(result.ok).toBe(false);
    const error = (result as { error: unknown }).error;
    expect(isBrokenCircuitError(error)).toBe(true);
    expect(isExecutionRejectedError(error)).toBe(true);
    expect(error).toMatchObject({
      policyName: 'circuit-breaker',
      retryAfterMs: 600,
      state: 'open',
    });
  });

  it('after the break a probe success closes it', async () => {
    const { breaker, clock, transitions } = await tripped();
    await clock.advance(1000);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
    expect(breaker.stats()).toMatchObject({ calls: 0, consecutiveOpens: 0 });
  });

  it('a failed probe re-opens it', async () => {
    const { breaker, clock, transitions } = await tripped();
    await clock.advance(1000);
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('open');
    expect(transitions.at(-1)).toBe('half-open->open');
    expect(breaker.stats().consecutiveOpens).toBe(2);
  });

  it('half-open admits at most maxCalls concurrent probes', async () => {
    const { breaker, clock } = await tripped({ halfOpen: { maxCalls: 2, successThreshold: 2 } });
    await clock.advance(1000);
    const gates: (() => void)[] = [];
    const slowOk = () => new Promise<string>((resolve) => gates.push(() => resolve('ok')));
    const first = breaker.execute(slowOk);
    const second = breaker.execute(slowOk);
    await new Promise((r) => setImmediate(r));
    const third = await settle(breaker.execute(slowOk));
    expect(third.ok).toBe(false);
    expect(breaker.state).toBe('half-open');
    expect(breaker.stats().halfOpenProbes).toBe(2);
    for (const open of gates) open();
    await Promise.all([first, second]);
    expect(breaker.state).toBe('closed');
  });

  it('needs successThreshold successful probes to close', async () => {
    const { breaker, clock } = await tripped({ halfOpen: { successThreshold: 2 } });
    await clock.advance(1000);
    await breaker.execute(ok);
    expect(breaker.state).toBe('half-open');
    await breaker.execute(ok);
    expect(breaker.state).toBe('closed');
  });

  it('a half-open state stuck beyond maxDurationMs re-opens', async () => {
    const { breaker, clock } = await tripped({
      halfOpen: { maxDurationMs: 5000, probeLeaseMs: 10_000 },
    });
    await clock.advance(1000);
    const hanging = breaker.execute(() => new Promise(() => {}));
    await new Promise((r) => setImmediate(r));
    expect(breaker.state).toBe('half-open');
    await clock.advance(5000);
    await settle(breaker.execute(ok));
    expect(breaker.state).toBe('open');
    void hanging;
  });

  it('an expired probe lease frees the slot for another probe', async () => {
    const { breaker, clock } = await tripped({ halfOpen: { probeLeaseMs: 2000 } });
    await clock.advance(1000);
    void breaker.execute(() => new Promise(() => {}));
    await new Promise((r) => setImmediate(r));
    expect((await settle(breaker.execute(ok))).ok).toBe(false);
    await clock.advance(2000);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('backs off with a break-duration function of consecutiveOpens', async () => {
    const { breaker, clock } = await tripped({
      breakDurationMs: ({ consecutiveOpens }) => 1000 * 2 ** (consecutiveOpens - 1),
    });
    expect(breaker.stats().retryAfterMs).toBe(1000);
    await clock.advance(1000);
    await settle(breaker.execute(fail));
    expect(breaker.stats().retryAfterMs).toBe(2000);
    await clock.advance(2000);
    await settle(breaker.execute(fail));
    expect(breaker.stats().retryAfterMs).toBe(4000);
  });
});

describe('what counts', () => {
  it('shouldHandle decides which errors are failures; ignored ones count as neither', async () => {
    const ignored = new Error('not found');
    const { breaker } = make({
      consecutiveFailures: 2,
      shouldHandle: (o) => o.kind === 'error' && o.error !== ignored,
    });
    await settle(breaker.execute(fail));
    await expect(
      breaker.execute(() => {
        throw ignored;
      }),
    ).rejects.toBe(ignored);
    expect(breaker.stats()).toMatchObject({ calls: 1, consecutiveFailures: 1 });
    await settle(breaker.execute(fail));
    expect(breaker.state).toBe('open');
  });

  it('shouldHandle can mark results as failures', async () => {
    const { breaker } = make({
      consecutiveFailures: 2,
      shouldHandle: (o) => o.kind === 'result' && o.result === 503,
    });
    await expect(breaker.execute(() => 503)).resolves.toBe(503);
    await breaker.execute(() => 503);
    expect(breaker.state).toBe('open');
  });

  it('a call aborted by the caller counts as neither and rejects with the reason', async () => {
    const { breaker } = make({ consecutiveFailures: 1 });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const pending = breaker.execute(
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      {
        signal: controller.signal,
      },
    );
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().calls).toBe(0);
  });

  it('rejects at once with the reason of an already aborted signal', async () => {
    const { breaker } = make();
    const reason = new Error('already');
    await expect(breaker.execute(ok, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('timeoutMs aborts the call, counts a failure and rejects with a TimeoutError', async () => {
    const { breaker } = make({ consecutiveFailures: 1, timeoutMs: 20 });
    let aborted = false;
    const result = await settle(
      breaker.execute(
        ({ signal }) =>
          new Promise((resolve) => {
            signal.addEventListener('abort', () => {
              aborted = true;
            });
            setTimeout(resolve, 1000).unref();
          }),
      ),
    );
    expect(result.ok).toBe(false);
    expect(isTimeoutError((result as { error: unknown }).error)).toBe(true);
    expect(aborted).toBe(true);
    expect(breaker.state).toBe('open');
  });
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

describe('toJSON / initialState', () => {
  it('carries an open state across instances (serverless)', async () => {
    const { breaker, clock } = make({ consecutiveFailures: 1, breakDurationMs: 1000 });
    await calls(breaker, 'F');
    await clock.advance(300);
    const snapshot = JSON.parse(JSON.stringify(breaker));
    expect(snapshot).toMatchObject({
      state: 'open',
      openUntil: clock.now() + 700,
      consecutiveOpens: 1,
    });

    const next = circuitBreaker({
      clock,
      consecutiveFailures: 1,
      breakDurationMs: 1000,
      initialState: snapshot,
    });
    open.push(next);
    expect(next.state).toBe('open');
    expect(next.stats().retryAfterMs).toBe(700);
    await clock.advance(700);
    await expect(next.execute(ok)).resolves.toBe('ok');
    expect(next.state).toBe('closed');
  });

  it('carries window counts', async () => {
    const { breaker, clock } = make({ failureRatio: 0.5, minimumThroughput: 4 });
    await calls(breaker, 'FSF');
    const next = circuitBreaker({
      clock,
      failureRatio: 0.5,
      minimumThroughput: 4,
      initialState: breaker.toJSON(),
    });
    open.push(next);
    expect(next.stats()).toMatchObject({ calls: 3, failures: 2 });
    await calls(next, 'S');
    expect(next.state).toBe('open');
  });

  it('rejects a malformed initialState at construction', () => {
    expect(() => circuitBreaker({ initialState: { format: 'nope' } as never })).toThrow(
      /initialState/,
    );
  });
});

describe('shared memory store', () => {
  it('breakers with one store and name share state (at once with a count window)', async () => {
    const store = memoryStore();
    const clock = fakeClock(0);
    const options = {
      store,
      clock,
      consecutiveFailures: 2,
      window: { kind: 'count', size: 10 },
    } as const;
    const a = circuitBreaker({ ...options, name: 'dep' });
    const b = circuitBreaker({ ...options, name: 'dep' });
    const other = circuitBreaker({ ...options, name: 'other' });
    open.push(a, b, other);
    await calls(a, 'F');
    await calls(b, 'F');
    const states: BreakerState[] = [a.state, b.state, other.state];
    expect(states).toEqual(['open', 'open', 'closed']);
    await a.close();
    await b.close();
  });

  it('with a time window, a breaker shares failures that cannot trip it alone at the next bucket', async () => {
    const store = memoryStore();
    const clock = fakeClock(0);
    const options = {
      store,
      clock,
      consecutiveFailures: 2,
      window: { kind: 'time', durationMs: 10_000 },
    } as const;
    const a = circuitBreaker({ ...options, name: 'dep' });
    const b = circuitBreaker({ ...options, name: 'dep' });
    open.push(a, b);
    await calls(a, 'SF');
    await calls(b, 'SF');
    // Each failure alone cannot trip its breaker, so it waits in that breaker's local counts.
    expect([a.state, b.state]).toEqual(['closed', 'closed']);
    // A new bucket sends it to the shared record, where it meets the next failure.
    await clock.advance(1000);
    await calls(a, 'F');
    expect([a.state, b.state]).toEqual(['open', 'open']);
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
