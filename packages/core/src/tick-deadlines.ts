/**
 * The deadlines of one `timeout()` policy's calls, without a clock read per call (issue #18).
 *
 * Every call of one policy has the same limit, so calls expire in the order they start: a FIFO
 * list is enough, as in the store layer's {@link DeadlineQueue}. That queue stamps each call with
 * `performance.now()`; this one counts ticks of its own timer instead. A timer ticks every
 * `ms / 32` (at least 1 ms) while a call is in flight; a call lives through as many ticks as
 * cover its limit, so it times out **no earlier than `ms` after it started and at most
 * `ms / 16` later** (1 ms later for limits under 32 ms, where a tick is 1 ms; exactly at `ms` for
 * a call that arms the timer when a tick divides `ms`), plus what a busy event loop delays the
 * ticks: unlike `DeadlineQueue`, which pays one timer's delay per deadline, the delays of the
 * ticks a call lives through add up (a loop lagging 1 ms per tick makes a 1 s limit up to ~32 ms
 * later). A late tick only makes deadlines later, never earlier. Counting ticks also keeps deadlines immune to wall-clock jumps and in step with fake
 * timers.
 *
 * Why: measured on Node 20.20 (2-core VM), `performance.now()` costs about 50 ns, a third of what
 * a cooperative `timeout()` added to a call (+167 ns in the `core/timeout` bench suite, against
 * issue 18's ≤ 150 ns; +86 to +92 ns with this queue, in two runs), and the README pipeline and
 * the five-strategy pipeline paid it once per timeout. The circuit breaker's `timeoutMs`
 * (circuit-breaker's call-timeout.ts) made the same trade for the same reason. A property test
 * (tick-deadlines.test.ts) checks that this queue times out the same calls as `DeadlineQueue`, in
 * the same order, never earlier and at most `ms / 16` later.
 */

/** How many ticks a time limit is split into: a call times out at most two ticks late. */
const TICKS_PER_LIMIT = 32;

/** A call tracked by a {@link TickDeadlineQueue}. */
export interface TickDeadlineEntry {
  /** The tick at which the call runs out of time; set by the queue. */
  expiresAfter: number;
  /** The entry that started before this one, while both are in the queue. */
  older: TickDeadlineEntry | undefined;
  /** The entry that started after this one, while both are in the queue. */
  newer: TickDeadlineEntry | undefined;
  /** Whether the entry is in the queue (neither settled nor expired). */
  linked: boolean;
  /** Called once when the deadline passes before the call settled (already out of the queue). */
  fail(): void;
}

/** The calls of one policy in flight under its limit, oldest first, and the timer that ticks. */
export class TickDeadlineQueue {
  private oldest: TickDeadlineEntry | undefined = undefined;
  private newest: TickDeadlineEntry | undefined = undefined;
  private tickCount = 0;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** How often the timer ticks while calls are in flight. */
  readonly tickMs: number;
  /** Ticks a call lives through when it starts between two ticks. */
  private readonly ticksPerLimit: number;
  /** Ticks a call lives through when it arms the timer (the first tick is a full tick away). */
  private readonly ticksFromArming: number;
  /**
   * The longest a call can live before its deadline passes, in milliseconds after it started (not
   * counting the delays of a busy event loop): `ms` and at most two ticks more.
   */
  readonly latestMs: number;

  /** @param ms The limit of every call, in milliseconds (> 0). */
  constructor(readonly ms: number) {
    this.tickMs = Math.max(1, Math.floor(ms / TICKS_PER_LIMIT));
    this.ticksFromArming = Math.ceil(ms / this.tickMs);
    this.ticksPerLimit = this.ticksFromArming + 1;
    // A call that starts between ticks waits up to one tick for the first one.
    this.latestMs = this.ticksPerLimit * this.tickMs;
  }

  /**
   * How many times the timer has ticked: a call whose `expiresAfter` is at most this has settled
   * or timed out.
   */
  get ticks(): number {
    return this.tickCount;
  }

  /** Puts a call that starts now at the end of the queue. */
  enqueue(entry: TickDeadlineEntry): void {
    if (this.timer === undefined) {
      entry.expiresAfter = this.tickCount + this.ticksFromArming;
      this.arm();
    } else {
      entry.expiresAfter = this.tickCount + this.ticksPerLimit;
    }
    entry.linked = true;
    const newest = this.newest;
    entry.older = newest;
    entry.newer = undefined;
    if (newest === undefined) this.oldest = entry;
    else newest.newer = entry;
    this.newest = entry;
  }

  /**
   * Takes a call that settled out of the queue. Returns `false` when its deadline already passed
   * (its `fail` ran), in which case the caller must treat the outcome as late.
   */
  settle(entry: TickDeadlineEntry): boolean {
    if (!entry.linked) return false;
    this.unlink(entry);
    return true;
  }

  private unlink(entry: TickDeadlineEntry): void {
    entry.linked = false;
    const older = entry.older;
    const newer = entry.newer;
    if (older === undefined) this.oldest = newer;
    else older.newer = newer;
    if (newer === undefined) this.newest = older;
    else newer.older = older;
    entry.older = undefined;
    entry.newer = undefined;
  }

  private arm(): void {
    this.timer = setTimeout(this.tick, this.tickMs);
    // The calls' own work keeps the process alive; their deadlines need not.
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const tick = ++this.tickCount;
    try {
      let entry = this.oldest;
      while (entry !== undefined && entry.expiresAfter <= tick) {
        this.unlink(entry);
        entry.fail();
        entry = this.oldest;
      }
    } finally {
      // An empty queue lets the timer lapse: an idle policy has no timer.
      if (this.oldest !== undefined && this.timer === undefined) this.arm();
    }
  };
}
