/**
 * The composition the root README recommends — `pipeline(retry, circuitBreaker, bulkhead,
 * timeout)` — tested across the packages (this example depends on all of them): it builds as the
 * README writes it, it adds no listener to the shared never-aborted signal however many calls
 * without a caller signal are in flight (Node warns past 10), a caller's signal still cancels a
 * call queued in the bulkhead, and a retry that meets the open breaker gives up at once with the
 * breaker's error rather than waiting out the break.
 */
import { getEventListeners } from 'node:events';
import { bulkhead, isBulkheadRejectedError } from '@breakwater/bulkhead';
import { circuitBreaker, isBrokenCircuitError } from '@breakwater/circuit-breaker';
import { neverAbortedSignal, pipeline, timeout } from '@breakwater/core';
import { type GiveUpEvent, retry, retryBudget } from '@breakwater/retry';
import { afterEach, describe, expect, it } from 'vitest';

const CONCURRENT = 50;

const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(warning.name);
process.on('warning', onWarning);
afterEach(async () => {
  await new Promise((resolve) => setImmediate(resolve));
  expect(warnings.splice(0)).not.toContain('MaxListenersExceededWarning');
});

/** The README's pipeline, as written there ("Choosing a pattern"). */
function readmePipeline() {
  return pipeline(
    retry({ budget: retryBudget() }),
    circuitBreaker({
      // A full bulkhead says nothing about the payment provider's health.
      shouldHandle: (outcome) =>
        outcome.kind === 'error' && !isBulkheadRejectedError(outcome.error),
    }),
    bulkhead({
      maxConcurrent: 20, // required: a bulkhead needs a limit (or an adaptive `limit`)
      maxQueue: 50,
      classes: { checkout: { reserved: 15 }, batch: {} },
    }),
    timeout({ ms: 2_000 }),
  );
}

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

function gate(): { promise: Promise<string>; open(): void } {
  let open!: () => void;
  const promise = new Promise<string>((resolve) => {
    open = () => resolve('done');
  });
  return { promise, open };
}

describe('the recommended pipeline', () => {
  it(`adds no listener to the never-aborted signal over ${CONCURRENT} calls without a caller signal`, async () => {
    const never = neverAbortedSignal();
    const pipelines = [
      pipeline(retry(), circuitBreaker(), bulkhead({ maxConcurrent: 100 }), timeout({ ms: 1000 })),
      // Most calls wait in the bulkhead's queue here.
      pipeline(
        retry(),
        circuitBreaker({ timeoutMs: 5_000 }),
        bulkhead({ maxConcurrent: 5, maxQueue: 100 }),
        timeout({ ms: 1000 }),
      ),
      readmePipeline(),
    ];
    for (const policy of pipelines) {
      const pending = gate();
      const calls = Array.from({ length: CONCURRENT }, () => policy.execute(() => pending.promise));
      await new Promise((resolve) => setImmediate(resolve));
      expect(abortListeners(never)).toBe(0);
      pending.open();
      await expect(Promise.all(calls)).resolves.toEqual(Array(CONCURRENT).fill('done'));
      expect(abortListeners(never)).toBe(0);
    }
  });

  it('runs a call of a class of the bulkhead, and refuses a call whose fn is not a function', async () => {
    const payments = readmePipeline();
    await expect(
      payments.execute(({ signal }) => (signal.aborted ? 'aborted' : 'charged'), {
        priority: 'checkout',
      }),
    ).resolves.toBe('charged');
    await expect(payments.execute(42 as never)).rejects.toThrow(
      'Expected `fn` to be a function, got 42',
    );
  });

  it("a caller's signal still cancels a call queued in the bulkhead", async () => {
    const payments = pipeline(
      retry(),
      circuitBreaker(),
      bulkhead({ maxConcurrent: 1, maxQueue: 10 }),
      timeout({ ms: 1000 }),
    );
    const pending = gate();
    const running = payments.execute(() => pending.promise);
    const controller = new AbortController();
    const ran: string[] = [];
    const queued = payments.execute(() => ran.push('queued'), { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(queued).rejects.toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
    pending.open();
    await expect(running).resolves.toBe('done');
    expect(ran).toEqual([]);
  });

  it("a retry that meets the open breaker ends at once with the breaker's error", async () => {
    const policy = retry(); // 3 attempts: it waits out hints up to 200 ms (its longest backoff)
    const giveUps: GiveUpEvent[] = [];
    policy.onGiveUp((event) => giveUps.push(event));
    const payments = pipeline(
      policy,
      circuitBreaker({ consecutiveFailures: 1, breakDurationMs: 30_000 }),
      bulkhead({ maxConcurrent: 10 }),
      timeout({ ms: 1000 }),
    );
    let attempts = 0;
    const started = performance.now();
    const error = await payments
      .execute(() => {
        attempts++;
        throw new Error('provider down');
      })
      .catch((thrown: unknown) => thrown);
    // The first attempt opened the breaker; the second met it, whose 30 s break is far longer
    // than the retry waits out.
    expect(attempts).toBe(1);
    expect(isBrokenCircuitError(error)).toBe(true);
    expect(giveUps.map((event) => [event.reason, event.attempts])).toEqual([['hint-too-long', 2]]);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
