/**
 * `@breakwater/cache`: a two-tier cache (in-process L1 over a shared L2) with cache-aside,
 * write-through and write-behind, stampede protection and L1 coherence across replicas. The memory
 * store is built in; the Redis and DynamoDB stores are separate entry points.
 *
 * @module @breakwater/cache
 */
export type { StoreStatus, StoreStatusChange, StoreStatusListener } from '@breakwater/core';
export {
  type Cache,
  cache,
  type PersistContext,
  type WrapOptions,
  type WriteOptions,
} from './cache.js';
export { type CacheCodec, DEFAULT_CODEC_ID, defaultCodec } from './codec.js';
export { CacheCodecError, type CacheCodecErrorOptions, isCacheCodecError } from './errors.js';
export type { Loader, LoaderContext } from './loader-run.js';
export {
  type CacheOptions,
  DEFAULTS,
  type FreshnessOptions,
  type GetOrLoadOptions,
  type L1Options,
  type LeaseOptions,
  type LoaderTimeoutOptions,
  type OnStoreError,
  type SetOptions,
} from './options.js';
export type {
  CacheScope,
  CacheStore,
  InvalidationListener,
  InvalidationMessage,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  WriteResult,
} from './store.js';
export { MEMORY_STORE_DEFAULTS, type MemoryStoreOptions, memoryStore } from './stores/memory.js';
export {
  ATTR_INVALIDATION_KIND,
  ATTR_INVALIDATION_SOURCE,
  ATTR_OUTCOME,
  ATTR_REASON,
  ATTR_RESULT,
  ATTR_TIER,
  EVENT_GRACE,
  EVENT_STORE_STATUS,
  METRIC_INVALIDATIONS,
  METRIC_L1_ENTRIES,
  METRIC_LOADER_DURATION,
  METRIC_REQUESTS,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  METRIC_UNREADABLE,
} from './telemetry.js';
export type {
  DeadLetterOperations,
  DeadLetterRecord,
  ReplayResult,
} from './write-behind/dead-letters.js';
export {
  isWriteBehindBacklogError,
  isWriteBehindReplicationError,
  WriteBehindBacklogError,
  type WriteBehindBacklogErrorOptions,
  WriteBehindReplicationError,
  type WriteBehindReplicationErrorOptions,
} from './write-behind/errors.js';
export {
  type MemoryWriteBehindQueueOptions,
  memoryWriteBehindQueue,
} from './write-behind/memory-queue.js';
export {
  type BacklogMode,
  type PersistContext as WriteBehindPersistContext,
  type PersistEntry,
  type PersistFunction,
  WRITE_BEHIND_DEFAULTS,
  type WriteBehindOptions,
} from './write-behind/options.js';
export type {
  AppendItem,
  AppendOptions,
  AppendOutcome,
  Backlog,
  DeadLetter,
  FailOutcome,
  QueuedWrite,
  WriteBehindQueue,
  WriteQueueContext,
  WriteQueueScope,
} from './write-behind/queue.js';
export {
  ATTR_WB_ENTRIES,
  ATTR_WB_OUTCOME,
  BATCH_SIZE_BUCKETS,
  EVENT_WB_DEAD_LETTER,
  EVENT_WB_FLUSH,
  EVENT_WB_WRITE,
  METRIC_WB_BATCH_SIZE,
  METRIC_WB_DEAD_LETTERS,
  METRIC_WB_FLUSHED,
  METRIC_WB_LAG,
  METRIC_WB_PENDING,
  METRIC_WB_PERSIST_DURATION,
  METRIC_WB_RETRIES,
  METRIC_WB_WRITES,
} from './write-behind/telemetry.js';
export {
  type WriteBehind,
  type WriteBehindCloseOptions,
  type WriteBehindStats,
  type WriteBehindWriteOptions,
  writeBehind,
} from './write-behind/write-behind.js';
