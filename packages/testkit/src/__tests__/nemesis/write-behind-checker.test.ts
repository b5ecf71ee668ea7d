// The write-behind checker on hand-made histories: it catches an acknowledged write the database
// never got, accepts a newer version of the key in its place, and excuses a write lost with the
// store's state only when the bound says so.
import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../nemesis/history.js';
import { checkWritesPersisted } from '../../nemesis/invariants/write-behind.js';

class Builder {
  readonly events: HistoryEvent[] = [];
  #id = 0;
  #add(event: Omit<HistoryEvent, 'pid' | 'wall' | 'id' | 'index'>): void {
    this.events.push({
      pid: 1000 + event.process,
      wall: event.mono,
      id: this.#id++,
      ...event,
      index: this.events.length,
    });
  }
  /** An acknowledged write of `key` at `version`, ending at `at`. */
  write(process: number, at: number, key: string, version: number): this {
    this.#add({ process, type: 'ok', f: 'write', mono: at, value: { key, version } });
    return this;
  }
  /** A row the database received. */
  row(at: number, key: string, version: number): this {
    this.#add({
      process: -2,
      type: 'info',
      f: 'act',
      mono: at,
      value: { replica: 0, call: '1:-1', kind: 'persist', key, version },
    });
    return this;
  }
  loss(at: number, to: number, fault = 'store-crash'): this {
    const entry = { fault, target: 'store', unreachable: true, losesState: true };
    this.#add({
      process: -1,
      type: 'info',
      f: 'fault',
      mono: at,
      value: { ...entry, phase: 'start' },
    });
    this.#add({
      process: -1,
      type: 'info',
      f: 'fault',
      mono: to,
      value: { ...entry, phase: 'end' },
    });
    return this;
  }
}

describe('checkWritesPersisted', () => {
  it('holds when every acknowledged write reached the database at its version or a newer one', () => {
    const history = new Builder()
      .write(0, 10, 'a', 1)
      .write(1, 20, 'b', 5)
      .write(1, 30, 'a', 2)
      .row(40, 'b', 5)
      // Only the newer version of `a` was persisted (the batch kept the newest): enough for both.
      .row(50, 'a', 2).events;
    const result = checkWritesPersisted(history, { excuseStateLoss: false });
    expect(result.violations).toEqual([]);
    expect(result.checked).toBe(3);
  });

  it('catches an acknowledged write whose key the database has only at an older version', () => {
    const history = new Builder()
      .write(0, 10, 'a', 1)
      .row(20, 'a', 1)
      .write(2, 30, 'a', 7)
      .write(2, 40, 'c', 3).events;
    const result = checkWritesPersisted(history, { excuseStateLoss: true });
    expect(result.violations.map((v) => v.message)).toEqual([
      'r2 write of a at version 7 was acknowledged and never reached the database (newest row of a: 1)',
      'r2 write of c at version 3 was acknowledged and never reached the database (newest row of c: none)',
    ]);
    expect(result.worst).toBe(2);
  });

  it('excuses a write lost with the store state only under the bound, and only if acknowledged before the loss', () => {
    const history = new Builder()
      .write(0, 10, 'a', 1) // queued, then the store crashed: lost with its state
      .write(0, 12, 'b', 1)
      .row(15, 'b', 1) // persisted before the crash
      .loss(20, 300)
      .write(1, 400, 'c', 9).events; // acknowledged after the store came back: never excused
    const relaxed = checkWritesPersisted(history, { excuseStateLoss: true });
    expect(relaxed.violations.map((v) => v.message)).toEqual([
      'r1 write of c at version 9 was acknowledged and never reached the database (newest row of c: none)',
    ]);
    expect(relaxed.excused).toEqual({ "lost with the store's state (store-crash)": 1 });
    const strict = checkWritesPersisted(history, { excuseStateLoss: false });
    expect(strict.violations).toHaveLength(2);
    expect(strict.violations[0]!.message).toContain('a store-crash followed it');
    expect(strict.excused).toBeUndefined();
  });
});
