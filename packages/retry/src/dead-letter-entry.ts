/**
 * How a {@link RetryFailure} is written to, and read back from, a dead-letter queue: flat string
 * fields, with the error reduced to the parts that survive serialisation and `input` / `result`
 * passed through a codec (JSON by default).
 */
import type { GiveUpReason, RetryFailure } from './events.js';

/** The serialisable parts of an error. */
export interface SerializedError {
  /** `error.name`, or `typeof error` for a thrown non-error. */
  readonly name: string;
  /** `error.message`, or the thrown value as a string. */
  readonly message: string;
  /** `error.code` when it is a string or number (`ECONNRESET`, an HTTP status). */
  readonly code?: string | number;
  /** `error.stack`, when there is one. */
  readonly stack?: string;
}

/** A dead letter as read back from a queue: the failure, with the error serialised. */
export interface DeadLetterEntry {
  /** The entry's id in the queue (a Redis Stream id: `<ms>-<seq>`). */
  readonly id: string;
  /** The retry policy that gave up. */
  readonly policyName: string;
  /** Why it gave up. */
  readonly reason: GiveUpReason;
  /** How many attempts it made. */
  readonly attempts: number;
  /** Milliseconds from the start of the call to the give-up. */
  readonly elapsedMs: number;
  /** When the call started, in epoch milliseconds. */
  readonly startedAt: number;
  /** Whether the last attempt returned a result (retried by `shouldRetry`) rather than an error. */
  readonly ok: boolean;
  /** The last error, serialised; `undefined` when the last attempt returned a result. */
  readonly error: SerializedError | undefined;
  /** The last result, decoded, when the last attempt returned one. */
  readonly result: unknown;
  /** The call's `input`, decoded: what a replay works on. */
  readonly input: unknown;
}

/** Turns `input` and `result` into stored text and back. */
export interface DeadLetterCodec {
  /** Encodes a value; may throw for values it cannot encode (the dead letter then fails). */
  encode(value: unknown): string;
  /** Decodes what `encode` produced. */
  decode(text: string): unknown;
}

/** The default codec: JSON (`undefined` round-trips as `undefined`). */
export const jsonCodec: DeadLetterCodec = {
  encode: (value) => JSON.stringify(value) ?? '',
  decode: (text) => (text === '' ? undefined : JSON.parse(text)),
};

/** Reduces an error (or any thrown value) to its serialisable parts. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...((typeof code === 'string' || typeof code === 'number') && { code }),
      ...(error.stack !== undefined && { stack: error.stack }),
    };
  }
  return { name: typeof error, message: String(error) };
}

/** The flat field list `XADD` takes: name, value, name, value, … */
export function failureToFields(failure: RetryFailure<unknown>, codec: DeadLetterCodec): string[] {
  return [
    'policy',
    failure.policyName,
    'reason',
    failure.reason,
    'attempts',
    String(failure.attempts),
    'elapsedMs',
    String(failure.elapsedMs),
    'startedAt',
    String(failure.startedAt),
    'ok',
    failure.ok ? '1' : '0',
    'error',
    failure.ok ? '' : JSON.stringify(serializeError(failure.error)),
    'result',
    failure.ok ? codec.encode(failure.result) : '',
    'input',
    codec.encode(failure.input),
  ];
}

/** Reads an entry back from the flat field list `XRANGE` returns. */
export function fieldsToEntry(
  id: string,
  fields: readonly string[],
  codec: DeadLetterCodec,
): DeadLetterEntry {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const text = (name: string) => map.get(name) ?? '';
  const ok = text('ok') === '1';
  return {
    id,
    policyName: text('policy'),
    reason: text('reason') as GiveUpReason,
    attempts: Number(text('attempts')),
    elapsedMs: Number(text('elapsedMs')),
    startedAt: Number(text('startedAt')),
    ok,
    error: ok || text('error') === '' ? undefined : (JSON.parse(text('error')) as SerializedError),
    result: ok ? codec.decode(text('result')) : undefined,
    input: codec.decode(text('input')),
  };
}
