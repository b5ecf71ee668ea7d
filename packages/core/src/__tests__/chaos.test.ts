import {
  fakeClock,
  installOtel,
  type OtelHarness,
  spyOnProcessWarnings,
} from '@breakwater/testkit';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  ATTR_CHAOS_KIND,
  ATTR_POLICY_NAME,
  type ChaosPolicy,
  chaos,
  DEFAULT_INJECTION_RATE,
  type ExecutionContext,
  fallback,
  isTimeoutError,
  pipeline,
  timeout,
  UNKNOWN_OPTION_WARNING_CODE,
} from '../index.js';
import { abortListeners, flush, trackTimers } from './leaks.js';

/** mulberry32: a small seeded generator of numbers in [0, 1), so every draw repeats. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Which of `calls` calls `policy` injected a fault into (by index). */
async function injectedCalls(policy: ChaosPolicy, calls: number): Promise<number[]> {
  const injected: number[] = [];
  for (let i = 0; i < calls; i++) {
    const result = await policy.execute(() => 'ran').catch((error: unknown) => error);
    if (result !== 'ran') injected.push(i);
  }
  return injected;
}

describe('chaos(): switching', () => {
  it('is off by default: runs fn even at rate 1, and draws nothing', async () => {
    let draws = 0;
    const random = () => {
      draws++;
      return 0;
    };
    const policy = chaos({ fault: new Error('injected'), injectionRate: 1, random });
    expect(policy.enabled).toBe(false);
    await expect(policy.execute(() => 'ran')).resolves.toBe('ran');
    expect(draws).toBe(0);
  });

  it('costs nothing while off: hands back the promise fn returned', () => {
    const policy = chaos({ fault: new Error('injected'), injectionRate: 1 });
    const pending = Promise.resolve(7);
    expect(policy.execute(() => pending)).toBe(pending);
  });

  it('injects once `enabled: true` is given', async () => {
    const boom = new Error('injected');
    const policy = chaos({ fault: boom, injectionRate: 1, enabled: true });
    expect(policy.enabled).toBe(true);
    await expect(policy.execute(() => 'ran')).rejects.toBe(boom);
  });

  it('switches on and off, and changes its rate, at run time', async () => {
    const policy = chaos({ fault: new Error('injected'), injectionRate: 1 });
    policy.enabled = true;
    await expect(policy.execute(() => 'ran')).rejects.toThrow('injected');
    policy.injectionRate = 0;
    await expect(policy.execute(() => 'ran')).resolves.toBe('ran');
    policy.injectionRate = 1;
    policy.enabled = false;
    await expect(policy.execute(() => 'ran')).resolves.toBe('ran');
    policy.enabled = true;
    await expect(policy.execute(() => 'ran')).rejects.toThrow('injected');
    expect(policy.injectionRate).toBe(1);
  });

  it('refuses a bad rate or switch at run time and keeps the old one', () => {
    const policy = chaos({ latency: 5, injectionRate: 0.25 });
    expect(() => {
      policy.injectionRate = 1.5;
    }).toThrow(new RangeError('Expected `injectionRate` in [0, 1], got 1.5'));
    expect(() => {
      policy.injectionRate = Number.NaN;
    }).toThrow(RangeError);
    expect(policy.injectionRate).toBe(0.25);
    expect(() => {
      (policy as { enabled: unknown }).enabled = 'yes';
    }).toThrow(new TypeError('Expected `enabled` to be a boolean, got "yes"'));
    expect(policy.enabled).toBe(false);
  });
});

describe('chaos(): injection rate', () => {
  it(`defaults to ${DEFAULT_INJECTION_RATE}`, () => {
    expect(chaos({ latency: 1 }).injectionRate).toBe(0.1);
  });

  it('injects into the given share of calls, drawn from `random`', async () => {
    const calls = 10_000;
    for (const rate of [0.05, 0.3, 0.9]) {
      const policy = chaos({
        fault: new Error('injected'),
        injectionRate: rate,
        enabled: true,
        random: seeded(42),
      });
      const injected = await injectedCalls(policy, calls);
      // 10,000 draws: the standard deviation of the share is at most 0.005; 4 of them either side.
      expect(Math.abs(injected.length / calls - rate)).toBeLessThan(0.02);
    }
  });

  it('injects into the same calls for the same seed, and into none or all at 0 and 1', async () => {
    const build = (injectionRate: number, seed: number) =>
      chaos({ fault: new Error('x'), injectionRate, enabled: true, random: seeded(seed) });
    const first = await injectedCalls(build(0.5, 7), 200);
    expect(await injectedCalls(build(0.5, 7), 200)).toEqual(first);
    expect(await injectedCalls(build(0.5, 8), 200)).not.toEqual(first);
    expect(await injectedCalls(build(0, 7), 200)).toEqual([]);
    expect(await injectedCalls(build(1, 7), 200)).toHaveLength(200);
  });

  it('injects when the draw is below the rate, and spares it at or above', async () => {
    let next = 0;
    const policy = chaos({
      outcome: 'injected',
      injectionRate: 0.5,
      enabled: true,
      random: () => next,
    });
    next = 0.49;
    await expect(policy.execute(() => 'ran')).resolves.toBe('injected');
    next = 0.5;
    await expect(policy.execute(() => 'ran')).resolves.toBe('ran');
  });
});

