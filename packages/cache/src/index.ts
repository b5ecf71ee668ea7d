export {
  type Cache,
  type CacheStoreStatus,
  cache,
  type PersistContext,
  type WrapOptions,
  type WriteOptions,
} from './cache.js';
export { type CacheCodec, DEFAULT_CODEC_ID, defaultCodec } from './codec.js';
export { CacheCodecError, type CacheCodecErrorOptions, isCacheCodecError } from './errors.js';
export type { Loader, LoaderContext } from './loader-run.js';
export {
  CACHE_DEFAULTS,
  type CacheOptions,
  type CacheStoreErrorMode,
  type FreshnessOptions,
  type GetOrLoadOptions,
  type L1Options,
  type LeaseOptions,
  type LoaderTimeoutOptions,
  type SetOptions,
  type StoreBreakerOptions,
} from './options.js';
export type {
  CacheStore,
  InvalidationListener,
  InvalidationMessage,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  StoreNamespace,
  WriteResult,
} from './store.js';
export { MEMORY_STORE_DEFAULTS, type MemoryStoreOptions, memoryStore } from './stores/memory.js';
export {
  ATTR_INVALIDATION_KIND,
  ATTR_INVALIDATION_SOURCE,
  ATTR_OPERATION,
  ATTR_OUTCOME,
  ATTR_REASON,
  ATTR_RESULT,
  ATTR_TIER,
  EVENT_GRACE,
  EVENT_STORE_DEGRADED,
  EVENT_STORE_RECOVERED,
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
  WriteBehindBacklogError,
  type WriteBehindBacklogErrorOptions,
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
  AppendOptions,
  Backlog,
  DeadLetter,
  FailOutcome,
  QueuedWrite,
  WriteBehindQueue,
  WriteQueueNamespace,
} from './write-behind/queue.js';
export {
  ATTR_WB_OPERATION,
  ATTR_WB_OUTCOME,
  METRIC_WB_BATCH_SIZE,
  METRIC_WB_DEAD_LETTERS,
  METRIC_WB_FLUSHED,
  METRIC_WB_LAG,
  METRIC_WB_PENDING,
  METRIC_WB_PERSIST_DURATION,
  METRIC_WB_QUEUE_ERRORS,
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
