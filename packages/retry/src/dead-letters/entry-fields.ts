/**
 * How a {@link RetryFailure} is written to, and read back from, a dead-letter queue: flat string
 * fields, with the error reduced to the parts that survive serialisation and `input` / `result`
 * passed through a codec (JSON by default).
 */
import {
  type DeadLetterCodec,
  type DeadLetterEntry,
  type SerializedError,
  serializeError,
} from '../dead-letter-entry.js';
import type { GiveUpReason, RetryFailure } from '../events.js';

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
