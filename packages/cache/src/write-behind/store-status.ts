/**
 * The store status of one write-behind — `storeStatus` and `onStoreStatusChange`, in core's one
 * shape — which answers one question: can a `write()` be made durable now? A write needs the queue
 * and, with a cache, the cache's L2 store first (the value is pinned there before it is queued).
 * Each of the two is judged once, by its own store call path: the queue by the write-behind's
 * (`QueueCalls`), the L2 by the cache's. The write-behind is `degraded` while either of them is,
 * and `healthy` once both are; each change of that is one event, carrying the write-behind's name,
 * the pattern `'write-behind'`, and the store and error of the change that caused it.
 *
 * So a shared Redis that goes down degrades a write-behind whichever store its writes reach first,
 * and each store's own probe decides when it is back.
 */
import {
  type Disposer,
  Listeners,
  type StoreError,
  type StoreStatus,
  type StoreStatusChange,
  type StoreStatusListener,
} from '@breakwater/core';
import type { Cache } from '../cache.js';
import { type QueueCalls, WRITE_BEHIND_PATTERN } from './queue-calls.js';

/** The write path's status: the queue's and the cache's, as one. */
export class WritePathStatus {
  /** The change that degraded the queue, while it is degraded. */
  private queueDegraded: StoreStatusChange | undefined;
  /** The change that degraded the cache's L2 store, while it is degraded. */
  private cacheDegraded: StoreStatusChange | undefined;
  private readonly listeners = new Listeners<StoreStatusChange>(
    `${WRITE_BEHIND_PATTERN} onStoreStatusChange`,
  );
  private readonly disposers: Disposer[] = [];

  /**
   * @param policy The write-behind's name.
   * @param cacheStore The kind of the cache's L2 store, as status events name it.
   */
  constructor(
    private readonly policy: string,
    queue: QueueCalls,
    cache: Cache | undefined,
    cacheStore: string | undefined,
  ) {
    this.disposers.push(queue.onStatusChange((change) => this.queueChanged(change)));
    if (cache === undefined) return;
    const store = cacheStore ?? 'none';
    // A cache whose L2 is already degraded when the write-behind is built.
    if (cache.storeStatus === 'degraded') {
      this.cacheDegraded = this.change(store, 'degraded', undefined);
    }
    this.disposers.push(
      cache.onStoreStatusChange((change) =>
        this.cacheChanged(this.change(change.store, change.status, change.error)),
      ),
    );
  }

  /** `'degraded'` while the queue or the cache's L2 store is, else `'healthy'`. */
  get status(): StoreStatus {
    return this.queueDegraded === undefined && this.cacheDegraded === undefined
      ? 'healthy'
      : 'degraded';
  }

  /** Subscribes to changes of {@link status}; returns the disposer. */
  onChange(listener: StoreStatusListener): Disposer {
    return this.listeners.add(listener);
  }

  /** Stops following the queue and the cache, and drops the listeners. */
  dispose(): void {
    for (const dispose of this.disposers.splice(0)) dispose();
    this.listeners.clear();
  }

  private queueChanged(change: StoreStatusChange): void {
    const before = this.status;
    this.queueDegraded = change.status === 'degraded' ? change : undefined;
    if (this.status !== before) this.listeners.emit(change);
  }

  private cacheChanged(change: StoreStatusChange): void {
    const before = this.status;
    this.cacheDegraded = change.status === 'degraded' ? change : undefined;
    if (this.status !== before) this.listeners.emit(change);
  }

  /** A change of the cache's L2 store, as this write-behind reports it. */
  private change(
    store: string,
    status: StoreStatus,
    error: StoreError | undefined,
  ): StoreStatusChange {
    const pattern = WRITE_BEHIND_PATTERN;
    return status === 'degraded'
      ? { policy: this.policy, pattern, store, status, error }
      : { policy: this.policy, pattern, store, status };
  }
}
