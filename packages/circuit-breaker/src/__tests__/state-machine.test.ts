// The breaker's state machine on the memory store: what trips it, how it opens, probes and closes
// again, which outcomes count, and how its state is carried over (toJSON / initialState) and shared
// (one memory store). What callers see around it: calls-and-controls.test.ts.
import { isExecutionRejectedError, isTimeoutError } from '@breakwater/core';
import { fakeClock } from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';
import { isBrokenCircuitError } from '../errors.js';
import type { CircuitBreakerOptions } from '../options.js';
import type { BreakerState } from '../store.js';
import { memoryStore } from '../stores/memory.js';
import { calls, fail, make, ok, open, settle } from './state-machine-helpers.js';

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

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
