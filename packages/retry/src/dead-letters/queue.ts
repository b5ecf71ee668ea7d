/**
 * The dead-letter queue logic, written once against a {@link DeadLetterBackend}: validation, the
 * codec, stream resolution, ids, paging across streams, claimed replays, `replayAll`'s bounded
 * concurrency, and replay telemetry. Stores only provide the backend.
 */
import { randomUUID } from 'node:crypto';
import {
  describeValue,
  expectFunction,
  expectInteger,
  expectNonEmptyString,
  expectPositive,
} from '@breakwater/core';
import { type DeadLetterEntry, jsonCodec, serializeError } from '../dead-letter-entry.js';
import type {
  DeadLetterQueue,
  DeadLetterQueueOptions,
  ReplayAllResult,
} from '../dead-letter-queue.js';
import { UnknownDeadLetterStreamError } from '../errors.js';
import { deadLetterReplayInstruments } from '../telemetry.js';
import type { DeadLetterBackend } from './backend.js';
import { failureToFields, type StoredDeadLetter, toEntry } from './entry-fields.js';

const PAGE = 100;
const DEFAULT_CLAIM_MS = 60_000;

/** The validated common options. */
export interface ResolvedQueueOptions {
  readonly stream: string | undefined;
  readonly codec: NonNullable<DeadLetterQueueOptions['codec']>;
  readonly claimMs: number;
}

/** Validates the options every factory shares, naming the bad option. */
export function resolveQueueOptions(options: DeadLetterQueueOptions): ResolvedQueueOptions {
  const codec = options.codec ?? jsonCodec;
  if (typeof codec !== 'object' || codec === null) {
    throw new TypeError(`Expected \`codec\` to be an object, got ${describeValue(codec)}`);
  }
  expectFunction('codec.encode', codec.encode);
  expectFunction('codec.decode', codec.decode);
  return {
    stream:
      options.stream === undefined ? undefined : expectNonEmptyString('stream', options.stream),
    codec,
    claimMs: expectPositive('claimMs', options.claimMs ?? DEFAULT_CLAIM_MS),
  };
}

/** Splits `<stream>/<id>`; throws a TypeError naming `id` when it has not that shape. */
function parseId(backend: DeadLetterBackend, id: unknown): [stream: string, local: string] {
  const at = typeof id === 'string' ? id.lastIndexOf('/') : -1;
  const local = at > 0 ? (id as string).slice(at + 1) : '';
  if (at <= 0 || !backend.isId(local)) {
    throw new TypeError(
      `Expected \`id\` to be a dead-letter id (<stream>/<id>), got ${describeValue(id)}`,
    );
  }
  return [(id as string).slice(0, at), local];
}

