/**
 * No listener on a signal that can never abort: calls given no signal share one never-aborted
 * signal, and an outer policy passes it to the inner ones, so a listener per call on it piles up
 * while calls are in flight (`MaxListenersExceededWarning` past 10) and never runs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  abortableSignal,
  childAbortController,
  fallback,
  getTelemetry,
  neverAbortedSignal,
  pipeline,
  raceAbort,
  resolveStoreOptions,
  StoreCalls,
  systemClock,
  timeout,
} from '../index.js';
import { abortListeners, flush } from './leaks.js';

const CONCURRENT = 50;

/** A promise the test settles, and how to settle it. */
function gate(): { promise: Promise<string>; open(): void } {
  let open!: () => void;
  const promise = new Promise<string>((resolve) => {
    open = () => resolve('done');
  });
  return { promise, open };
}

/** Records `MaxListenersExceededWarning`s emitted while the test runs. */
function watchWarnings(): { readonly names: string[] } {
  const names: string[] = [];
  const onWarning = (warning: Error) => names.push(warning.name);
  process.on('warning', onWarning);
  afterEach(() => {
    process.off('warning', onWarning);
  });
  return { names };
}

describe('the shared never-aborted signal', () => {
  const warnings = watchWarnings();

  it('is one signal, shared by every copy of the package, and abortableSignal() drops it', () => {
    const never = neverAbortedSignal();
    expect(neverAbortedSignal()).toBe(never);
    expect(
      (globalThis as Record<symbol, unknown>)[Symbol.for('@breakwater/core/never-aborted-signal')],
    ).toBe(never);
    expect(abortableSignal(never)).toBeUndefined();
    expect(abortableSignal(undefined)).toBeUndefined();
    const real = new AbortController().signal;
    expect(abortableSignal(real)).toBe(real);
  });

  it('raceAbort, childAbortController and systemClock.sleep add no listener to it', async () => {
    const never = neverAbortedSignal();
    const pending = gate();
    const races = Array.from({ length: CONCURRENT }, () => raceAbort(pending.promise, never));
    const children = Array.from({ length: CONCURRENT }, () => childAbortController(never));
    const sleeps = Array.from({ length: CONCURRENT }, () => systemClock.sleep(1, never));
    expect(abortListeners(never)).toBe(0);
    pending.open();
    await Promise.all([...races, ...sleeps]);
    for (const child of children) child.dispose();
    await flush();
    expect(warnings.names).not.toContain('MaxListenersExceededWarning');
  });

  it(`${CONCURRENT} concurrent calls of timeout(), fallback() and pipeline() given it add no listener`, async () => {
    const never = neverAbortedSignal();
    const pending = gate();
    const policies = [
      timeout({ ms: 60_000 }),
      fallback({ value: 'fallback' }),
      pipeline(fallback({ value: 'fallback' }), timeout({ ms: 60_000 })),
      pipeline(),
    ];
    const calls = policies.flatMap((policy) =>
      Array.from({ length: CONCURRENT }, () =>
        policy.execute(() => pending.promise, { signal: never }),
      ),
    );
    await flush();
    expect(abortListeners(never)).toBe(0);
    pending.open();
    await expect(Promise.all(calls)).resolves.toContain('done');
    await flush();
    expect(warnings.names).not.toContain('MaxListenersExceededWarning');
  });

  it('a store operation given it adds no listener', async () => {
    const never = neverAbortedSignal();
    const calls = new StoreCalls({
      pattern: 'rate-limit',
      policy: 'never-aborted',
      store: 'redis',
      settings: resolveStoreOptions({}, { onStoreError: 'fail-closed' }),
      telemetry: getTelemetry({ name: '@breakwater/core-test', version: '0.0.0' }),
    });
    const pending = gate();
    const get = calls.operation('get', () => pending.promise);
    const runs = Array.from({ length: CONCURRENT }, () => get.run(undefined, never));
    expect(abortListeners(never)).toBe(0);
    pending.open();
    await Promise.all(runs);
    await calls.close();
  });

  it('a real signal still gets its listener, and still aborts the call', async () => {
    const controller = new AbortController();
    const pending = gate();
    const call = timeout({ ms: 60_000 }).execute(() => pending.promise, {
      signal: controller.signal,
    });
    expect(abortListeners(controller.signal)).toBe(1);
    controller.abort(new Error('stop'));
    await expect(call).rejects.toThrow('stop');
    expect(abortListeners(controller.signal)).toBe(0);
    pending.open();
  });
});

describe('execute() with something that is not a function', () => {
  it.each([
    ['timeout()', () => timeout({ ms: 100 })],
    ['fallback()', () => fallback({ value: 'fallback' })],
    ['pipeline(a, b)', () => pipeline(fallback({ value: 'fallback' }), timeout({ ms: 100 }))],
    ['pipeline()', () => pipeline()],
  ])('%s rejects with the named TypeError, before running anything', async (_, build) => {
    const policy = build();
    for (const bad of [42, undefined, 'fn']) {
      const call = policy.execute(bad as never);
      await expect(call).rejects.toBeInstanceOf(TypeError);
      await expect(call).rejects.toThrow(/^Expected `fn` to be a function, got /);
    }
    await expect(policy.execute(42 as never)).rejects.toThrow(
      'Expected `fn` to be a function, got 42',
    );
  });
});
