/**
 * How a {@link RetryFailure} is written to, and read back from, a dead-letter queue: flat string
 * fields, with the error reduced to the parts that survive serialisation and `input` / `result`
 * passed through a codec (JSON by default). A codec that throws becomes a `DeadLetterCodecError`.
 */
import {
  type DeadLetterCodec,
  type DeadLetterEntry,
  type SerializedError,
  serializeError,
} from '../dead-letter-entry.js';
import { DeadLetterCodecError } from '../errors.js';
import type { GiveUpReason, RetryFailure } from '../events.js';

/** A failure as flat string fields, the way every queue stores it. */
export type EntryFields = Readonly<Record<string, string>>;

/** An entry as a backend holds it: its id in its stream, its fields and its replay record. */
export interface StoredDeadLetter {
  /** The id within the stream. */
  readonly id: string;
  /** The failure's fields ({@link failureToFields}). */
  readonly fields: EntryFields;
  /** Failed replays so far. */
  readonly replays: number;
  /** The last replay error as JSON (`serializeError`), or `''`. */
  readonly lastReplayError: string;
}

function encode(codec: DeadLetterCodec, field: 'input' | 'result', value: unknown): string {
  let text: unknown;
  try {
    text = codec.encode(value);
  } catch (error) {
    throw new DeadLetterCodecError(field, 'encode', error);
  }
  if (typeof text !== 'string') {
    throw new DeadLetterCodecError(
      field,
      'encode',
      new TypeError(`Expected codec.encode() to return a string, got ${typeof text}`),
    );
  }
  return text;
}

function decode(codec: DeadLetterCodec, field: 'input' | 'result', text: string): unknown {
  try {
    return codec.decode(text);
  } catch (error) {
    throw new DeadLetterCodecError(field, 'decode', error);
  }
}

/** The fields of a failure; throws a `DeadLetterCodecError` when the codec cannot encode a value. */
export function failureToFields(
  failure: RetryFailure<unknown>,
  codec: DeadLetterCodec,
): Record<string, string> {
  return {
    policy: failure.policyName,
    reason: failure.reason,
    attempts: String(failure.attempts),
    elapsedMs: String(failure.elapsedMs),
    startedAt: String(failure.startedAt),
    ok: failure.ok ? '1' : '0',
    error: failure.ok ? '' : JSON.stringify(serializeError(failure.error)),
    result: failure.ok ? encode(codec, 'result', failure.result) : '',
    input: encode(codec, 'input', failure.input),
  };
}

/** Fields as the flat list `XADD` takes and `XRANGE` returns: name, value, name, value, … */
export function fieldsToList(fields: EntryFields): string[] {
  return Object.entries(fields).flat();
}

/** The inverse of {@link fieldsToList}. */
export function listToFields(list: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i]!] = list[i + 1]!;
  return fields;
}

/** Reads an entry of `stream` back; `replayError` is the last replay error as JSON, or `''`. */
export function toEntry(
  stream: string,
  stored: StoredDeadLetter,
  codec: DeadLetterCodec,
): DeadLetterEntry {
  const text = (name: string) => stored.fields[name] ?? '';
  const ok = text('ok') === '1';
  return {
    id: `${stream}/${stored.id}`,
    stream,
    policyName: text('policy'),
    reason: text('reason') as GiveUpReason,
    attempts: Number(text('attempts')),
    elapsedMs: Number(text('elapsedMs')),
    startedAt: Number(text('startedAt')),
    ok,
    error: ok || text('error') === '' ? undefined : (JSON.parse(text('error')) as SerializedError),
    result: ok ? decode(codec, 'result', text('result')) : undefined,
    input: decode(codec, 'input', text('input')),
    replays: stored.replays,
    lastReplayError:
      stored.lastReplayError === ''
        ? undefined
        : (JSON.parse(stored.lastReplayError) as SerializedError),
  };
}
