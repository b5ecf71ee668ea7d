/**
 * The in-process dead-letter queue: for a single process and for tests. Bounded: each stream keeps
 * at most `maxEntries` entries, dropping the oldest when an append would exceed it (as Redis's
 * `maxLength` does). Entries are lost when the process exits.
 */
import {
  type Clock,
  expectInteger,
  expectObject,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import type { DeadLetterQueue, DeadLetterQueueOptions } from '../dead-letter-queue.js';
import type { DeadLetterBackend } from '../dead-letters/backend.js';
import type { EntryFields, StoredDeadLetter } from '../dead-letters/entry-fields.js';
import { deadLetterQueue, resolveQueueOptions } from '../dead-letters/queue.js';
import { MEMORY_DEAD_LETTERS_OPTIONS } from '../known-options.js';

/** Options of {@link memoryDeadLetters}. */
export interface MemoryDeadLettersOptions extends DeadLetterQueueOptions {
  /**
   * Entries kept per stream; an append beyond it drops the stream's oldest entry.
   * @default 10000
   */
  maxEntries?: number | undefined;
  /**
   * Time source of replay claims; tests pass a fake clock.
   * @default systemClock
   */
  clock?: Clock | undefined;
}

interface MemoryEntry {
  fields: EntryFields;
  replays: number;
  lastReplayError: string;
  claim: { token: string; until: number } | undefined;
}

/** A stream: entries by sequence number, in insertion (= sequence) order. */
interface MemoryStream {
  next: number;
  entries: Map<number, MemoryEntry>;
}

const ID = /^[1-9]\d{0,15}$/;

/**
 * A bounded in-process {@link DeadLetterQueue}. It answers at once and never fails; its
 * `storeStatus` is always `'healthy'`.
 *
 * @example
 * import { memoryDeadLetters, retry } from '@breakwater/retry';
 * const queue = memoryDeadLetters();
 * const r = retry({ name: 'charge', maxAttempts: 3, deadLetter: queue.append });
 * // later:
 * await queue.replayAll((entry) => charge(entry.input as Order));
 */
export function memoryDeadLetters(options: MemoryDeadLettersOptions = {}): DeadLetterQueue {
  expectObject('options', options);
  warnUnknownOptions('memoryDeadLetters()', options, { known: MEMORY_DEAD_LETTERS_OPTIONS });
  const resolved = resolveQueueOptions(options);
  const maxEntries = expectInteger('maxEntries', options.maxEntries ?? 10_000);
  if (options.clock !== undefined) expectObject('clock', options.clock);
  const clock = options.clock ?? systemClock;
  const streams = new Map<string, MemoryStream>();

  const stored = (id: number, e: MemoryEntry): StoredDeadLetter => ({
    id: String(id),
    fields: e.fields,
    replays: e.replays,
    lastReplayError: e.lastReplayError,
  });
  const find = (stream: string, id: string) => streams.get(stream)?.entries.get(Number(id));
  const dropOldest = (s: MemoryStream, keep: number): number => {
    let dropped = 0;
    for (const id of s.entries.keys()) {
      if (s.entries.size <= keep) break;
      s.entries.delete(id);
      dropped++;
    }
    return dropped;
  };

  const backend: DeadLetterBackend = {
    async append(stream, fields) {
      let s = streams.get(stream);
      if (s === undefined) {
        s = { next: 1, entries: new Map() };
        streams.set(stream, s);
      }
      const id = s.next++;
      s.entries.set(id, { fields, replays: 0, lastReplayError: '', claim: undefined });
      dropOldest(s, maxEntries);
      return String(id);
    },
    async page(stream, after, count) {
      const s = streams.get(stream);
      if (s === undefined) return [];
      const from = after === undefined ? 0 : Number(after);
      const page: StoredDeadLetter[] = [];
      for (const [id, e] of s.entries) {
        if (id <= from) continue;
        page.push(stored(id, e));
        if (page.length === count) break;
      }
      return page;
    },
    async last(stream) {
      const s = streams.get(stream);
      let last: number | undefined;
      for (const id of s?.entries.keys() ?? []) last = id;
      return last === undefined ? undefined : String(last);
    },
    compare: (a, b) => Number(a) - Number(b),
    isId: (id) => ID.test(id),
    async get(stream, id) {
      const e = find(stream, id);
      return e === undefined ? undefined : stored(Number(id), e);
    },
    async claim(stream, id, token, leaseMs) {
      const e = find(stream, id);
      if (e === undefined) return 'missing';
      const now = clock.now();
      if (e.claim !== undefined && e.claim.until > now) return 'claimed';
      e.claim = { token, until: now + leaseMs };
      return stored(Number(id), e);
    },
    async complete(stream, id, token) {
      if (find(stream, id)?.claim?.token === token) streams.get(stream)?.entries.delete(Number(id));
    },
    async release(stream, id, token, errorJson) {
      const e = find(stream, id);
      if (e?.claim?.token !== token) return;
      e.claim = undefined;
      e.replays++;
      e.lastReplayError = errorJson;
    },
    remove: async (stream, id) => streams.get(stream)?.entries.delete(Number(id)) ?? false,
    size: async (stream) => streams.get(stream)?.entries.size ?? 0,
    async trim(stream, keep) {
      const s = streams.get(stream);
      return s === undefined ? 0 : dropOldest(s, keep);
    },
    hasStream: async (stream) => streams.has(stream),
    streams: async () => [...streams.keys()].sort(),
    status: 'healthy',
    // Memory never degrades: nothing to tell.
    onStatusChange: () => () => {},
    close: () => Promise.resolve(),
  };
  return deadLetterQueue(backend, resolved);
}
