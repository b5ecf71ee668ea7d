/** The hand-made histories of the checker tests (checkers-*.test.ts), numbered in time order. */
import type { FaultEntry } from '../../nemesis/fault-log.js';
import type { HistoryEvent } from '../../nemesis/history.js';

/** Builds a history by hand, numbered in time order. */
export class Builder {
  readonly events: HistoryEvent[] = [];
  #id = 0;
  /** Records `event` with its pid and wall time; a new id unless `event` pairs with one. */
  add(event: Omit<HistoryEvent, 'pid' | 'wall' | 'id'> & { id?: number }): number {
    const id = event.id ?? this.#id++;
    this.events.push({ pid: 1000 + event.process, wall: event.mono, ...event, id });
    return id;
  }
  /** A `limit` call of `process` sent at `at`, answered `tookMs` later: `allowed` by `source`. */
  limit(process: number, at: number, allowed: boolean, source = 'store', tookMs = 1): void {
    const id = this.add({ process, type: 'invoke', f: 'limit', mono: at, value: { cost: 1 } });
    this.add({
      process,
      type: 'ok',
      f: 'limit',
      id,
      mono: at + tookMs,
      value: { allowed, source },
    });
  }
  /** The start or end of a nemesis fault at `at`. */
  fault(at: number, entry: Omit<FaultEntry, 'phase'>, phase: 'start' | 'end'): void {
    this.add({ process: -1, type: 'info', f: 'fault', mono: at, value: { ...entry, phase } });
  }
  /** `replica` acting on the guarded resource for `call` at `at`, under permit `token`. */
  act(at: number, replica: number, call: string, token: number, kind?: string): void {
    const value = kind === undefined ? { replica, call } : { replica, call, kind };
    this.add({ process: -2, type: 'info', f: 'act', mono: at, token, value });
  }
  /** A half-open probe of `replica` acting on the resource from `from` to `to`. */
  probe(replica: number, call: string, from: number, to: number): void {
    this.act(from, replica, call, 0, 'probe-start');
    this.act(to, replica, call, 0, 'probe-end');
  }
  /** A call whose first attempt starts at `at` and that retries `retries` times, 10 ms apart. */
  call(process: number, at: number, retries: number): void {
    const call = this.add({ process, type: 'invoke', f: 'call', mono: at });
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      const start = at + (attempt - 1) * 10;
      this.add({ process, type: 'info', f: 'attempt', mono: start, value: { call, attempt } });
      this.add({
        process,
        type: 'info',
        f: 'attempt-failed',
        mono: start + 2,
        value: { call, attempt },
      });
    }
  }
  /** A cache load of `key` by `replica`, acting on the resource from `from` to `to`. */
  load(
    replica: number,
    call: string,
    key: string,
    from: number,
    to: number,
    status = 'healthy',
    lease = 'acquired',
  ) {
    const value = { replica, call, key, storeStatus: status, lease };
    this.add({
      process: -2,
      type: 'info',
      f: 'act',
      mono: from,
      value: { ...value, kind: 'load-start' },
    });
    this.add({
      process: -2,
      type: 'info',
      f: 'act',
      mono: to,
      value: { ...value, kind: 'load-end' },
    });
  }
  /** A read of `key` by `process` from `at` to `at + 1`, answered with `version` loaded by `from`. */
  read(process: number, key: string, at: number, version: number, from = process): void {
    const id = this.add({ process, type: 'invoke', f: 'read', mono: at, value: { key } });
    this.add({ process, type: 'ok', f: 'read', id, mono: at + 1, value: { key, version, from } });
  }
  /**
   * A lease call of a cache replica, sent at `at` and answered 1 ms later: `acquire` / `extend` of
   * `token`'s lease on `key`, or the load's `set` under it (`ok`: written).
   */
  leaseCall(
    process: number,
    at: number,
    call: 'acquire' | 'extend' | 'set',
    key: string,
    token: string | undefined,
    ok = true,
  ): void {
    const value = { call, key, ...(token === undefined ? {} : { token }), askedAt: at, ok };
    this.add({ process, type: 'info', f: 'lease-call', mono: at + 1, value });
  }
  /** A breaker replica's store call sent at `at`, answered 1 ms later with `state` at `version`. */
  probeCall(
    process: number,
    at: number,
    call: 'acquire' | 'release' | 'view',
    token: string | undefined,
    state: string,
    version: number,
    result?: string,
  ): void {
    const value = {
      call,
      op: call === 'acquire' ? 'acquireProbe' : call === 'release' ? 'releaseProbe' : 'read',
      ...(token === undefined ? {} : { token }),
      ...(result === undefined ? {} : { result }),
      askedAt: at,
      state,
      version,
      generation: 1,
    };
    this.add({ process, type: 'info', f: 'probe-call', mono: at + 1, value });
  }
  /** The nemesis's choice of a pause's target, as scenario.ts records it. */
  pauseTarget(at: number, replica: number, kind: string | undefined): void {
    const value =
      kind === undefined
        ? { replica, holding: false }
        : { replica, holding: true, call: `${1000 + replica}:1`, kind, lease: 'acquired' };
    this.add({ process: -1, type: 'info', f: 'pause-target', mono: at, value });
  }
  /** A replica's own record (`state`, `admitted`, `view`). */
  note(process: number, at: number, f: string, value: Record<string, unknown>): void {
    this.add({ process, type: 'info', f, mono: at, value });
  }
  /** The events in time order, each given its index. */
  done(): HistoryEvent[] {
    const sorted = [...this.events].sort((a, b) => a.mono - b.mono);
    sorted.forEach((event, index) => {
      event.index = index;
    });
    return sorted;
  }
}
