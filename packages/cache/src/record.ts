/**
 * The layout of an entry in an L2 store: one JSON array holding the header (codec id, times,
 * flags, tags) and the value, so an L2 hit costs one store read and one `JSON.parse`:
 *
 *     [codecId, createdAt, freshUntil, staleUntil, graceUntil, loadMs, negative, tags,
 *      tagVersions, format, payload]
 *
 * `format` is the codec's marker when the codec embeds its JSON tree (`toJson`), `S` when
 * `payload` is the string of `codec.encode`, and `N` for a cached "not found".
 */
import type { CacheCodec } from './codec.js';
import type { Entry, EntryMeta } from './entry.js';

/** Why a stored record could not be used. */
export type RecordProblem = 'corrupt' | 'codec_mismatch';

/** The outcome of {@link decodeRecord}. */
export type DecodedRecord =
  | { readonly ok: true; readonly entry: Entry }
  | { readonly ok: false; readonly problem: RecordProblem; readonly error?: unknown };

/** A value ready to be embedded in a record. */
export interface EncodedValue {
  readonly format: string;
  readonly payload: unknown;
}

/** The encoded form of a negative entry. */
export const NEGATIVE: EncodedValue = Object.freeze({ format: 'N', payload: null });

const RECORD_LENGTH = 11;

// JSON has no Infinity; "never" travels as null.
const toJson = (time: number): number | null => (time === Number.POSITIVE_INFINITY ? null : time);
const fromJson = (time: unknown): number =>
  time === null ? Number.POSITIVE_INFINITY : (time as number);

/** Encodes `value` with `codec`, embedding its JSON tree when the codec offers one. */
export function encodeValue(codec: CacheCodec, value: unknown): EncodedValue {
  if (codec.toJson !== undefined) {
    const { format, json } = codec.toJson(value);
    return { format, payload: json };
  }
  return { format: 'S', payload: codec.encode(value) };
}

/** The record string of an entry. */
export function encodeRecord(codecId: string, meta: EntryMeta, value: EncodedValue): string {
  return JSON.stringify([
    codecId,
    meta.createdAt,
    toJson(meta.freshUntil),
    toJson(meta.staleUntil),
    toJson(meta.graceUntil),
    meta.loadMs,
    meta.negative ? 1 : 0,
    meta.tags,
    meta.tagVersions,
    value.format,
    value.payload,
  ]);
}

/**
 * Decodes a record read from a store. Never throws: a record that cannot be read is reported as
 * a problem, which the cache treats as a miss (and overwrites with the next load).
 */
export function decodeRecord(codec: CacheCodec, record: string, version: number): DecodedRecord {
  let parts: unknown[];
  try {
    parts = JSON.parse(record) as unknown[];
    if (!Array.isArray(parts) || parts.length !== RECORD_LENGTH)
      throw new SyntaxError('bad record');
  } catch (error) {
    return { ok: false, problem: 'corrupt', error };
  }
  if (parts[0] !== codec.id) return { ok: false, problem: 'codec_mismatch' };
  const format = parts[9] as string;
  let value: unknown;
  try {
    if (format === 'N') value = undefined;
    else if (format === 'S') value = codec.decode(parts[10] as string);
    else if (codec.fromJson !== undefined) value = codec.fromJson(format, parts[10]);
    else throw new SyntaxError(`codec ${codec.id} cannot read format ${format}`);
  } catch (error) {
    return { ok: false, problem: 'corrupt', error };
  }
  return {
    ok: true,
    entry: {
      value,
      version,
      size: record.length,
      createdAt: parts[1] as number,
      freshUntil: fromJson(parts[2]),
      staleUntil: fromJson(parts[3]),
      graceUntil: fromJson(parts[4]),
      loadMs: parts[5] as number,
      negative: parts[6] === 1,
      tags: parts[7] as string[],
      tagVersions: parts[8] as number[],
    },
  };
}