describe('chaos(): fault', () => {
  it('rejects with the given error without calling fn', async () => {
    const boom = new Error('injected');
    let calls = 0;
    const policy = chaos({ fault: boom, injectionRate: 1, enabled: true });
    await expect(
      policy.execute(() => {
        calls++;
        return 'ran';
      }),
    ).rejects.toBe(boom);
    expect(calls).toBe(0);
  });

  it('makes each fault from the call context, and rejects with what the maker throws', async () => {
    const controller = new AbortController();
    const seen: AbortSignal[] = [];
    const policy = chaos({
      fault: ({ signal }) => {
        seen.push(signal);
        return new Error(`fault ${seen.length}`);
      },
      injectionRate: 1,
      enabled: true,
    });
    const first = await policy.execute(() => 1, { signal: controller.signal }).catch((e) => e);
    const second = await policy.execute(() => 1).catch((e) => e);
    expect([first.message, second.message]).toEqual(['fault 1', 'fault 2']);
    expect(seen[0]).toBe(controller.signal);
    expect(seen[1]?.aborted).toBe(false);
    const broken = chaos({
      fault: () => {
        throw new TypeError('maker broke');
      },
      injectionRate: 1,
      enabled: true,
    });
    await expect(broken.execute(() => 1)).rejects.toThrow('maker broke');
  });
});

describe('chaos(): outcome', () => {
  it('resolves with the substitute without calling fn', async () => {
    let calls = 0;
    const policy = chaos({ outcome: { status: 503 }, injectionRate: 1, enabled: true });
    const result = await policy.execute(() => {
      calls++;
      return 'ran';
    });
    expectTypeOf(result).toEqualTypeOf<string | { status: number }>();
    expect(result).toEqual({ status: 503 });
    expect(calls).toBe(0);
  });

  it('calls a function outcome with the call context; an async one is awaited', async () => {
    const policy = chaos({
      outcome: async ({ signal }) => `stale (aborted: ${signal.aborted})`,
      injectionRate: 1,
      enabled: true,
    });
    await expect(policy.execute(() => 'fresh')).resolves.toBe('stale (aborted: false)');
    const failing = chaos({
      outcome: () => Promise.reject(new Error('outcome failed')),
      injectionRate: 1,
      enabled: true,
    });
    await expect(failing.execute(() => 'fresh')).rejects.toThrow('outcome failed');
  });

  it('rejects with the reason when the caller aborts while an async outcome is pending', async () => {
    const controller = new AbortController();
    const policy = chaos({ outcome: () => new Promise(() => {}), injectionRate: 1, enabled: true });
    const pending = policy.execute(() => 'fresh', { signal: controller.signal });
    const reason = new Error('caller left');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
  });
});

