import { type FakeClock, fakeClock } from '@breakwater/testkit';
import {
  type Cache,
  type CacheOptions,
  type CacheStore,
  cache,
  type StoreNamespace,
} from '../index.js';
import { memoryStore } from '../stores/memory.js';

/** A promise with its resolve/reject exposed. */
export function deferred<T>(): {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets pending callbacks run. */
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Two caches ("replicas") sharing one memory store and one fake clock. */
export function memoryFleet(options: Partial<CacheOptions> = {}, size = 2) {
  const clock = fakeClock(1_000_000);
  const store = memoryStore({ clock });
  const caches: Cache[] = [];
  for (let i = 0; i < size; i++) {
    caches.push(cache({ name: 'fleet', store, clock, jitter: 0, beta: 0, ...options }));
  }
  return { clock, store, caches };
}

/** One cache over a memory store with a fake clock and no randomness. */
export function testCache(
  options: Partial<CacheOptions> = {},
  clock: FakeClock = fakeClock(1_000_000),
) {
  const store = memoryStore({ clock });
  const c = cache({ name: 'test', store, clock, jitter: 0, beta: 0, ...options });
  return { c, clock, store };
}

/**
 * Wraps a store so that one replica can "die" without a process of its own: after `kill()`,
 * every call it makes hangs, so it neither renews nor releases its leases.
 */
export function killable(store: CacheStore): { store: CacheStore; kill(): void } {
  let dead = false;
  return {
    kill: () => {
      dead = true;
    },
    store: {
      kind: store.kind,
      namespace(name) {
        const inner = store.namespace(name);
        return new Proxy(inner, {
          get(target, property, receiver) {
            const member = Reflect.get(target, property, receiver) as unknown;
            if (typeof member !== 'function' || property === 'subscribe') return member;
            return (...args: unknown[]) =>
              dead
                ? new Promise(() => {})
                : (member as (...a: unknown[]) => unknown).apply(target, args);
          },
        }) as StoreNamespace;
      },
    },
  };
}
