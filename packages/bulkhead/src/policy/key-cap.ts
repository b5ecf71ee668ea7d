/**
 * The cap of one key when `perKey.maxConcurrent` is a function of the key: asked when the key
 * starts being tracked, checked like the option itself, and turned into a `PerKeyCapError` naming
 * the key and the option when the function throws or answers anything but an integer >= 1.
 */
import { describeValue } from '@breakwater/core';
import { PerKeyCapError } from '../errors.js';
import type { PerKeyCap } from '../options.js';

const SOURCE = 'perKey.maxConcurrent';

/** Keys are the user's: a very long one is cut in messages. */
function describeKey(key: string): string {
  return JSON.stringify(key.length > 100 ? `${key.slice(0, 97)}...` : key);
}

function describeAnswer(value: unknown): string {
  if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') {
    return 'a promise (the function must return the cap itself, synchronously)';
  }
  return describeValue(value);
}

/** `key`'s cap from `capOf`, or the error to reject the call with. */
export function keyCap(policyName: string, capOf: PerKeyCap, key: string): number | PerKeyCapError {
  let value: unknown;
  try {
    value = capOf(key);
  } catch (error) {
    return new PerKeyCapError(
      `Bulkhead "${policyName}": \`${SOURCE}\` threw for key ${describeKey(key)}: ${error instanceof Error ? error.message : describeValue(error)}`,
      { policyName, key, source: SOURCE, value: undefined, cause: error },
    );
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value;
  return new PerKeyCapError(
    `Bulkhead "${policyName}": expected \`${SOURCE}\` to return an integer >= 1 for key ${describeKey(key)}, got ${describeAnswer(value)}`,
    { policyName, key, source: SOURCE, value },
  );
}
