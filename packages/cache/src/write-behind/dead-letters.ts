/**
 * The dead letters of one write-behind: listed with their values decoded, replayed through
 * `persist` (and deleted once persisted), or deleted. Listing and deleting are queue operations
 * on the store call path: bounded by the store deadline, rejected at once while the queue is
 * degraded.
 */
import { describeValue, expectInteger, expectObject } from '@breakwater/core';
import type { CacheCodec } from '../codec.js';
import { describeError } from './errors.js';
import { decodePayload } from './payload.js';
import type { Persister } from './persister.js';
import type { DeadLetter } from './queue.js';
import type { QueueCalls } from './queue-calls.js';

/** A dead letter with its value decoded. */
export interface DeadLetterRecord<T> extends DeadLetter {
  /** The decoded value; `undefined` when it could not be decoded (see `decodeError`). */
  readonly value: T | undefined;
  /** Why the payload could not be decoded, if it could not. */
  readonly decodeError?: string | undefined;
}

/** The outcome of {@link DeadLetterOperations.replay}. */
export interface ReplayResult {
  /** Ids of dead letters persisted and deleted. */
  readonly replayed: readonly string[];
  /** Dead letters that failed again (kept), with the error. */
  readonly failed: readonly { readonly id: string; readonly error: unknown }[];
}

/** Operations on the entries that failed `maxAttempts` times. */
export interface DeadLetterOperations<T> {
  /**
   * Dead letters, oldest first. @param options.limit at most this many (default 100)
   * @throws a `StoreError` when the queue fails, misses the deadline or is degraded.
   */
  list(options?: {
    limit?: number | undefined;
    after?: string | undefined;
  }): Promise<DeadLetterRecord<T>[]>;
  /**
   * Persists dead letters through `persist` (the newest version per key, together; one by one
   * if that fails) and deletes those that succeeded.
   * @throws a `StoreError` when deleting the replayed letters fails: they stay, and a later
   *   replay persists them again (persist is idempotent by version).
   */
  replay(letters: readonly DeadLetterRecord<T>[]): Promise<ReplayResult>;
  /**
   * Deletes dead letters; returns how many existed.
   * @throws a `StoreError` when the queue fails, misses the deadline or is degraded.
   */
  delete(ids: readonly string[]): Promise<number>;
}

/** The dead-letter operations of one write-behind. */
export class DeadLetters<T> {
  constructor(
    private readonly queue: QueueCalls,
    private readonly codec: CacheCodec,
    private readonly persister: Persister<T>,
  ) {}

  async list(options?: {
    limit?: number | undefined;
    after?: string | undefined;
  }): Promise<DeadLetterRecord<T>[]> {
    if (options !== undefined) expectObject('options', options);
    const limit = expectInteger('limit', options?.limit ?? 100);
    const after = options?.after;
    if (after !== undefined && typeof after !== 'string') {
      throw new TypeError(
        `Expected \`after\` to be a dead letter's id, got ${describeValue(after)}`,
      );
    }
    const letters = await this.queue.listDeadLetters.run({ limit, after });
    // The queue's answer to an id it cannot have given: the caller's mistake.
    if (letters instanceof RangeError) throw letters;
    return letters.map((letter) => {
      try {
        return { ...letter, value: decodePayload(this.codec, letter.payload) as T };
      } catch (error) {
        return { ...letter, value: undefined, decodeError: describeError(error) };
      }
    });
  }

  async replay(letters: readonly DeadLetterRecord<T>[]): Promise<ReplayResult> {
    if (!Array.isArray(letters)) {
      throw new TypeError(
        'Expected `letters` to be an array of dead letters from deadLetters.list()',
      );
    }
    const replayed: string[] = [];
    const failed: { id: string; error: unknown }[] = [];
    // The newest version per key is what the database should end with; older ones ride along.
    const byKey = new Map<string, DeadLetterRecord<T>[]>();
    for (const letter of letters) {
      if (letter.decodeError !== undefined) {
        failed.push({ id: letter.id, error: new TypeError(letter.decodeError) });
        continue;
      }
      const list = byKey.get(letter.key) ?? [];
      list.push(letter);
      byKey.set(letter.key, list);
    }
    const groups = [...byKey.values()].map((list) =>
      list.reduce((a, b) => (b.version > a.version ? b : a)),
    );
    const persistOne = (chunk: readonly DeadLetterRecord<T>[]): Promise<unknown> =>
      this.persister.run(
        chunk.map((l) => ({ key: l.key, value: l.value as T, version: l.version })),
        1,
      );
    const done = (letter: DeadLetterRecord<T>) => {
      for (const l of byKey.get(letter.key) ?? []) replayed.push(l.id);
    };
    if (groups.length > 0 && (await persistOne(groups)) === undefined) groups.forEach(done);
    else {
      for (const letter of groups) {
        const error = await persistOne([letter]);
        if (error === undefined) done(letter);
        else for (const l of byKey.get(letter.key) ?? []) failed.push({ id: l.id, error });
      }
    }
    if (replayed.length > 0) await this.queue.deleteDeadLetters.run(replayed);
    return { replayed, failed };
  }

  async delete(ids: readonly string[]): Promise<number> {
    if (!Array.isArray(ids)) {
      throw new TypeError(
        `Expected \`ids\` to be an array of dead-letter ids, got ${describeValue(ids)}`,
      );
    }
    return this.queue.deleteDeadLetters.run(ids);
  }
}
