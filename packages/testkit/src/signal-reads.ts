/**
 * Counts how many `AbortSignal`s were read from `AbortController`s: on Node 20 the first read of
 * a controller's `signal` costs microseconds, which the policies' lazy contexts exist to avoid,
 * so a test can check that a path creates none.
 */

/** The count, and the way back to the real `AbortController`. */
export interface SignalReads {
  /** Signals read since {@link countSignalReads}. */
  readonly count: number;
  /** Puts the real `AbortController` back. Idempotent. */
  restore(): void;
}

/**
 * Replaces `globalThis.AbortController` with a subclass that counts the reads of `signal`, until
 * `restore()` (call it in `afterEach`). Controllers made before the call are not counted.
 *
 * @example
 * let reads: SignalReads | undefined;
 * afterEach(() => reads?.restore());
 * it('creates no signal', async () => {
 *   reads = countSignalReads();
 *   await pipeline(timeout({ ms: 1_000 }), policy).execute(() => 1);
 *   expect(reads.count).toBe(0);
 * });
 */
export function countSignalReads(): SignalReads {
  const real = globalThis.AbortController;
  let count = 0;
  globalThis.AbortController = class extends real {
    override get signal(): AbortSignal {
      count++;
      return super.signal;
    }
  };
  return {
    get count() {
      return count;
    },
    restore() {
      globalThis.AbortController = real;
    },
  };
}
