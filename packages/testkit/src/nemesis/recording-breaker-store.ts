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

/**
 * A store call of a breaker replica, as it records it (`probe-call` events, timed at the answer):
 * every probe lease the store granted (`acquire`) and every probe's outcome it was told
 * (`release`), each with its token (the breaker's: its replica id and a counter); and any other call whose answer showed
 * this replica a record version it had not seen (`view`). With the version and generation of the
 * record the store answered, so the checker can tell which call moved the fleet to a version.
 */
export interface ProbeCall {
  call: 'acquire' | 'release' | 'view';
  /** The store operation (`read`, `record`, `acquireProbe`, `releaseProbe`, …). */
  op: string;
  token?: string;
  /** `release`: the probe's outcome (`success`, `failure`, `ignored`). */
  result?: string;
  /** When the call was sent, shared monotonic ms. */
  askedAt: number;
  /** The record the store answered: its state, version and generation. */
  state: string;
  version: number;
  generation: number;
}

/** The view operations of a breaker scope (each answers a view, `acquireProbe` inside an object). */
const VIEW_OPERATIONS = ['read', 'record', 'releaseProbe', 'command', 'seed'] as const;

type Operation = (...args: unknown[]) => unknown;

interface ViewLike {
  state: string;
  version: number;
  generation: number;
}

function recordProbeCalls(
  scope: object,
  onCall: (call: ProbeCall) => void,
  now: () => number,
  acquire: Operation,
): Record<string, Operation> {
  // The versions this replica has seen answered, per generation: a `view` call is recorded once.
  const seen = new Map<number, number>();
  const fresh = (view: ViewLike) => {
    if ((seen.get(view.generation) ?? -1) >= view.version) return false;
    seen.set(view.generation, view.version);
    return true;
  };
  const report = (op: string, args: unknown[], answer: unknown, askedAt: number) => {
    const granted = op === 'acquireProbe' && (answer as { decision?: string }).decision === 'probe';
    const view = (op === 'acquireProbe' ? (answer as { view: ViewLike }).view : answer) as ViewLike;
    const isNew = fresh(view);
    const { state, version, generation } = view;
    if (granted || op === 'releaseProbe') {
      onCall({
        call: granted ? 'acquire' : 'release',
        op,
        token: String(args[0]),
        ...(op === 'releaseProbe' ? { result: String(args[1]) } : {}),
        askedAt,
        state,
        version,
        generation,
      });
    } else if (isNew) {
      onCall({ call: 'view', op, askedAt, state, version, generation });
    }
    return answer;
  };
  const wrap = (op: string, call: Operation): Operation => {
    return (...args: unknown[]) => {
      const askedAt = now();
      const answer = call(...args);
      return isThenable(answer)
        ? Promise.resolve(answer).then((settled) => report(op, args, settled, askedAt))
        : report(op, args, answer, askedAt);
    };
  };
  const target = scope as Record<string, Operation>;
  const wrapped: Record<string, Operation> = { acquireProbe: wrap('acquireProbe', acquire) };
  for (const op of VIEW_OPERATIONS) {
    if (typeof target[op] === 'function') wrapped[op] = wrap(op, target[op].bind(scope));
  }
  return wrapped;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * `store`, whose scopes record into `grants` every probe lease the store granted within
 * `deadlineMs` (the breaker's `storeDeadlineMs`: a later answer was replaced by the stand-in's),
 * and with `calls`, every {@link ProbeCall} timed by `calls.now`. Everything else reaches `store`
 * and its scopes unchanged.
 */
export function recordingBreakerStore<S extends object>(
  store: S,
  grants: ProbeGrants,
  deadlineMs: number,
  calls?: { onCall: (call: ProbeCall) => void; now: () => number },
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
    if (calls === undefined) return { acquireProbe };
    return recordProbeCalls(scope, calls.onCall, calls.now, acquireProbe as Operation);
  });
}
