/**
 * One call of the user's `persist`, under `persistTimeoutMs` (its signal aborts with a
 * `TimeoutError`), timed and counted. Flushes and dead-letter replays both go through it.
 */
import { raceAbort, TimeoutError } from '@breakwater/core';
import type { PersistEntry, ResolvedWriteBehindOptions } from './options.js';
import type { WriteBehindTelemetry } from './telemetry.js';

/** Runs `persist` for one write-behind. */
export class Persister<T> {
  constructor(
    private readonly o: ResolvedWriteBehindOptions<T>,
    private readonly telemetry: WriteBehindTelemetry,
  ) {}

  /** Calls `persist` once and records it; resolves with its error, if any. */
  async run(entries: readonly PersistEntry<T>[], attempt: number): Promise<unknown> {
    const controller = new AbortController();
    const timeoutMs = this.o.persistTimeoutMs;
    const timer = setTimeout(
      () =>
        controller.abort(
          new TimeoutError(
            `persist of write-behind "${this.o.name}" took longer than ${timeoutMs} ms`,
            { policyName: this.o.name, timeoutMs },
          ),
        ),
      timeoutMs,
    );
    const started = performance.now();
    try {
      const context = { signal: controller.signal, attempt };
      await raceAbort(
        Promise.resolve().then(() => this.o.persist(entries, context)),
        controller.signal,
      );
      this.telemetry.persist((performance.now() - started) / 1000, entries.length, 'success');
      return undefined;
    } catch (error) {
      this.telemetry.persist((performance.now() - started) / 1000, entries.length, 'failure');
      return error ?? new Error('persist rejected without a reason');
    } finally {
      clearTimeout(timer);
    }
  }
}
