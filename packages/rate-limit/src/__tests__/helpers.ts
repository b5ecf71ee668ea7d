import type { RateLimitStore, StoreHandle, StoreResult } from '../store.js';
import { memoryStore } from '../stores/memory.js';

/** A store that behaves like a remote one (promises, deadline) over a memory store, and counts calls. */
export interface ScriptedStore extends RateLimitStore {
  /** Store operations performed, by name. */
  readonly calls: Record<'consume' | 'peek' | 'refund' | 'reset', number>;
  /** While set, every operation fails with this error (or hangs, for 'hang'). */
  failure: Error | 'hang' | undefined;
}

export function scriptedStore(): ScriptedStore {
  const inner = memoryStore();
  const store: ScriptedStore = {
    kind: 'scripted',
    calls: { consume: 0, peek: 0, refund: 0, reset: 0 },
    failure: undefined,
    open(shape) {
      const handle = inner.open(shape);
      const run = <T>(
        name: keyof ScriptedStore['calls'],
        signal: AbortSignal | undefined,
        fn: () => T | Promise<T>,
      ): Promise<T> => {
        store.calls[name]++;
        const failure = store.failure;
        if (failure === 'hang') {
          return new Promise((_resolve, reject) => {
            signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
          });
        }
        if (failure) return Promise.reject(failure);
        return Promise.resolve().then(fn);
      };
      const remote: StoreHandle = {
        remote: true,
        consume: (key, cost, minCost, now, signal) =>
          run<StoreResult>('consume', signal, () =>
            handle.consume(key, cost, minCost, now, signal),
          ),
        peek: (key, cost, now, signal) =>
          run<StoreResult>('peek', signal, () => handle.peek(key, cost, now, signal)),
        refund: (key, cost, takenAt, now, signal) =>
          run<void>('refund', signal, () => handle.refund(key, cost, takenAt, now, signal)),
        reset: (key, signal) => run<void>('reset', signal, () => handle.reset(key, signal)),
      };
      return remote;
    },
  };
  return store;
}
