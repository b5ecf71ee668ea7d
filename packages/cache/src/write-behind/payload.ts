/**
 * How a value travels through the queue: `<codec id>\n<encoded value>`, so that a payload written
 * by another codec is refused rather than decoded wrongly.
 */
import type { CacheCodec } from '../codec.js';
import { isCacheCodecError } from '../errors.js';

/** The queue payload of `value`; a codec error names `key`. */
export function encodePayload(codec: CacheCodec, key: string, value: unknown): string {
  try {
    return `${codec.id}\n${codec.encode(value)}`;
  } catch (error) {
    throw isCacheCodecError(error) ? error.withKey(key) : error;
  }
}

/** The value of a queue payload. @throws when another codec wrote it, or it does not decode. */
export function decodePayload(codec: CacheCodec, payload: string): unknown {
  const newline = payload.indexOf('\n');
  const id = newline < 0 ? '' : payload.slice(0, newline);
  if (id !== codec.id) {
    throw new TypeError(
      `The queued value was encoded by codec ${JSON.stringify(id)}, not by ${JSON.stringify(codec.id)}`,
    );
  }
  return codec.decode(payload.slice(newline + 1));
}
