/**
 * A spy on `process.emitWarning` for every test of the calling file (or `describe` block): the
 * warnings Breakwater emits (unknown options, listener errors) are recorded instead of printed.
 */
import { afterEach, beforeEach, type MockInstance, vi } from 'vitest';

/** What {@link spyOnProcessWarnings} gives a test file. */
export interface ProcessWarnings {
  /** The spy standing in for `process.emitWarning` in the running test. */
  readonly spy: MockInstance<typeof process.emitWarning>;
  /** The messages emitted so far in the running test, in order. */
  messages(): string[];
}

/**
 * Replaces `process.emitWarning` with a silent spy before each test and restores it after. Call
 * it at the top level of a test file (or inside a `describe`).
 */
export function spyOnProcessWarnings(): ProcessWarnings {
  let current: MockInstance<typeof process.emitWarning> | undefined;
  beforeEach(() => {
    current = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  });
  afterEach(() => {
    current?.mockRestore();
    current = undefined;
  });
  const spy = (): MockInstance<typeof process.emitWarning> => {
    if (current === undefined) throw new Error('spyOnProcessWarnings(): read outside a test');
    return current;
  };
  return {
    get spy() {
      return spy();
    },
    messages: () => spy().mock.calls.map(([message]) => String(message)),
  };
}
