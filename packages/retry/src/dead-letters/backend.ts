/**
 * What a dead-letter store provides to the one queue logic (queue.ts): thin, per-stream, atomic
 * operations on stored entries. The Redis and DynamoDB backends run each through core's store
 * call path, so each is bounded by the store deadline; the memory backend answers at once.
 */
import type { Disposer, StoreStatus, StoreStatusListener } from '@breakwater/core';
import type { EntryFields, StoredDeadLetter } from './entry-fields.js';

/** A claim on an entry: the entry, or why there is none. */
export type ClaimResult = StoredDeadLetter | 'claimed' | 'missing';

/** The per-stream operations of a dead-letter store. Ids are ids within the stream. */
export interface DeadLetterBackend {
  /** Writes an entry at the end of `stream` (registering the stream); resolves its id. */
  append(stream: string, fields: EntryFields): Promise<string>;
  /** Up to `count` entries after `after` (exclusive; from the start without it), oldest first. */
  page(
    stream: string,
    after: string | undefined,
    count: number,
    signal?: AbortSignal,
  ): Promise<StoredDeadLetter[]>;
  /** The id of the newest entry, or `undefined` when the stream is empty. */
  last(stream: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Orders two ids of one stream: negative when `a` is older. */
  compare(a: string, b: string): number;
  /** Whether `id` has the shape of an id of this store (validated before any store call). */
  isId(id: string): boolean;
  /** One entry. */
  get(stream: string, id: string): Promise<StoredDeadLetter | undefined>;
  /** Takes the entry for `leaseMs` under `token`, unless it is missing or held by another. */
  claim(stream: string, id: string, token: string, leaseMs: number): Promise<ClaimResult>;
  /** Removes the entry if `token` still holds it. */
  complete(stream: string, id: string, token: string): Promise<void>;
  /** Releases the claim of `token`, counting a failed replay and recording its error (JSON). */
  release(stream: string, id: string, token: string, errorJson: string): Promise<void>;
  /** Removes an entry; resolves whether it existed. */
  remove(stream: string, id: string): Promise<boolean>;
  /** How many entries the stream holds. */
  size(stream: string): Promise<number>;
  /** Drops the oldest entries beyond `maxEntries`; resolves how many. */
  trim(stream: string, maxEntries: number): Promise<number>;
  /** Whether an entry was ever appended to the stream. */
  hasStream(stream: string): Promise<boolean>;
  /** Every stream, sorted. */
  streams(): Promise<string[]>;
  /** The store's status (`'healthy'` for memory). */
  readonly status: StoreStatus;
  /** Status change subscription. */
  onStatusChange(listener: StoreStatusListener): Disposer;
  /** Stops background work; bounded by the store deadline. */
  close(): Promise<void>;
}
