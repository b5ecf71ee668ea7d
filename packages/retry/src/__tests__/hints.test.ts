/**
 * Server and policy hints (`retryAfter`, by default an error's `retryAfterMs`): waited out up to
 * `maxHintMs`, whose default is the longest delay the backoff itself waits; a longer hint, or one
 * past `maxElapsedMs`, ends the call at once with reason `'hint-too-long'`.
 */
import { ATTR_POLICY_NAME, ExecutionRejectedError } from '@breakwater/core';
import { fakeClock, installOtel } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  ATTR_OUTCOME,
  ATTR_REASON,
  type Backoff,
  constant,
  DEFAULT_MAX_HINT_MS,
  EVENT_GIVE_UP,
  exponential,
  type GiveUpEvent,
  linear,
  METRIC_ATTEMPTS,
  retry,
} from '../index.js';
import { resolveRetryOptions } from '../options.js';

/** A rejection saying when to come back, as every Breakwater rejection does. */
function rejection(retryAfterMs: number): ExecutionRejectedError {
  return new ExecutionRejectedError('come back later', { policyName: 'dependency', retryAfterMs });
}

describe('retry() and hints', () => {
  it('gives up at once on a hint longer than its longest backoff delay, with reason hint-too-long', async () => {
    const clock = fakeClock();
    const policy = retry({ clock });
    const giveUps: GiveUpEvent[] = [];
    policy.onGiveUp((event) => giveUps.push(event));
    const open = rejection(10_000);
    const fn = vi.fn(() => {
      throw open;
    });
    // No clock advance: the call must settle without waiting.
    await expect(policy.execute(fn)).rejects.toBe(open);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(giveUps).toMatchObject([{ reason: 'hint-too-long', attempts: 1, error: open }]);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('waits out a hint up to maxHintMs, and gives up on a longer one', async () => {
    const clock = fakeClock();
    const policy = retry({ clock, maxHintMs: 10_000 });
    let calls = 0;
    const times: number[] = [];
    const result = policy.execute(() => {
      times.push(clock.now());
      if (calls++ === 0) throw rejection(10_000);
      return 'ok';
    });
    await clock.advance(9_999);
    expect(times).toEqual([0]);
    await clock.advance(1);
    await expect(result).resolves.toBe('ok');
    expect(times).toEqual([0, 10_000]);

    const longer = rejection(10_001);
    await expect(
      policy.execute(() => {
        throw longer;
      }),
    ).rejects.toBe(longer);
  });

  it('maxHintMs: Infinity waits out any hint, and maxElapsedMs still ends one past it', async () => {
    const clock = fakeClock();
    const giveUps: GiveUpEvent[] = [];
    const patient = retry({ clock, maxHintMs: Number.POSITIVE_INFINITY, maxAttempts: 2 });
    let calls = 0;
    const result = patient.execute(() => {
      if (calls++ === 0) throw rejection(3_600_000);
      return 'ok';
    });
    await clock.advance(3_600_000);
    await expect(result).resolves.toBe('ok');

    const bounded = retry({ clock, maxHintMs: Number.POSITIVE_INFINITY, maxElapsedMs: 60_000 });
    bounded.onGiveUp((event) => giveUps.push(event));
    const far = rejection(60_001);
    await expect(
      bounded.execute(() => {
        throw far;
      }),
    ).rejects.toBe(far);
    expect(giveUps.map((event) => event.reason)).toEqual(['hint-too-long']);
  });

  it('a hint no longer than the backoff delay changes nothing', async () => {
    const clock = fakeClock();
    const policy = retry({ clock, backoff: constant({ delayMs: 500 }), maxHintMs: 0 });
    let calls = 0;
    const result = policy.execute(() => {
      if (calls++ === 0) throw rejection(400);
      return 'ok';
    });
    await clock.advance(500);
    await expect(result).resolves.toBe('ok');
  });

  it('reports the give-up like the others: metric outcome give-up and a span event with its reason', async () => {
    const otel = installOtel();
    try {
      const policy = retry({ name: 'hinted', clock: fakeClock() });
      await otel.tracer.startActiveSpan('call', async (span) => {
        await policy
          .execute(() => {
            throw rejection(60_000);
          })
          .catch(() => {});
        span.end();
      });
      expect(
        await otel.sum(METRIC_ATTEMPTS, {
          [ATTR_POLICY_NAME]: 'hinted',
          [ATTR_OUTCOME]: 'give-up',
        }),
      ).toBe(1);
      const event = otel.spans()[0]?.events.find((e) => e.name === EVENT_GIVE_UP);
      expect(event?.attributes?.[ATTR_REASON]).toBe('hint-too-long');
    } finally {
      await otel.uninstall();
    }
  });
});

describe('the default of maxHintMs', () => {
  const maxHintMs = (options: Parameters<typeof retry>[0]) =>
    resolveRetryOptions(options ?? {}).maxHintMs;

  it('is the longest delay the backoff waits within maxAttempts', () => {
    expect(maxHintMs({})).toBe(200);
    expect(maxHintMs({ maxAttempts: 5 })).toBe(800);
    expect(maxHintMs({ maxAttempts: 20 })).toBe(10_000);
    expect(maxHintMs({ maxAttempts: 1 })).toBe(0);
    expect(maxHintMs({ backoff: linear({ initialMs: 100, maxMs: 250 }), maxAttempts: 4 })).toBe(
      250,
    );
    expect(maxHintMs({ backoff: constant({ delayMs: 300, jitter: 'full' }) })).toBe(300);
    expect(maxHintMs({ backoff: exponential({ jitter: 'decorrelated' }), maxAttempts: 3 })).toBe(
      900,
    );
  });

  it('is DEFAULT_MAX_HINT_MS for a backoff function of your own, or what its longestDelayMs says', () => {
    expect(maxHintMs({ backoff: () => 50 })).toBe(DEFAULT_MAX_HINT_MS);
    const declared: Backoff = Object.assign(() => 50, { longestDelayMs: () => 50 });
    expect(maxHintMs({ backoff: declared })).toBe(50);
    expect(maxHintMs({ backoff: declared, maxHintMs: 5 })).toBe(5);
    expect(() => maxHintMs({ maxHintMs: -1 })).toThrow(
      'Expected `maxHintMs` to be a finite number >= 0, got -1',
    );
    const broken: Backoff = Object.assign(() => 50, { longestDelayMs: () => Number.NaN });
    expect(() => maxHintMs({ backoff: broken })).toThrow('backoff.longestDelayMs(2)');
  });
});

describe('longestDelayMs of the built-in backoffs', () => {
  const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  const retries = fc.integer({ min: 1, max: 40 });

  it('bounds every delay drawn before the first `retries` retries', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('none', 'full', 'equal', 'decorrelated'),
        fc.integer({ min: 0, max: 5_000 }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        retries,
        fc.array(unit, { minLength: 1, maxLength: 8 }),
        (jitter, initialMs, factor, n, draws) => {
          let i = 0;
          const random = () => draws[i++ % draws.length]!;
          const backoffs = [
            exponential({ initialMs, factor, maxMs: initialMs * 20, jitter, random }),
            ...(jitter === 'decorrelated'
              ? []
              : [
                  linear({ initialMs, stepMs: initialMs / 2, jitter, random }),
                  constant({ delayMs: initialMs, jitter, random }),
                ]),
          ];
          for (const backoff of backoffs) {
            const longest = backoff.longestDelayMs!(n);
            let last = 0;
            for (let attempt = 1; attempt <= n; attempt++) {
              last = backoff(attempt, last);
              expect(last).toBeLessThanOrEqual(longest);
            }
          }
        },
      ),
    );
  });
});
