/**
 * The in-process store, the default. It answers synchronously, so a breaker on it applies every
 * outcome that could change the state at once (`defaultSyncIntervalMs` 0) and behaves exactly like
 * a classic single-process breaker. Breakers of one process that use the same store and name share one state.
 */
import {
  acquireProbe,
  applyCommand,
  recordBatch,
  releaseProbe,
  seedRecord,
  settle,
} from '../machine.js';
import { type BreakerRecord, freshRecord, viewOf } from '../record.js';
import type {
  BreakerCommand,
  BreakerRules,
  BreakerScope,
  BreakerSeed,
  BreakerStore,
  BreakerView,
  BreakerViewListener,
  OutcomeBatch,
  ProbeAnswer,
  ProbeResult,
} from '../store.js';

/** A store keeping breaker state in this process. */
export interface MemoryBreakerStore extends BreakerStore {
  readonly kind: 'memory';
}

interface Entry {
  record: BreakerRecord;
  readonly listeners: Set<BreakerViewListener>;
}

/**
 * Creates an in-process store. Every breaker gets its own by default; pass one explicitly to let
 * several breakers of one process share state by name.
 *
 * @example
 * const store = memoryStore();
 * const a = circuitBreaker({ name: 'payments', store });
 * const b = circuitBreaker({ name: 'payments', store }); // same state as `a`
 */
export function memoryStore(): MemoryBreakerStore {
  const entries = new Map<string, Entry>();
  const entryFor = (name: string, now: number): Entry => {
    let entry = entries.get(name);
    if (entry === undefined) {
      entry = { record: freshRecord(now), listeners: new Set() };
      entries.set(name, entry);
    }
    return entry;
  };
  // Nothing to close: the store opens no connection and no timer.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'memory',
    defaultSyncIntervalMs: 0,
    scope: (name, rules) => scopeMemory(name, rules, entryFor),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The store scoped to one breaker. Every operation answers synchronously, so the breaker's store
 * call path passes its answers straight through (no promise, no timer).
 */
function scopeMemory(
  name: string,
  rules: BreakerRules,
  entryFor: (name: string, now: number) => Entry,
): BreakerScope {
  // Views go to subscribers synchronously, inside the operation that changed the state, so a
  // breaker sharing the record sees the transition before its next call.
  const answer = (entry: Entry, changed: boolean, now: number): BreakerView => {
    const view = viewOf(entry.record, now);
    if (changed) for (const listener of entry.listeners) listener(view);
    return view;
  };
  return {
    read(now: number): BreakerView {
      const entry = entryFor(name, now);
      return answer(entry, settle(entry.record, rules, now), now);
    },
    record(batch: OutcomeBatch, replica: string, now: number): BreakerView {
      const entry = entryFor(name, now);
      return answer(entry, recordBatch(entry.record, rules, now, batch, replica), now);
    },
    acquireProbe(token: string, now: number): ProbeAnswer {
      const entry = entryFor(name, now);
      const { decision, changed } = acquireProbe(entry.record, rules, now, token);
      return { decision, view: answer(entry, changed, now) };
    },
    releaseProbe(token: string, result: ProbeResult, now: number): BreakerView {
      const entry = entryFor(name, now);
      return answer(entry, releaseProbe(entry.record, rules, now, token, result), now);
    },
    command(command: BreakerCommand, now: number): BreakerView {
      const entry = entryFor(name, now);
      return answer(entry, applyCommand(entry.record, rules, now, command), now);
    },
    seed(seed: BreakerSeed, now: number): BreakerView {
      const existing = entryFor(name, now);
      if (existing.record.ver > 0) return viewOf(existing.record, now);
      seedRecord(existing.record, rules, now, seed);
      return answer(existing, true, now);
    },
    subscribe(listener: BreakerViewListener): () => void {
      const entry = entryFor(name, Date.now());
      // A wrapper per subscription, so disposing one of two identical subscriptions keeps the other.
      const subscription: BreakerViewListener = (view) => listener(view);
      entry.listeners.add(subscription);
      return () => {
        entry.listeners.delete(subscription);
      };
    },
  };
}
