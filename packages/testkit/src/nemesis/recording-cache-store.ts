/**
 * A cache store seen through a recorder, for the cache replica of the nemesis: per key, how the
 * last L2 read or lease call went. The cache loads without the fleet lease when one of them fails
 * or outlives its deadline (`onStoreError: 'local'`); the replica writes what it saw into the
 * load's history, so the checker can tell such a load from one that broke the lease.
 */

import { withScopeOverrides } from './scope-overrides.js';

/**
 * How the last store call on a key's way to a load went:
 * - `acquired`, `held`, `changed`: the lease call's answer;
 * - `lease-failed`, `read-failed`: the lease call or the L2 read rejected;
 * - `lease-pending`, `read-pending`: it had not answered when the load started — the cache gave up
 *   on it at its deadline.
 * - `read`: the L2 read answered and no lease call followed.
 */
export type LastStoreCall =
  | 'acquired'
  | 'held'
  | 'changed'
  | 'lease-failed'
  | 'read-failed'
  | 'lease-pending'
  | 'read-pending'
  | 'read';

/** The calls a load starts from whose answers decide whether it holds the lease. */
type Recorded = 'get' | 'acquireLease';

/**
 * A store call that failed, or answered after `lateMs` (`error: 'late'`): which, on what key,
 * after how long, with what error.
 */
export interface FailedStoreCall {
  call: Recorded;
  key: string;
  ms: number;
  error: string;
}

function recordCalls(
  scope: object,
  lastCall: Map<string, LastStoreCall>,
  onFailure: ((failure: FailedStoreCall) => void) | undefined,
  lateMs: number | undefined,
): Record<Recorded, (...args: unknown[]) => Promise<unknown>> {
  const target = scope as Record<Recorded, (...args: unknown[]) => Promise<unknown>>;
  const record = (name: Recorded, pending: LastStoreCall, failed: LastStoreCall) => {
    const call = target[name].bind(scope);
    return async (...args: unknown[]) => {
      const key = args[0] as string;
      lastCall.set(key, pending);
      const started = performance.now();
      const settle = (outcome: LastStoreCall) => {
        // A later call on the key (the next flight) owns the entry from its start.
        if (lastCall.get(key) === pending) lastCall.set(key, outcome);
      };
      try {
        const result = await call(...args);
        settle(name === 'get' ? 'read' : ((result as { status: LastStoreCall }).status ?? 'read'));
        const ms = Math.round(performance.now() - started);
        if (lateMs !== undefined && ms > lateMs)
          onFailure?.({ call: name, key, ms, error: 'late' });
        return result;
      } catch (error) {
        settle(failed);
        const ms = Math.round(performance.now() - started);
        onFailure?.({ call: name, key, ms, error: (error as Error).name ?? String(error) });
        throw error;
      }
    };
  };
  return {
    get: record('get', 'read-pending', 'read-failed'),
    acquireLease: record('acquireLease', 'lease-pending', 'lease-failed'),
  };
}

/**
 * A lease-holder's store call, as a replica records it (`lease-call` events): the fleet lease of
 * `key` taken (`acquire`), renewed (`extend`) or written under (`set`, the load's write), with the
 * shared monotonic time it was sent (`askedAt`; the event's own time is the answer's). The checker
 * bounds from them when each lease can have lapsed, and judges the writes made after that.
 */
export interface LeaseCall {
  call: 'acquire' | 'extend' | 'set';
  key: string;
  /** The lease token (its first 8 characters), absent for a write without a lease. */
  token?: string;
  askedAt: number;
  /** `acquire`: whether the lease was taken; `extend`: renewed; `set`: the record was written. */
  ok: boolean;
  /** `set`: the version it expected (0: absent) and the key's version after it. */
  expectVersion?: number;
  version?: number;
}

type Scoped = (...args: unknown[]) => Promise<unknown>;

function recordLeaseCalls(
  scope: object,
  onLease: (call: LeaseCall) => void,
  now: () => number,
): Record<'acquireLease' | 'extendLease' | 'set', Scoped> {
  const target = scope as Record<'acquireLease' | 'extendLease' | 'set', Scoped>;
  const short = (token: unknown) =>
    typeof token === 'string' && token !== '' ? token.slice(0, 8) : undefined;
  const wrap = (
    name: 'acquireLease' | 'extendLease' | 'set',
    report: (args: unknown[], result: unknown, askedAt: number) => LeaseCall,
  ): Scoped => {
    const call = target[name].bind(scope);
    return async (...args: unknown[]) => {
      const askedAt = now();
      const result = await call(...args);
      onLease(report(args, result, askedAt));
      return result;
    };
  };
  return {
    acquireLease: wrap('acquireLease', ([key, token], result, askedAt) => ({
      call: 'acquire',
      key: key as string,
      token: short(token),
      askedAt,
      ok: (result as { status: string }).status === 'acquired',
    })),
    extendLease: wrap('extendLease', ([key, token], result, askedAt) => ({
      call: 'extend',
      key: key as string,
      token: short(token),
      askedAt,
      ok: result === true,
    })),
    set: wrap('set', ([key, write], result, askedAt) => {
      const { leaseToken, expectVersion } = write as {
        leaseToken?: string;
        expectVersion?: number;
      };
      const { written, version } = result as { written: boolean; version: number };
      return {
        call: 'set',
        key: key as string,
        ...(short(leaseToken) === undefined ? {} : { token: short(leaseToken) }),
        askedAt,
        ok: written,
        ...(expectVersion === undefined ? {} : { expectVersion }),
        version,
      };
    }),
  };
}

/**
 * `store`, whose scopes record into `lastCall` how each key's last L2 read or lease call went, and
 * report each such call that rejects, or answers after `lateMs`, to `onFailure`; with `lease`, every
 * lease taken or renewed and every write, as a {@link LeaseCall} timed by `lease.now`. Everything
 * else reaches `store` and its scopes unchanged.
 */
export function recordingStore<S extends object>(
  store: S,
  lastCall: Map<string, LastStoreCall>,
  onFailure?: (failure: FailedStoreCall) => void,
  lateMs?: number,
  lease?: { onCall: (call: LeaseCall) => void; now: () => number },
): S {
  return withScopeOverrides(store, (scope) => {
    if (lease === undefined) return recordCalls(scope, lastCall, onFailure, lateMs);
    // The lease calls' own recorder sits under the one of `recordCalls` (which reads the status).
    const leased = recordLeaseCalls(scope, lease.onCall, lease.now);
    const inner = new Proxy(scope, {
      get(target, key) {
        if (key === 'acquireLease') return leased.acquireLease;
        const member = Reflect.get(target, key, target) as unknown;
        return typeof member === 'function' ? member.bind(target) : member;
      },
    });
    return { ...leased, ...recordCalls(inner, lastCall, onFailure, lateMs) };
  });
}
