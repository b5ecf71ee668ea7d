/**
 * A dead letter as a queue gives it back ({@link DeadLetterEntry}), the codec `input` and `result`
 * pass through (JSON by default), and the parts of an error that survive serialisation. How an
 * entry is laid out in a queue's flat string fields lives in dead-letters/entry-fields.ts.
 */
import type { GiveUpReason } from './events.js';

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
  /** The entry's id in the queue: `<stream>/<id in the stream>`. */
  readonly id: string;
  /** The stream the entry is in: the policy's name, or the queue's fixed `stream`. */
  readonly stream: string;
  /** How many replays of the entry failed so far. */
  readonly replays: number;
  /** What the last failed replay threw, serialised; `undefined` before any failed replay. */
  readonly lastReplayError: SerializedError | undefined;
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
