import { setImmediate as realSetImmediate } from 'node:timers';

/**
 * The signal `@breakwater/core` hands to calls given none (it keeps it on `globalThis` under this
 * symbol; testkit does not import core). It can never abort, so nothing should listen to it.
 */
function neverAbortedSignal(): AbortSignal | undefined {
  return (globalThis as { [key: symbol]: AbortSignal | undefined })[
    Symbol.for('@breakwater/core/never-aborted-signal')
  ];
}

/**
 * A clock whose time moves only when a test says so. Structurally a `Clock` of
 * `@breakwater/core`, so policies accept it as their `clock` option.
 */
export interface FakeClock {
  /** The fake wall-clock time in epoch milliseconds. */
  now(): number;
  /**
   * Resolves once the clock has been advanced by `ms` (never earlier); rejects with
   * `signal.reason` when `signal` aborts first, leaving no listener behind. `ms <= 0` resolves at
   * once.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Moves time forward by `ms`, resolving the sleeps that fall due in deadline order (ties in the
   * order they were scheduled), and lets pending callbacks run after each one, so code that
   * schedules its next sleep in reaction (a retry loop) sees it fire within the same advance when
   * it is due. Resolves once time has reached the target and callbacks have settled. Concurrent
   * calls run one after another.
   */
  advance(ms: number): Promise<void>;
  /**
   * Sets the wall clock ({@link now}) to `epochMs`, like an NTP correction: pending sleeps keep
   * their remaining duration (as real timers do), so nothing fires and nothing is delayed.
   */
  set(epochMs: number): void;
  /** How many sleeps are waiting (not yet resolved or aborted). */
  readonly pendingSleeps: number;
}

interface Sleeper {
  /** Monotonic time at which the sleep is due. */
  due: number;
  /** Tie-breaker: scheduling order. */
  seq: number;
  resolve(): void;
  /** Removes the abort listener. */
  detach(): void;
}

/**
 * Lets every queued microtask, and the microtasks they queue, run: a macrotask boundary comes only
 * after the microtask queue is empty. Uses the real `setImmediate`, captured at load time, so it
 * also works under `vi.useFakeTimers()`.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

/**
 * A fake {@link FakeClock} starting at `start` epoch ms. Time stands still until
 * {@link FakeClock.advance}; sleeps never resolve early.
 */
export function fakeClock(start = 0): FakeClock {
  if (!Number.isFinite(start))
    throw new RangeError(`Expected \`start\` to be finite, got ${start}`);
  // Sleeps run on a monotonic timeline; now() is that plus an offset that set() adjusts.
  let monotonic = 0;
  let wallOffset = start;
  let nextSeq = 0;
  const sleepers = new Set<Sleeper>();
  let queue: Promise<void> = Promise.resolve();

  const nextDue = (limit: number): Sleeper | undefined => {
    let best: Sleeper | undefined;
    for (const sleeper of sleepers) {
      if (sleeper.due > limit) continue;
      if (
        best === undefined ||
        sleeper.due < best.due ||
        (sleeper.due === best.due && sleeper.seq < best.seq)
      ) {
        best = sleeper;
      }
    }
    return best;
  };

  const runAdvance = async (ms: number): Promise<void> => {
    const target = monotonic + ms;
    await settle();
    for (let sleeper = nextDue(target); sleeper !== undefined; sleeper = nextDue(target)) {
      monotonic = Math.max(monotonic, sleeper.due);
      sleepers.delete(sleeper);
      sleeper.detach();
      sleeper.resolve();
      await settle();
    }
    monotonic = target;
    await settle();
  };

  return {
    now: () => wallOffset + monotonic,

    sleep(ms: number, given?: AbortSignal): Promise<void> {
      // Like core's systemClock: no listener on core's shared never-aborted signal.
      const signal = given === neverAbortedSignal() ? undefined : given;
      if (Number.isNaN(ms))
        return Promise.reject(new RangeError('Expected `ms` to be a number, got NaN'));
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (ms <= 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const sleeper: Sleeper = {
          due: monotonic + ms,
          seq: nextSeq++,
          resolve,
          detach: () => signal?.removeEventListener('abort', onAbort),
        };
        function onAbort(): void {
          sleepers.delete(sleeper);
          sleeper.detach();
          reject(signal?.reason);
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        sleepers.add(sleeper);
      });
    },

    advance(ms: number): Promise<void> {
      if (!(ms >= 0) || !Number.isFinite(ms)) {
        return Promise.reject(
          new RangeError(`Expected \`ms\` to be a finite number >= 0, got ${ms}`),
        );
      }
      const run = queue.then(() => runAdvance(ms));
      queue = run.catch(() => undefined);
      return run;
    },

    set(epochMs: number): void {
      if (!Number.isFinite(epochMs)) {
        throw new RangeError(`Expected \`epochMs\` to be finite, got ${epochMs}`);
      }
      wallOffset = epochMs - monotonic;
    },

    get pendingSleeps() {
      return sleepers.size;
    },
  };
}