describe('chaos(): latency', () => {
  it('waits the given time on its clock, then calls fn', async () => {
    const clock = fakeClock();
    const log: string[] = [];
    const policy = chaos({ latency: 500, injectionRate: 1, enabled: true, clock });
    const pending = policy.execute(() => {
      log.push('fn');
      return 'ran';
    });
    await clock.advance(499);
    expect(log).toEqual([]);
    await clock.advance(1);
    await expect(pending).resolves.toBe('ran');
    expect(log).toEqual(['fn']);
  });

  it('asks a latency function for each delay and hands fn the same context', async () => {
    const clock = fakeClock();
    const delays = [100, 300];
    const policy = chaos({
      latency: () => delays.shift() ?? 0,
      injectionRate: 1,
      enabled: true,
      clock,
    });
    const first = policy.execute(() => 'first');
    const second = policy.execute(() => 'second');
    const settled: string[] = [];
    void first.then((v) => settled.push(v));
    void second.then((v) => settled.push(v));
    await clock.advance(100);
    expect(settled).toEqual(['first']);
    await clock.advance(200);
    expect(settled).toEqual(['first', 'second']);
  });

  it('rejects a bad delay from the latency function, naming it, without calling fn', async () => {
    let calls = 0;
    const policy = chaos({ latency: () => -5, injectionRate: 1, enabled: true });
    await expect(policy.execute(() => calls++)).rejects.toThrow(
      new RangeError('Expected `latency` to be a finite number >= 0, got -5'),
    );
    expect(calls).toBe(0);
  });

  it('ends the wait at once when the caller aborts, leaving no timer or listener', async () => {
    const timers = trackTimers();
    try {
      const controller = new AbortController();
      let calls = 0;
      const policy = chaos({ latency: 60_000, injectionRate: 1, enabled: true });
      const pending = policy.execute(() => calls++, { signal: controller.signal });
      await flush();
      expect(timers.live()).toBe(1);
      const reason = new Error('caller left');
      const started = performance.now();
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(timers.live()).toBe(0);
      expect(abortListeners(controller.signal)).toBe(0);
      expect(calls).toBe(0);
    } finally {
      timers.restore();
    }
  });

  it('ends the wait when an outer policy gives up on the call (inside a pipeline)', async () => {
    const timers = trackTimers();
    try {
      let calls = 0;
      const policy = pipeline(
        timeout({ ms: 20 }),
        chaos({ latency: 60_000, injectionRate: 1, enabled: true }),
      );
      const error = await policy.execute(() => calls++).catch((e: unknown) => e);
      expect(isTimeoutError(error)).toBe(true);
      await flush();
      // The timeout's own deadline timer is unref'd and may stay armed; the 60 s wait must not.
      expect(timers.handles().filter((t) => t.hasRef())).toEqual([]);
      expect(calls).toBe(0);
    } finally {
      timers.restore();
    }
  });

  it('rejects at once, without waiting, when the caller had already aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('gone');
    controller.abort(reason);
    const on = chaos({ latency: 60_000, injectionRate: 1, enabled: true });
    const off = chaos({ latency: 60_000 });
    await expect(on.execute(() => 1, { signal: controller.signal })).rejects.toBe(reason);
    await expect(off.execute(() => 1, { signal: controller.signal })).rejects.toBe(reason);
  });
});

describe('chaos(): as a policy', () => {
  it('rejects with the reason when the caller aborts, even while off', async () => {
    const controller = new AbortController();
    const policy = chaos({ fault: new Error('x') });
    const pending = policy.execute(() => new Promise(() => {}), { signal: controller.signal });
    const reason = new Error('caller left');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('passes fn the caller signal, and rejects a fn that is not a function', async () => {
    const controller = new AbortController();
    const policy = chaos({ latency: 0, injectionRate: 1, enabled: true });
    await expect(
      policy.execute(({ signal }) => signal === controller.signal, { signal: controller.signal }),
    ).resolves.toBe(true);
    await expect(policy.execute(42 as never)).rejects.toThrow(
      new TypeError('Expected `fn` to be a function, got 42'),
    );
  });

  it('composes in pipeline(): a fallback answers its faults, a timeout bounds its latency', async () => {
    const fault = chaos({ fault: new Error('injected'), injectionRate: 1, enabled: true });
    const answered = pipeline(fallback({ value: 'fallback' }), fault);
    await expect(answered.execute(() => 'ran')).resolves.toBe('fallback');
    fault.enabled = false;
    await expect(answered.execute(() => 'ran')).resolves.toBe('ran');

    const slow = chaos({ latency: 60_000, injectionRate: 1, enabled: true });
    const bounded = pipeline(
      fallback({ value: 'late', shouldHandle: isTimeoutError }),
      timeout({ ms: 10 }),
      slow,
    );
    await expect(bounded.execute(() => 'ran')).resolves.toBe('late');
  });

  it('is transparent in a pipeline while off: fn sees the outer signal abort', async () => {
    const off = chaos({ latency: 60_000 });
    const policy = pipeline(timeout({ ms: 10 }), off);
    let sawAbort = false;
    const error = await policy
      .execute(
        ({ signal }: ExecutionContext) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              sawAbort = true;
              reject(signal.reason);
            }),
          ),
      )
      .catch((e: unknown) => e);
    expect(isTimeoutError(error)).toBe(true);
    expect(sawAbort).toBe(true);
  });

  it('stacks kinds: two chaos policies in one pipeline inject independently', async () => {
    const clock = fakeClock();
    const slow = chaos({ latency: 50, injectionRate: 1, enabled: true, clock });
    const failing = chaos({ fault: new Error('after the wait'), injectionRate: 1, enabled: true });
    const pending = pipeline(slow, failing).execute(() => 'ran');
    const settled = pending.catch((e: Error) => e.message);
    await clock.advance(49);
    expect(clock.pendingSleeps).toBe(1);
    await clock.advance(1);
    expect(await settled).toBe('after the wait');
  });
});

