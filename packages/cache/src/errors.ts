import { BreakwaterError, type BreakwaterErrorOptions, hasErrorKind } from '@breakwater/core';

/** Options of {@link CacheCodecError}. */
export interface CacheCodecErrorOptions extends BreakwaterErrorOptions {
  /** Where in the value the problem sits, as a property path (`value.items[2].save`). */
  path: string;
  /** Why the value cannot be encoded or decoded. */
  reason: string;
  /** The cache key the value belongs to, when known. */
  key?: string | undefined;
}

/**
 * A value cannot be encoded by the cache's codec (a function, a symbol, a cycle), or a stored
 * payload cannot be decoded. Thrown to the caller of `set`/`write`/`getOrLoad` for encoding
 * problems, since they are bugs in the value; decoding problems are never thrown — the entry is
 * treated as a miss, reported and overwritten.
 */
export class CacheCodecError extends BreakwaterError {
  /** Where in the value the problem sits. */
  readonly path: string;
  /** Why the value cannot be encoded or decoded. */
  readonly reason: string;
  /** The cache key, when known. */
  readonly key: string | undefined;

  constructor(options: CacheCodecErrorOptions) {
    const where = options.key === undefined ? '' : ` of cache key ${JSON.stringify(options.key)}`;
    super(`Cannot encode the value${where}: ${options.reason} at ${options.path}`, options);
    this.brand('CacheCodecError');
    this.path = options.path;
    this.reason = options.reason;
    this.key = options.key;
  }

  /** The same error, naming `key`. */
  withKey(key: string): CacheCodecError {
    return new CacheCodecError({ path: this.path, reason: this.reason, key, cause: this.cause });
  }
}

/** Is `value` a {@link CacheCodecError}? Works across duplicated package copies. */
export const isCacheCodecError = (value: unknown): value is CacheCodecError =>
  hasErrorKind(value, 'CacheCodecError');
