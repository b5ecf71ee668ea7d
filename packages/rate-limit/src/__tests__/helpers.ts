import type { ReplicaBackend } from '@breakwater/core';
import type { Cluster, Redis } from 'ioredis';
import type { AlgorithmName, LimitOptions } from '../index.js';
import type { RateLimitStore, StoreHandle, StoreResult } from '../store.js';
import { memoryStore } from '../stores/memory.js';

/** So long that the milliseconds a test takes on the server clock never change a decision. */
export const LONG = 1e12;

/** `limit` and `burst` giving a limit of `algorithm` the capacity `capacity` per {@link LONG}. */
export function sized(algorithm: AlgorithmName, capacity: number): LimitOptions {
  const bucket = algorithm === 'gcra' || algorithm === 'token-bucket';
  return { limit: capacity, intervalMs: LONG, burst: bucket ? capacity - 1 : 0, algorithm };
}

/**
 * A client that records the keys of every decision EVALSHA it forwards to `client` (not the replica
 * registry's heartbeats): one entry per script
 * call (the EVAL that follows a NOSCRIPT, when another test flushed the script cache, is the same
 * call's retry).
 */
export function recording<C extends Redis | Cluster>(client: C): { client: C; calls: string[][] } {
  const recorder = { client, calls: [] as string[][] };
  recorder.client = new Proxy(client, {
    get(target, prop) {
      if (prop === 'evalsha') {
        return (...args: unknown[]) => {
          const numkeys = Number(args[1]);
          const keys = args.slice(2, 2 + numkeys) as string[];
          // The replica registry's heartbeats and the reads of published limits are not
          // decisions: only decisions are recorded.
          const other = numkeys === 1 && /:(replicas|limits)$/.test(keys[0]!);
          if (!other) recorder.calls.push(keys);
          return (target[prop] as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as C;
  return recorder;
}

/** A fake client whose script calls answer when the test says so. */
export function gatedClient() {
  const calls: {
    args: unknown[];
    resolve: (v: unknown) => void;
    reject: (e: unknown) => void;
  }[] = [];
  const client = {
    evalsha: (...args: unknown[]) =>
      // The limiter's reads of published limits find none, at once; decisions wait for the test.
      String(args[2]).endsWith(':limits')
        ? Promise.resolve([null, null])
        : new Promise((resolve, reject) => {
            calls.push({ args, resolve, reject });
          }),
    eval: () => Promise.reject(new Error('unexpected EVAL')),
    // Other commands (a reset's DEL) go through `call`; `pipeline` and `duplicate` complete the
    // shape of an ioredis client, which the store checks, and are never called.
    call: () => Promise.resolve(0),
    pipeline: () => Promise.reject(new Error('unexpected pipeline')),
    duplicate: () => {
      throw new Error('unexpected duplicate()');
    },
  };
  return { client: client as unknown as Redis, calls };
}

/** Lets this tick's batch go out: the Redis store sends it in a microtask. */
export const flushed = () => Promise.resolve();

/** A store that behaves like a remote one (promises, deadline) over a memory store, and counts calls. */
export interface ScriptedStore extends RateLimitStore {
  /** Store operations performed, by name (`probe`: background probes). */
  readonly calls: Record<
    'consume' | 'peek' | 'refund' | 'adjust' | 'reset' | 'probe' | 'heartbeat' | 'leave',
    number
  >;
  /** While set, every operation fails with this error (or hangs, for 'hang'). */
  failure: Error | 'hang' | undefined;
}

/**
 * A remote-like store over a memory store. With `probe: true` its handles have a `probe()`, which
 * fails like the operations do.
 */
export function scriptedStore(
  options: { probe?: boolean; replicas?: ReplicaBackend } = {},
): ScriptedStore {
  const inner = memoryStore();
  const close = () => Promise.resolve();
  const store: ScriptedStore = {
    kind: 'scripted',
    calls: {
      consume: 0,
      peek: 0,
      refund: 0,
      adjust: 0,
      reset: 0,
      probe: 0,
      heartbeat: 0,
      leave: 0,
    },
    failure: undefined,
    close,
    [Symbol.asyncDispose]: close,
    scope(shape) {
      const handle = inner.scope(shape);
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
        adjust: (key, points, now, signal) =>
          run<StoreResult>('adjust', signal, () => handle.adjust(key, points, now, signal)),
        reset: (key, signal) => run<void>('reset', signal, () => handle.reset(key, signal)),
      };
      if (options.probe) remote.probe = (signal) => run<void>('probe', signal, () => {});
      const replicas = options.replicas;
      if (replicas !== undefined) {
        // The registry's heartbeats fail, hang and count like the store's other operations.
        remote.replicaBackend = () => ({
          heartbeat: (id, ttlMs, signal) =>
            run<number>('heartbeat', signal, () => replicas.heartbeat(id, ttlMs, signal)),
          leave: (id, signal) => run<void>('leave', signal, () => replicas.leave(id, signal)),
        });
      }
      return remote;
    },
  };
  return store;
}
