import { getEventListeners } from 'node:events';

/** Number of abort listeners currently registered on `signal`. */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

/** Number of live `setTimeout`/`setInterval` handles in this process. */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

/** Lets pending promise callbacks and immediates run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A function that fails `failures` times with distinct errors, then returns `value`. */
export function failing<T>(
  failures: number,
  value: T,
  make = (n: number) => new Error(`fail ${n}`),
) {
  let calls = 0;
  const fn = () => {
    calls++;
    if (calls <= failures) throw make(calls);
    return value;
  };
  // A getter, so the count read later is live (Object.assign would copy today's value).
  return Object.defineProperty(fn, 'calls', { get: () => calls }) as typeof fn & {
    readonly calls: number;
  };
}
