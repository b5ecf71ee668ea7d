/**
 * The L2 store as the cache engine calls it: the cache's scope of its store, every operation a
 * `StoreOp` of core's store call path built once here (`StoreCalls`: the deadline, the
 * degraded-mode rule and its background probe, error normalisation, store telemetry and status
 * events). The rest of the engine sees only {@link L2Store}.
 *
 * Operations reject with a `StoreError` (a `StoreTimeoutError` for a missed deadline; at once,
 * without calling the store, while it is degraded). What to do about a failure is the cache's
 * decision (`onStoreError`), taken by the read and write paths.
 */
import {
  type Disposer,
  StoreCalls,
  type StoreOp,
  type StoreStatus,
  type StoreStatusListener,
  type Telemetry,
} from '@breakwater/core';
import type { ResolvedOptions } from '../options.js';
import type {
  CacheScope,
  CacheStore,
  InvalidationListener,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  WriteResult,
} from '../store.js';

/** The L2 operations, as core's `breakwater.store.operation` attribute names them. */
export type StoreOperationName =
  | 'get'
  | 'set'
  | 'delete'
  | 'get_tag_versions'
  | 'bump_tags'
  | 'acquire_lease'
  | 'extend_lease'
  | 'release_lease';

/** A write of one key. */
interface SetRequest {
  readonly key: string;
  readonly write: RecordWrite;
}

/** A delete of one key. */
interface DeleteRequest {
  readonly key: string;
  readonly origin: string;
}

/** A tag bump. */
interface BumpRequest {
  readonly tags: readonly string[];
  readonly origin: string;
}

/** A lease request: acquire (with `seenVersion`), extend (with `ttlMs`) or release. */
interface LeaseRequest {
  readonly key: string;
  readonly token: string;
  readonly ttlMs: number;
  readonly seenVersion: number;
}

/** A native promise of what `run` answered (a store may answer synchronously). */
function promised<T>(answer: T | Promise<T>): Promise<T> {
  return answer instanceof Promise ? answer : Promise.resolve(answer);
}

/** The cache's scope of its L2 store, behind core's store call path. */
export class L2Store {
  /** Whether the store has an invalidation bus. */
  readonly hasBus: boolean;
  private readonly scope: CacheScope;
  private readonly calls: StoreCalls;
  private readonly getOp: StoreOp<StoredRecord | undefined, string>;
  private readonly setOp: StoreOp<WriteResult, SetRequest>;
  private readonly deleteOp: StoreOp<number, DeleteRequest>;
  private readonly getTagVersionsOp: StoreOp<number[], readonly string[]>;
  private readonly bumpTagsOp: StoreOp<number[], BumpRequest>;
  private readonly acquireLeaseOp: StoreOp<LeaseResult, LeaseRequest>;
  private readonly extendLeaseOp: StoreOp<boolean, LeaseRequest>;
  private readonly releaseLeaseOp: StoreOp<boolean, LeaseRequest>;

  constructor(o: ResolvedOptions, store: CacheStore, telemetry: Telemetry) {
    const scope = store.scope(o.name);
    this.scope = scope;
    this.hasBus = typeof scope.subscribe === 'function';
    const probe = scope.probe;
    const calls = new StoreCalls({
      pattern: 'cache',
      policy: o.name,
      store: store.kind,
      settings: o.storeSettings,
      telemetry,
      probe: typeof probe === 'function' ? (signal) => probe.call(scope, signal) : undefined,
    });
    this.calls = calls;
    // Built once: a call allocates nothing for its operation beyond what StoreOp costs. The
    // L2 hit path is `getOp`: no argument object, the store's promise followed directly.
    const how = { abortable: scope.abortable === true };
    this.getOp = calls.operation('get', (key, signal) => scope.get(key, signal), how);
    this.setOp = calls.operation<WriteResult, SetRequest>(
      'set',
      (request, signal) => scope.set(request.key, request.write, signal),
      how,
    );
    this.deleteOp = calls.operation<number, DeleteRequest>(
      'delete',
      (request, signal) => scope.delete(request.key, request.origin, signal),
      how,
    );
    this.getTagVersionsOp = calls.operation<number[], readonly string[]>(
      'get_tag_versions',
      (tags, signal) => scope.getTagVersions(tags, signal),
      how,
    );
    this.bumpTagsOp = calls.operation<number[], BumpRequest>(
      'bump_tags',
      (request, signal) => scope.bumpTags(request.tags, request.origin, signal),
      how,
    );
    this.acquireLeaseOp = calls.operation<LeaseResult, LeaseRequest>(
      'acquire_lease',
      (r, signal) => scope.acquireLease(r.key, r.token, r.ttlMs, r.seenVersion, signal),
      how,
    );
    this.extendLeaseOp = calls.operation<boolean, LeaseRequest>(
      'extend_lease',
      (r, signal) => scope.extendLease(r.key, r.token, r.ttlMs, signal),
      how,
    );
    this.releaseLeaseOp = calls.operation<boolean, LeaseRequest>(
      'release_lease',
      (r, signal) => scope.releaseLease(r.key, r.token, signal),
      how,
    );
  }

  /** `'healthy'`, or `'degraded'` while calls take the `onStoreError` answer without waiting. */
  get status(): StoreStatus {
    return this.calls.status;
  }

  /** Subscribes to status changes (core's one `StoreStatusChange` shape); returns the disposer. */
  onStatusChange(listener: StoreStatusListener): Disposer {
    return this.calls.onStatusChange(listener);
  }

  /** The record of `key`: the L2 hit path (one store round trip, no allocation of ours beyond StoreOp's). */
  get(key: string): Promise<StoredRecord | undefined> {
    return promised(this.getOp.run(key));
  }

  /** Writes a record (see `CacheScope.set`). */
  set(key: string, write: RecordWrite): Promise<WriteResult> {
    return promised(this.setOp.run({ key, write }));
  }

  /** Deletes a record; resolves with the key's new version. */
  delete(key: string, origin: string): Promise<number> {
    return promised(this.deleteOp.run({ key, origin }));
  }

  /** The current version of each tag. */
  getTagVersions(tags: readonly string[]): Promise<number[]> {
    return promised(this.getTagVersionsOp.run(tags));
  }

  /** Bumps each tag's version (`invalidateTags`); resolves with the new versions. */
  bumpTags(tags: readonly string[], origin: string): Promise<number[]> {
    return promised(this.bumpTagsOp.run({ tags, origin }));
  }

  /** Takes the fleet lease of `key`, unless another holder has it or the version moved. */
  acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
  ): Promise<LeaseResult> {
    return promised(this.acquireLeaseOp.run({ key, token, ttlMs, seenVersion }));
  }

  /** Releases the lease if it still holds `token`. */
  releaseLease(key: string, token: string): Promise<boolean> {
    return promised(this.releaseLeaseOp.run({ key, token, ttlMs: 0, seenVersion: 0 }));
  }

  /** Extends the lease of a running load if it still holds `token`. */
  extendLease(key: string, token: string, ttlMs: number): Promise<boolean> {
    return promised(this.extendLeaseOp.run({ key, token, ttlMs, seenVersion: 0 }));
  }

  /** Subscribes to the bus, if the store has one. */
  subscribe(listener: InvalidationListener): (() => void) | undefined {
    return this.scope.subscribe?.(listener);
  }

  /**
   * Stops the background probe and waits for the operations in flight, each of which ends by its
   * deadline at the latest: never longer than one deadline, whatever the store does.
   */
  close(): Promise<void> {
    return this.calls.close();
  }
}
