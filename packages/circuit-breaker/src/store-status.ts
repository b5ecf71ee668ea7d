/**
 * The store status types of the breaker: core's, the same in every pattern (`storeStatus`,
 * `onStoreStatusChange`).
 */
import type { StoreStatusChange } from '@breakwater/core';

export type { StoreStatus, StoreStatusChange } from '@breakwater/core';

/**
 * A change of the store's status, as `onStoreStatusChange` listeners receive it.
 * @deprecated Use `StoreStatusChange` (core's one shape: `{ policy, pattern, store, status, error? }`).
 */
export type StoreStatusEvent = StoreStatusChange;
