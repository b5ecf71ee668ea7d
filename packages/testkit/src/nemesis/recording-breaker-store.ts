/**
 * A breaker store seen through a recorder, for the breaker replicas of the nemesis: which half-open
 * probes ran under a lease the store granted and which the breaker granted itself. A probe-lease
 * request that fails or outlives its deadline is answered by the breaker's in-process stand-in
 * (`onStoreError: 'local'`), which knows nothing of the fleet's leases; the replica writes what it
 * saw into the probe's history, so the checker holds store-granted probes to `halfOpen.maxCalls`
 * fleet-wide and gives the per-replica allowance only to the others.
 */
import { withScopeOverrides } from './scope-overrides.js';

/** Where a half-open probe's lease came from: the shared store, or the breaker alone. */
export type ProbeLease = 'store' | 'local';

/**
 * The store's probe grants, each claimable by the probe the breaker starts on it. The breaker runs
 * a probe synchronously after its lease request resolves; a grant not claimed by then (its answer
 * came after the deadline, and the stand-in had decided) lapses at the next turn of the event loop.
 */
export class ProbeGrants {
  #fresh = 0;

  /** Records a grant the store answered within `deadlineMs` of the request. */
  granted(): void {
    this.#fresh++;
    setImmediate(() => {
      if (this.#fresh > 0) this.#fresh--;
    });
  }

  /**
   * Called synchronously as a half-open probe starts: `'store'` when it runs on a grant of the
   * store (which it claims), `'local'` when the breaker granted it without the store.
   */
  claim(): ProbeLease {
    if (this.#fresh === 0) return 'local';
    this.#fresh--;
    return 'store';
  }
}

type AcquireProbe = (token: string, now: number, signal?: AbortSignal) => unknown;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * `store`, whose scopes record into `grants` every probe lease the store granted within
 * `deadlineMs` (the breaker's `storeDeadlineMs`: a later answer was replaced by the stand-in's).
 * Everything else reaches `store` and its scopes unchanged.
 */
export function recordingBreakerStore<S extends object>(
  store: S,
  grants: ProbeGrants,
  deadlineMs: number,
): S {
  return withScopeOverrides(store, (scope) => {
    const acquire = (scope as { acquireProbe: AcquireProbe }).acquireProbe.bind(scope);
    const acquireProbe: AcquireProbe = (token, now, signal) => {
      const askedAt = performance.now();
      const settle = (answer: unknown) => {
        const onTime = performance.now() - askedAt <= deadlineMs;
        if (onTime && (answer as { decision?: string }).decision === 'probe') grants.granted();
        return answer;
      };
      const answer = acquire(token, now, signal);
      return isThenable(answer) ? Promise.resolve(answer).then(settle) : settle(answer);
    };
    return { acquireProbe };
  });
}
