import { type FakeClock, fakeClock } from '@breakwater/testkit';
import {
  type Cache,
  type CacheOptions,
  type CacheScope,
  type CacheStore,
  cache,
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

/** A store whose scopes are `wrap(scope)` of `store`'s; `close()` closes `store`. */
export function wrappedStore(
  store: CacheStore,
  wrap: (scope: CacheScope) => CacheScope,
  kind = store.kind,
): CacheStore {
  const close = () => store.close();
  return { kind, scope: (name) => wrap(store.scope(name)), close, [Symbol.asyncDispose]: close };
}

/** A store of `kind` whose scope is `scope` (a stand-in a test builds), with nothing to close. */
export function storeOf(kind: string, scope: () => CacheScope): CacheStore {
  const close = async () => {};
  return { kind, scope, close, [Symbol.asyncDispose]: close };
}

/**
 * A scope whose every operation (not `subscribe`) is `operation(name, args)` — a store that
 * fails, hangs or counts its calls.
 */
export function scopeOf(
  operation: (name: string, args: unknown[]) => Promise<unknown>,
  extra: Partial<CacheScope> = {},
): CacheScope {
  const names = [
    'get',
    'set',
    'delete',
    'getTagVersions',
    'bumpTags',
    'acquireLease',
    'releaseLease',
    'extendLease',
  ] as const;
  const scope: Record<string, unknown> = { ...extra };
  for (const name of names) scope[name] = (...args: unknown[]) => operation(name, args);
  return scope as unknown as CacheScope;
}

/**
 * A store whose scopes' operations (not `subscribe`) each go through `around(call)`, where `call`
 * runs the real operation: `around` may run it, delay it, fail it or never answer.
 */
export function interceptedStore(
  store: CacheStore,
  around: (call: () => unknown) => unknown,
  kind = store.kind,
): CacheStore {
  return wrappedStore(
    store,
    (inner) =>
      new Proxy(inner, {
        get(target, property, receiver) {
          const member = Reflect.get(target, property, receiver) as unknown;
          if (typeof member !== 'function' || property === 'subscribe') return member;
          return (...args: unknown[]) =>
            around(() => (member as (...a: unknown[]) => unknown).apply(target, args));
        },
      }),
    kind,
  );
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
    store: interceptedStore(store, (call) => (dead ? new Promise(() => {}) : call())),
  };
}
