import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { circuitBreaker } from '../circuit-breaker.js';

type Action =
  | { type: 'call'; fails: boolean }
  | { type: 'hang' }
  | { type: 'finish'; index: number; fails: boolean }
  | { type: 'advance'; ms: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ type: fc.constant('call' as const), fails: fc.boolean() }),
  fc.record({ type: fc.constant('hang' as const) }),
  fc.record({ type: fc.constant('finish' as const), index: fc.nat(20), fails: fc.boolean() }),
  fc.record({ type: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1500 }) }),
);

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('state machine properties', () => {
  it('never runs a call while open before the break ends, nor more than maxCalls probes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        async (actions, maxCalls, successThreshold) => {
          const clock = fakeClock(0);
          const breaker = circuitBreaker({
            clock,
            consecutiveFailures: 2,
            failureRatio: 0.5,
            minimumThroughput: 3,
            breakDurationMs: 1000,
            halfOpen: { maxCalls, successThreshold, probeLeaseMs: 5000, maxDurationMs: 20_000 },
          });
          let openUntil = -1;
          breaker.onStateChange(({ to }) => {
            openUntil = to === 'open' ? clock.now() + (breaker.stats().retryAfterMs ?? 0) : -1;
          });
          let probesInFlight = 0;
          const violations: string[] = [];
          const gates: { settle: (fails: boolean) => void; done: boolean }[] = [];

          const guarded = (body: () => Promise<string>) => () => {
            if (openUntil >= 0 && clock.now() < openUntil)
              violations.push(`ran at ${clock.now()} < ${openUntil}`);
            const probe = breaker.state === 'half-open';
            if (probe) {
              probesInFlight++;
              if (probesInFlight > maxCalls)
                violations.push(`${probesInFlight} probes > ${maxCalls}`);
            }
            return body().finally(() => {
              if (probe) probesInFlight--;
            });
          };

          for (const step of actions) {
            if (step.type === 'call') {
              await breaker
                .execute(guarded(async () => (step.fails ? Promise.reject(new Error('x')) : 'ok')))
                .catch(() => {});
            } else if (step.type === 'hang') {
              const gate = { settle: (_: boolean) => {}, done: false };
              gates.push(gate);
              void breaker
                .execute(
                  guarded(
                    () =>
                      new Promise<string>((resolve, reject) => {
                        gate.settle = (fails) => (fails ? reject(new Error('x')) : resolve('ok'));
                      }),
                  ),
                )
                .catch(() => {});
              await tick();
            } else if (step.type === 'finish') {
              const gate = gates.filter((g) => !g.done)[step.index % Math.max(1, gates.length)];
              if (gate && !gate.done) {
                gate.done = true;
                gate.settle(step.fails);
                await tick();
              }
            } else {
              await clock.advance(step.ms);
            }
          }
          for (const gate of gates) if (!gate.done) gate.settle(false);
          await tick();
          await breaker.close();
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every transition is one the state machine allows', async () => {
    const allowed = new Set([
      'closed->open',
      'open->half-open',
      'half-open->closed',
      'half-open->open',
      'closed->isolated',
      'open->isolated',
      'half-open->isolated',
      'isolated->half-open',
      'isolated->open',
      'isolated->closed',
      'open->closed',
      'half-open->disabled',
      'closed->disabled',
      'open->disabled',
      'isolated->disabled',
      'disabled->closed',
      'disabled->isolated',
    ]);
    const step = fc.oneof(
      fc.constantFrom('S', 'F', 'isolate', 'isolateFor', 'reset', 'disable'),
      fc.integer({ min: 1, max: 2000 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 50 }), async (steps) => {
        const clock = fakeClock(0);
        const breaker = circuitBreaker({ clock, consecutiveFailures: 2, breakDurationMs: 500 });
        const seen: string[] = [];
        breaker.onStateChange(({ from, to }) => seen.push(`${from}->${to}`));
        for (const s of steps) {
          if (typeof s === 'number') await clock.advance(s);
          else if (s === 'S') await breaker.execute(() => 1).catch(() => {});
          else if (s === 'F')
            await breaker.execute(() => Promise.reject(new Error('x'))).catch(() => {});
          else if (s === 'isolate') await breaker.isolate();
          else if (s === 'isolateFor') await breaker.isolate({ forMs: 300 });
          else if (s === 'reset') await breaker.reset();
          else await breaker.disable();
        }
        await breaker.close();
        expect(seen.filter((t) => !allowed.has(t))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('with the memory store, opens exactly when a reference breaker over the last N calls would', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        fc.constantFrom(0.2, 0.5, 0.75, 1),
        fc.integer({ min: 0, max: 6 }),
        async (fails, minimumThroughput, extraSize, failureRatio, consecutive) => {
          const size = minimumThroughput + extraSize;
          const breaker = circuitBreaker({
            clock: fakeClock(0),
            window: { kind: 'count', size },
            minimumThroughput,
            failureRatio,
            ...(consecutive > 0 ? { consecutiveFailures: consecutive } : {}),
          });
          const window: boolean[] = [];
          let run = 0;
          for (const failed of fails) {
            await breaker
              .execute(() => (failed ? Promise.reject(new Error('x')) : 1))
              .catch(() => {});
            window.push(failed);
            if (window.length > size) window.shift();
            run = failed ? run + 1 : 0;
            const failures = window.filter(Boolean).length;
            const expected =
              (consecutive > 0 && run >= consecutive) ||
              (window.length >= minimumThroughput && failures / window.length >= failureRatio);
            expect(breaker.state).toBe(expected ? 'open' : 'closed');
            if (expected) break;
          }
          await breaker.close();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with the memory store, opens exactly when a reference breaker over a bucketed time window would', async () => {
    const step = fc.oneof(fc.boolean(), fc.integer({ min: 1, max: 700 }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(0.2, 0.5, 0.75, 1),
        fc.integer({ min: 0, max: 5 }),
        async (steps, minimumThroughput, failureRatio, consecutive) => {
          const bucketMs = 250;
          const buckets = 4;
          const clock = fakeClock(0);
          const breaker = circuitBreaker({
            clock,
            window: { kind: 'time', durationMs: bucketMs * buckets, buckets },
            minimumThroughput,
            failureRatio,
            ...(consecutive > 0 ? { consecutiveFailures: consecutive } : {}),
          });
          const calls: { at: number; failed: boolean }[] = [];
          let run = 0;
          for (const s of steps) {
            if (typeof s === 'number') {
              await clock.advance(s);
              continue;
            }
            await breaker.execute(() => (s ? Promise.reject(new Error('x')) : 1)).catch(() => {});
            const now = clock.now();
            calls.push({ at: now, failed: s });
            run = s ? run + 1 : 0;
            const oldest = Math.floor(now / bucketMs) - buckets + 1;
            const live = calls.filter((c) => Math.floor(c.at / bucketMs) >= oldest);
            const failures = live.filter((c) => c.failed).length;
            const expected =
              (consecutive > 0 && run >= consecutive) ||
              (live.length >= minimumThroughput && failures / live.length >= failureRatio);
            expect(breaker.state).toBe(expected ? 'open' : 'closed');
            if (expected) break;
          }
          await breaker.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});
