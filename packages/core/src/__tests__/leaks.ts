import { getEventListeners } from 'node:events';

/**
 * Tracks the timers created through `setTimeout` from now on, so a test can check that the code
 * under test cleared or ran every timer it made (without counting the test runner's own timers).
 */
export function trackTimers(): {
  live(): number;
  /** The timers still pending, to check e.g. that none keeps the process alive (`hasRef()`). */
  handles(): NodeJS.Timeout[];
  restore(): void;
} {
  const live = new Set<unknown>();
  const originalSet = globalThis.setTimeout;
  const originalClear = globalThis.clearTimeout;
  const patchedSet = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const handle = originalSet(
      (...callbackArgs: unknown[]) => {
        live.delete(handle);
        callback(...callbackArgs);
      },
      ms,
      ...args,
    );
    live.add(handle);
    return handle;
  }) as typeof setTimeout;
  const patchedClear = ((handle?: Parameters<typeof clearTimeout>[0]) => {
    live.delete(handle);
    originalClear(handle);
  }) as typeof clearTimeout;
  globalThis.setTimeout = patchedSet;
  globalThis.clearTimeout = patchedClear;
  return {
    live: () => live.size,
    handles: () => [...live] as NodeJS.Timeout[],
    restore() {
      globalThis.setTimeout = originalSet;
      globalThis.clearTimeout = originalClear;
    },
  };
}

/** Number of abort listeners currently registered on `signal`. */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

/** Lets pending promise callbacks and immediates run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
