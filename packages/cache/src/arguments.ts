/**
 * Validation of the arguments of cache calls (options are validated in options.ts). Errors name
 * the argument and show the value, like option errors do.
 */
import { expectFunction, expectNonEmptyString } from '@breakwater/core';
import { EMPTY_TAGS } from './entry.js';

/** Throws a `TypeError` unless `key` is a non-empty string. */
export function expectKey(key: unknown): asserts key is string {
  expectNonEmptyString('key', key);
}

/** The error {@link expectKey} throws, as a rejected promise (for promise-returning hot paths). */
export function rejectKey(key: unknown): Promise<never> {
  try {
    expectKey(key);
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.reject(new TypeError('Expected `key` to be a non-empty string'));
}

/** The error `expectFunction` throws for `value`, as a rejected promise. */
export function rejectNotFunction(name: string, value: unknown): Promise<never> {
  try {
    expectFunction(name, value);
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.reject(new TypeError(`Expected \`${name}\` to be a function`));
}

/** The tags of a call, validated and copied (so later changes to the caller's array do not leak in). */
export function expectTags(tags: readonly string[] | undefined): readonly string[] {
  if (tags === undefined) return EMPTY_TAGS.tags;
  if (!Array.isArray(tags)) {
    throw new TypeError(
      `Expected \`tags\` to be an array of non-empty strings, got ${typeof tags}`,
    );
  }
  for (let i = 0; i < tags.length; i++) expectNonEmptyString(`tags[${i}]`, tags[i]);
  return tags.length === 0 ? EMPTY_TAGS.tags : [...tags];
}