describe('chaos(): telemetry', () => {
  let otel: OtelHarness;
  beforeEach(() => {
    otel = installOtel();
  });
  afterEach(async () => {
    await otel.uninstall();
  });

  it('counts injections by policy name and kind, and adds a span event', async () => {
    const fault = chaos({ name: 'pay-chaos', fault: new Error('x'), injectionRate: 1 });
    const slow = chaos({ name: 'pay-latency', latency: 0, injectionRate: 1, enabled: true });
    await fault.execute(() => 1);
    fault.enabled = true;
    await otel.tracer.startActiveSpan('request', async (span) => {
      await fault.execute(() => 1).catch(() => {});
      await fault.execute(() => 1).catch(() => {});
      await slow.execute(() => 1);
      span.end();
    });
    const name = 'breakwater.chaos.injections';
    expect(
      await otel.sum(name, { [ATTR_POLICY_NAME]: 'pay-chaos', [ATTR_CHAOS_KIND]: 'fault' }),
    ).toBe(2);
    expect(
      await otel.sum(name, { [ATTR_POLICY_NAME]: 'pay-latency', [ATTR_CHAOS_KIND]: 'latency' }),
    ).toBe(1);
    const metric = await otel.metric(name);
    expect(metric).toMatchObject({ kind: 'counter', unit: '{call}' });
    const [request] = otel.spans();
    expect(request?.events.map((e) => [e.name, e.attributes?.[ATTR_CHAOS_KIND]])).toEqual([
      ['breakwater.chaos.injected', 'fault'],
      ['breakwater.chaos.injected', 'fault'],
      ['breakwater.chaos.injected', 'latency'],
    ]);
  });

  it('reports once an SDK registers, when the policy was built before it', async () => {
    await otel.uninstall();
    const policy = chaos({ name: 'early', outcome: 0, injectionRate: 1, enabled: true });
    otel = installOtel();
    await policy.execute(() => 1);
    expect(await otel.sum('breakwater.chaos.injections', { [ATTR_POLICY_NAME]: 'early' })).toBe(1);
  });
});

describe('chaos(): bad input', () => {
  const warnings = spyOnProcessWarnings();

  it('throws a named error for each bad option', () => {
    const fault = new Error('x');
    const cases: [() => unknown, Error][] = [
      [
        () => chaos({ fault, injectionRate: 1.5 }),
        new RangeError('Expected `injectionRate` in [0, 1], got 1.5'),
      ],
      [
        () => chaos({ fault, injectionRate: -0.1 }),
        new RangeError('Expected `injectionRate` in [0, 1], got -0.1'),
      ],
      [
        () => chaos({ fault, injectionRate: '0.5' as never }),
        new TypeError('Expected `injectionRate` in [0, 1], got "0.5"'),
      ],
      [
        () => chaos({ latency: -1 }),
        new RangeError('Expected `latency` to be a finite number >= 0, got -1'),
      ],
      [
        () => chaos({ latency: Number.POSITIVE_INFINITY }),
        new RangeError('Expected `latency` to be a finite number >= 0, got Infinity'),
      ],
      [
        () => chaos({} as never),
        new TypeError('Expected exactly one of `fault`, `latency` or `outcome`, got none'),
      ],
      [
        () => chaos({ fault, latency: 5 } as never),
        new TypeError(
          'Expected exactly one of `fault`, `latency` or `outcome`, got `fault` and `latency`',
        ),
      ],
      [
        () => chaos({ fault: 'boom' as never }),
        new TypeError(
          'Expected `fault` to be an Error or a function returning what to throw, got "boom"',
        ),
      ],
      [
        () => chaos({ fault, random: 0.5 as never }),
        new TypeError('Expected `random` to be a function, got 0.5'),
      ],
      [
        () => chaos({ fault, enabled: 'true' as never }),
        new TypeError('Expected `enabled` to be a boolean, got "true"'),
      ],
      [
        () => chaos({ fault, clock: {} as never }),
        new TypeError('Expected `clock` to be a Clock (an object with now() and sleep()), got {}'),
      ],
      [
        () => chaos({ fault, name: '' }),
        new TypeError('Expected `name` to be a non-empty string, got ""'),
      ],
      [() => chaos(null as never), new TypeError('Expected `options` to be an object, got null')],
    ];
    for (const [build, expected] of cases) {
      expect(build).toThrow(expected);
      try {
        build();
      } catch (error) {
        expect(error).toBeInstanceOf(expected.constructor);
      }
    }
  });

  it('warns once about an option it does not know', () => {
    chaos({ fault: new Error('x'), rate: 0.5 } as never);
    chaos({ fault: new Error('x'), rate: 0.5 } as never);
    expect(warnings.messages()).toEqual(['chaos(): unknown option `rate` (ignored)']);
    expect(warnings.spy.mock.calls[0]?.[1]).toMatchObject({ code: UNKNOWN_OPTION_WARNING_CODE });
  });
});
