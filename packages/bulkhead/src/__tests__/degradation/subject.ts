/**
 * The degradation suite's subject for the bulkhead: one fleet bulkhead with its Redis or DynamoDB
 * permit store on the suite's client (the Redis store opens its own subscriber from it, and
 * closes it). No vitest here: the suite's child process imports it too.
 *
 * A call is one `execute(fn)`: it acquires a fleet permit (one store operation), runs `fn`, and
 * gives the permit back (a second one). `fn` answers the call's fencing token, which only a lease
 * from the store carries: a call run without a permit (`'fail-open'`, `'local'`) has none.
 */
import type { BuildSubject } from '@breakwater/testkit/degradation-child';
import { dynamoStore } from '../../dynamodb.js';
import { bulkhead, type PermitStore } from '../../index.js';
import { redisStore } from '../../redis.js';

/** The fleet limit: far more than the suite ever runs at once, so the store always grants. */
export const MAX_CONCURRENT = 10;
/** Under `'local'`: the most calls this process runs without a permit. */
export const LOCAL_MAX_CONCURRENT = 2;

/** What `fn` answers: the fencing token of its lease, if it holds one. */
export interface CallAnswer {
  readonly fencingToken: number | undefined;
}

/** A permit store whose releases of granted leases can be awaited, by fencing token. */
interface ObservedStore {
  readonly store: PermitStore;
  /** Resolves once the release of the lease with `fencingToken` settled, or after `ms`. */
  released(fencingToken: number, ms: number): Promise<void>;
}

/**
 * Passes every operation through to `store` unchanged, and remembers the release of each granted
 * lease while it is in flight. (Releases of leases an acquire that missed its deadline may hold
 * carry no fencing token: nobody waits for those.)
 */
function observeReleases(store: PermitStore): ObservedStore {
  const releases = new Map<number, Promise<unknown>>();
  const observed: PermitStore = {
    kind: store.kind,
    scope(options) {
      const scope = store.scope(options);
      return {
        abortable: scope.abortable,
        probe: scope.probe && ((signal) => scope.probe!(signal)),
        acquire: (request, signal) => scope.acquire(request, signal),
        renew: (lease, ttlMs, signal) => scope.renew(lease, ttlMs, signal),
        release(lease, signal) {
          const release = scope.release(lease, signal);
          if (lease.fencingToken > 0) {
            const token = lease.fencingToken;
            const settled = release.then(
              () => releases.delete(token),
              () => releases.delete(token),
            );
            releases.set(token, settled);
          }
          return release;
        },
        get wakeups() {
          return scope.wakeups;
        },
        waitForRelease: (timeoutMs, signal, seen) => scope.waitForRelease(timeoutMs, signal, seen),
        close: () => scope.close(),
      };
    },
    close: () => store.close(),
    [Symbol.asyncDispose]: () => store.close(),
  };
  return {
    store: observed,
    released(fencingToken, ms) {
      const release = releases.get(fencingToken);
      if (release === undefined) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        void release.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

export const build: BuildSubject = (ctx) => {
  const store =
    ctx.backend === 'dynamodb'
      ? dynamoStore({ client: ctx.client, tableName: ctx.tableName, prefix: ctx.prefix })
      : redisStore({ client: ctx.client, prefix: ctx.prefix });
  const observed = observeReleases(store);
  const policy = bulkhead({
    name: ctx.policyName,
    maxConcurrent: MAX_CONCURRENT,
    store: observed.store,
    onStoreError: ctx.mode,
    localMaxConcurrent: LOCAL_MAX_CONCURRENT,
    storeDeadlineMs: ctx.deadlineMs,
    storeFailureThreshold: ctx.failureThreshold,
    storeProbeIntervalMs: ctx.probeIntervalMs,
  });
  return {
    async call() {
      const answer = await policy.execute(({ fencingToken }): CallAnswer => ({ fencingToken }));
      // The caller gets its answer as soon as `fn` settles; the permit goes back in the
      // background. The call ends once it is back (the bulkhead gives up on it at the deadline),
      // so that no healthy call still has a release on its way when the suite breaks the store:
      // that release's failure would count toward degrading it.
      if (answer.fencingToken !== undefined) {
        await observed.released(answer.fencingToken, ctx.deadlineMs);
      }
      return answer;
    },
    onStoreStatusChange: (listener) => policy.onStoreStatusChange(listener),
    get storeStatus() {
      return policy.storeStatus;
    },
    close: async () => {
      await policy.close();
      // Closes the subscriber the Redis store opened; not the client: it stays the user's.
      await store.close();
    },
  };
};
