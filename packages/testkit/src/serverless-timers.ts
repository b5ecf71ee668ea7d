import { AsyncLocalStorage } from 'node:async_hooks';

/** One timer a container made that may still fire. */
export interface OwnedTimer {
  /** The real handle. */
  readonly handle: unknown;
  /** `performance.now()` at which it next comes due. */
  due: number;
  /** An interval's period; `undefined` for a one-shot timer. */
  readonly periodMs: number | undefined;
  /** Runs the user's callback. */
  readonly callback: () => void;
}

/**
 * What the timer interception needs to know of a container: whether its process runs, and what
 * to do with a timer callback that comes due while it does not.
 */
export interface TimerOwner {
  /** `'running'` during an invocation (and its init); `'frozen'` between; `'discarded'` forever. */
  readonly state: 'running' | 'frozen' | 'discarded';
  /** The timers this container made that may still fire, by real handle. */
  readonly timers: Map<unknown, OwnedTimer>;
  /** Timers that came due while frozen (an interval's missed ticks coalesce into one). */
  readonly held: Set<OwnedTimer>;
  /** How many callbacks came due while frozen, in all. */
  dueWhileFrozen: number;
}

type Callback = (...args: unknown[]) => void;
type TimerFn = (callback: Callback, ms?: number, ...args: unknown[]) => unknown;
type ClearFn = (handle: unknown) => void;

interface Originals {
  setTimeout: TimerFn;
  setInterval: TimerFn;
  setImmediate: (callback: Callback, ...args: unknown[]) => unknown;
  clearTimeout: ClearFn;
  clearInterval: ClearFn;
  clearImmediate: ClearFn;
}

/** The container whose code is running (propagated through `await`, callbacks and timers). */
export const currentContainer = new AsyncLocalStorage<TimerOwner>();

const owners = new Set<TimerOwner>();
let originals: Originals | undefined;
let installs = 0;

/** Clears a real timer (a Timeout, an interval's or an Immediate) without the interception. */
export function clearRealTimer(handle: unknown): void {
  const real = originals ?? (globalThis as unknown as Originals);
  // An Immediate has no `refresh`; a Timeout has.
  if (typeof (handle as { refresh?: unknown }).refresh === 'function') real.clearTimeout(handle);
  else real.clearImmediate(handle);
}

/**
 * Replaces the global timer functions (once, however many containers ask) with ones that hand a
 * callback of a frozen container to the container instead of running it. Timers made outside any
 * container (test code, dynalite, fixtures) behave exactly as before. Returns the undo.
 */
export function interceptTimers(owner: TimerOwner): () => void {
  owners.add(owner);
  if (installs++ === 0) install();
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    owners.delete(owner);
    if (--installs === 0) uninstall();
  };
}

/**
 * Fires, in the order they come due, the timers of `owner` held while it was frozen and those
 * that would have come due during `jumpedMs` of frozen time the real clock did not see pass: a
 * process thawed after a long freeze finds every such timer overdue.
 */
export function fireOverdue(owner: TimerOwner, jumpedMs: number): void {
  const horizon = performance.now() + jumpedMs;
  const due = new Set(owner.held);
  owner.held.clear();
  for (const timer of owner.timers.values()) if (timer.due <= horizon) due.add(timer);
  for (const timer of [...due].sort((a, b) => a.due - b.due)) {
    if (timer.periodMs === undefined) {
      if (!owner.timers.has(timer.handle)) continue;
      owner.timers.delete(timer.handle);
      clearRealTimer(timer.handle);
    } else {
      if (!owner.timers.has(timer.handle)) continue;
      timer.due = performance.now() + timer.periodMs;
    }
    try {
      timer.callback();
    } catch (error) {
      // As a timer callback that throws would: an uncaught exception, not the invocation's.
      process.nextTick(() => {
        throw error;
      });
    }
  }
}

function install(): void {
  const g = globalThis as unknown as Originals;
  const real: Originals = {
    setTimeout: g.setTimeout,
    setInterval: g.setInterval,
    setImmediate: g.setImmediate,
    clearTimeout: g.clearTimeout,
    clearInterval: g.clearInterval,
    clearImmediate: g.clearImmediate,
  };
  originals = real;
  g.setTimeout = owned(real.setTimeout, false);
  g.setInterval = owned(real.setInterval, true);
  const immediate = owned((callback, _ms, ...args) => real.setImmediate(callback, ...args), false);
  g.setImmediate = ((callback: Callback, ...args: unknown[]) =>
    immediate(callback, 0, ...args)) as Originals['setImmediate'];
  g.clearTimeout = forgetting(real.clearTimeout);
  g.clearInterval = forgetting(real.clearInterval);
  g.clearImmediate = forgetting(real.clearImmediate);
}

function uninstall(): void {
  if (originals === undefined) return;
  Object.assign(globalThis, originals);
  originals = undefined;
}

/** A timer function whose callbacks, when made in a container, obey its state. */
function owned(make: TimerFn, repeats: boolean): TimerFn {
  const timer = (callback: Callback, ms?: number, ...args: unknown[]) => {
    const owner = currentContainer.getStore();
    if (owner === undefined || typeof callback !== 'function') return make(callback, ms, ...args);
    const delay = Math.max(1, Number(ms) || 0);
    let entry: OwnedTimer;
    const run = () => {
      if (!owner.timers.has(entry.handle)) return;
      if (owner.state === 'discarded') return;
      if (owner.state === 'frozen') {
        owner.dueWhileFrozen++;
        owner.held.add(entry);
        return;
      }
      if (repeats) entry.due = performance.now() + delay;
      else owner.timers.delete(entry.handle);
      callback(...args);
    };
    entry = {
      handle: make(run, ms),
      due: performance.now() + delay,
      periodMs: repeats ? delay : undefined,
      callback: () => callback(...args),
    };
    owner.timers.set(entry.handle, entry);
    return entry.handle;
  };
  // Keeps what Node hangs on the originals (`util.promisify.custom`).
  for (const key of Reflect.ownKeys(make)) {
    if (!Object.hasOwn(timer, key)) {
      Object.defineProperty(timer, key, Object.getOwnPropertyDescriptor(make, key)!);
    }
  }
  return timer;
}

function forgetting(clear: ClearFn): ClearFn {
  return (handle: unknown) => {
    for (const owner of owners) {
      const timer = owner.timers.get(handle);
      if (timer === undefined) continue;
      owner.timers.delete(handle);
      owner.held.delete(timer);
    }
    clear(handle);
  };
}
