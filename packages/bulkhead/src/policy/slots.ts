/**
 * The local slot accounting of a bulkhead: running counters per priority class and per key, kept
 * so that every admission check is O(1). The rule is the one in `admission.ts`: a class uses its
 * reserved slots first, then borrows idle shared slots up to its `max`.
 */
import type { Attributes } from '@opentelemetry/api';
import type { PerKeyCapError } from '../errors.js';
import type { ResolvedClass, ResolvedOptions, ResolvedPerKey } from '../options.js';
import { keyCap } from './key-cap.js';
import { type HeapEntry, WaiterHeap } from './waiter-heap.js';

/** Where a {@link Waiter} is. */
export type WaiterState = 'ready' | 'parked' | 'left';

/** A call waiting for a slot. */
export interface Waiter extends HeapEntry {
  readonly cls: ClassSlots;
  readonly keySlots: KeySlots | undefined;
  /** When it was queued (clock ms), for the wait-duration histogram. */
  readonly enqueuedAt: number;
  /** Whether it was counted in the `queued` up-down counter (an SDK recorded when it queued). */
  readonly recorded: boolean;
  /**
   * Where it waits: `'ready'` in its class heap (only a class slot is missing), `'parked'` behind
   * its key's cap (in `keySlots.parked`), `'left'` once it started or was rejected.
   */
  state: WaiterState;
  /** Hands the slot to the call; called once, after the waiter left every queue. */
  start(): void;
  /** Rejects the call; called once, after the waiter left every queue. */
  fail(error: unknown): void;
}

/** Counters and queue of one priority class. */
export interface ClassSlots {
  readonly spec: ResolvedClass;
  /** `spec.reserved` and `spec.max`, copied here to save a load on the hot path. */
  readonly reserved: number;
  readonly max: number;
  readonly attributes: Attributes;
  /** Calls of this class holding a slot. */
  active: number;
  /** Calls of this class waiting (in the heap or parked behind a key cap). */
  queued: number;
  /** Waiters that only need a class slot, in service order. */
  readonly ready: WaiterHeap<Waiter>;
}

/** Counters of one key; exists only while the key has calls running or waiting. */
export interface KeySlots {
  readonly key: string;
  /** The key's cap: `perKey.maxConcurrent`, or its function's answer when the key was tracked. */
  readonly cap: number;
  /** Calls of this key holding a slot. */
  active: number;
  /** Calls of this key in a class heap: they count against the key's cap already. */
  ready: number;
  /** Calls of this key waiting (ready or parked). */
  queued: number;
  /** Calls of this key held back by its cap, in arrival order; made when the first one is. */
  parked: Waiter[] | undefined;
}

/**
 * The per-key counters of a bulkhead with `perKey`: a key is tracked while it has calls, and so is
 * its cap (a function's answer is kept no longer than that: no map grows with the keys seen).
 */
export class KeyTable {
  private readonly keys = new Map<string, KeySlots>();

  /** Number of keys tracked now. */
  get size(): number {
    return this.keys.size;
  }

  /**
   * The counters of `key`, made on first use with its cap: `perKey.maxConcurrent`, or the answer
   * of its function (asked only then), or the error to reject the call with when it has none.
   */
  slots(key: string, perKey: ResolvedPerKey, policyName: string): KeySlots | PerKeyCapError {
    const tracked = this.keys.get(key);
    if (tracked !== undefined) return tracked;
    const cap =
      perKey.capOf === undefined ? perKey.maxConcurrent! : keyCap(policyName, perKey.capOf, key);
    if (typeof cap !== 'number') return cap;
    const slots: KeySlots = { key, cap, active: 0, ready: 0, queued: 0, parked: undefined };
    this.keys.set(key, slots);
    return slots;
  }

  /** Drops a key with nothing running or waiting, so the tracked keys stay bounded. */
  forgetIfIdle(keySlots: KeySlots): void {
    if (keySlots.active === 0 && keySlots.queued === 0) this.keys.delete(keySlots.key);
  }
}

/** Whether a call of the key of `keySlots` (none: a call without key) may take a slot now. */
export function keyHasRoom(keySlots: KeySlots | undefined): boolean {
  return keySlots === undefined || keySlots.active + keySlots.ready < keySlots.cap;
}

/** Builds the per-class state. */
export function createClassSlots(
  spec: ResolvedClass,
  attributes: Attributes,
  newestFirst: boolean,
): ClassSlots {
  return {
    spec,
    reserved: spec.reserved,
    max: spec.max,
    attributes,
    active: 0,
    queued: 0,
    ready: new WaiterHeap<Waiter>(newestFirst),
  };
}

/**
 * The only class of a bulkhead whose configuration allows the simplest hot path (see
 * `BulkheadPolicy.execute`): one class, nothing reserved and no cap of its own, no store, no
 * adaptive limit, no per-key caps, no telemetry SDK seen when it was built; else `undefined`.
 */
export function fastPathClass(
  classes: readonly ClassSlots[],
  options: Pick<ResolvedOptions, 'store' | 'limit' | 'perKey'>,
  sdkSeen: boolean,
): ClassSlots | undefined {
  const only = classes.length === 1 ? classes[0]! : undefined;
  return only !== undefined &&
    only.reserved === 0 &&
    only.max === Number.POSITIVE_INFINITY &&
    options.store === undefined &&
    options.limit === undefined &&
    options.perKey === undefined &&
    !sdkSeen
    ? only
    : undefined;
}