/** Builds the queue over `backend`. */
export function deadLetterQueue(
  backend: DeadLetterBackend,
  options: ResolvedQueueOptions,
): DeadLetterQueue {
  const { codec, claimMs } = options;
  const instruments = deadLetterReplayInstruments();
  const entry = (stream: string, stored: StoredDeadLetter) => toEntry(stream, stored, codec);

  const expectKnown = async (stream: string): Promise<void> => {
    if (!(await backend.hasStream(stream))) throw new UnknownDeadLetterStreamError(stream);
  };
  const streamsOf = async (stream: unknown): Promise<string[]> => {
    if (stream === undefined) return backend.streams();
    const name = expectNonEmptyString('stream', stream);
    await expectKnown(name);
    return [name];
  };

  /**
   * Claims and replays one entry. What `fn` threw comes back as `{ failed }` (the entry released,
   * its count raised); a store failure (claim, release, removal) is thrown.
   */
  const replayClaimed = async (
    stream: string,
    local: string,
    fn: (entry: DeadLetterEntry) => unknown,
  ): Promise<'replayed' | 'skipped' | 'missing' | { failed: unknown }> => {
    const token = randomUUID();
    const claimed = await backend.claim(stream, local, token, claimMs);
    if (claimed === 'missing') return 'missing';
    if (claimed === 'claimed') return 'skipped';
    let policyName = claimed.fields.policy ?? stream;
    try {
      const decoded = entry(stream, claimed);
      policyName = decoded.policyName;
      await fn(decoded);
    } catch (error) {
      instruments.record(policyName, 'replay-failed');
      await backend.release(stream, local, token, JSON.stringify(serializeError(error)));
      return { failed: error };
    }
    // Only now: a crash or store failure before this line leaves the entry to be replayed again
    // (once the claim expires) rather than losing it.
    await backend.complete(stream, local, token);
    instruments.record(policyName, 'replayed');
    return 'replayed';
  };

  const append = async (failure: Parameters<DeadLetterQueue['append']>[0]): Promise<string> => {
    // Encoded before the store is called: a value the codec cannot encode is the caller's error,
    // nothing is written, and the store is not degraded by it.
    const fields = failureToFields(failure, codec);
    const stream = options.stream ?? failure.policyName;
    return `${stream}/${await backend.append(stream, fields)}`;
  };

  const queue: DeadLetterQueue = {
    append,
    async list({ stream, count = PAGE, after } = {}) {
      expectInteger('count', count);
      let streams = await streamsOf(stream);
      let cursor: string | undefined;
      if (after !== undefined) {
        const [afterStream, local] = parseId(backend, after);
        // Streams before the cursor's are done; the cursor's own continues after its entry.
        streams = streams.filter((name) => name >= afterStream);
        if (streams[0] === afterStream) cursor = local;
      }
      const entries: DeadLetterEntry[] = [];
      for (const name of streams) {
        const page = await backend.page(name, cursor, count - entries.length);
        for (const stored of page) entries.push(entry(name, stored));
        cursor = undefined;
        if (entries.length === count) break;
      }
      return entries;
    },
    async get(id) {
      const [stream, local] = parseId(backend, id);
      const stored = await backend.get(stream, local);
      return stored === undefined ? undefined : entry(stream, stored);
    },
    streams: () => backend.streams(),
    async size(stream) {
      let total = 0;
      for (const name of await streamsOf(stream)) total += await backend.size(name);
      return total;
    },
    async replay(id, fn) {
      const [stream, local] = parseId(backend, id);
      expectFunction('fn', fn);
      const outcome = await replayClaimed(stream, local, fn);
      if (outcome === 'missing') await expectKnown(stream);
      if (typeof outcome === 'object') throw outcome.failed;
      return outcome === 'replayed';
    },
    async replayAll(fn, { stream, concurrency = 1, stopOnError = false, signal } = {}) {
      expectFunction('fn', fn);
      const workers = expectInteger('concurrency', concurrency);
      const streams = await streamsOf(stream);
      let replayed = 0;
      let skipped = 0;
      const failed: { id: string; error: unknown }[] = [];
      let stop = false;
      let fatal: { error: unknown } | undefined;

      /** Entries present at the start, stream by stream, a page at a time. */
      async function* pending(): AsyncGenerator<[string, string]> {
        for (const name of streams) {
          // Fix the end first, so entries appended meanwhile (a failed replay dead-lettered again,
          // live traffic) cannot keep the run going forever.
          const end = await backend.last(name, signal);
          if (end === undefined) continue;
          let after: string | undefined;
          for (;;) {
            const page = await backend.page(name, after, PAGE, signal);
            for (const stored of page) {
              if (backend.compare(stored.id, end) > 0) break;
              yield [name, stored.id];
            }
            const lastOfPage = page[page.length - 1];
            if (page.length < PAGE || lastOfPage === undefined) break;
            if (backend.compare(lastOfPage.id, end) >= 0) break;
            after = lastOfPage.id;
          }
        }
      }
      const source = pending();
      // The generator is shared by the workers; one pull at a time keeps pages in order.
      let pulling: Promise<unknown> = Promise.resolve();
      const next = (): Promise<IteratorResult<[string, string]>> => {
        const pulled = pulling.then(() => source.next());
        pulling = pulled.catch(() => {});
        return pulled;
      };
      const worker = async (): Promise<void> => {
        while (!stop && fatal === undefined) {
          if (signal?.aborted) return;
          let item: IteratorResult<[string, string]>;
          try {
            item = await next();
          } catch (error) {
            fatal ??= { error };
            return;
          }
          if (item.done) return;
          const [name, local] = item.value;
          let outcome: Awaited<ReturnType<typeof replayClaimed>>;
          try {
            outcome = await replayClaimed(name, local, fn);
          } catch (error) {
            fatal ??= { error };
            return;
          }
          if (outcome === 'replayed') replayed++;
          else if (typeof outcome === 'object') {
            failed.push({ id: `${name}/${local}`, error: outcome.failed });
            if (stopOnError) stop = true;
          } else skipped++;
        }
      };
      await Promise.all(Array.from({ length: workers }, worker));
      await source.return(undefined);
      if (fatal !== undefined) throw fatal.error;
      signal?.throwIfAborted();
      return { replayed, failed, skipped } satisfies ReplayAllResult;
    },
    async remove(id) {
      const [stream, local] = parseId(backend, id);
      return backend.remove(stream, local);
    },
    async trim(trimOptions) {
      if (typeof trimOptions !== 'object' || trimOptions === null) {
        throw new TypeError(
          `Expected \`options\` to be an object, got ${describeValue(trimOptions)}`,
        );
      }
      const maxEntries = expectInteger('maxEntries', trimOptions.maxEntries, 0);
      let dropped = 0;
      for (const name of await streamsOf(trimOptions.stream)) {
        dropped += await backend.trim(name, maxEntries);
      }
      return dropped;
    },
    get storeStatus() {
      return backend.status;
    },
    onStoreStatusChange: (listener) => backend.onStatusChange(listener),
    close: () => backend.close(),
    [Symbol.asyncDispose]: () => backend.close(),
  };
  return queue;
}
