/**
 * Store-call deadlines without a timer per call, for the hot paths of the patterns (the cache's L2
 * reads, the rate limiter's decisions). Every call of one policy has the same deadline, so calls
 * expire in the order they started: a FIFO list plus one timer armed for the oldest call is
 * enough. A call that settles in time just unlinks itself (O(1)); the timer, when it fires, fails
 * the calls that are due and re-arms itself for the next oldest, or stops when none is left. A
 * timer left armed for a call that has since settled is not cleared: under steady traffic it fires
 * about once per deadline, whatever the call rate.
 *
 * Deadlines use the real monotonic clock (`performance.now()`), not a policy's injectable clock:
 * they bound how long a caller waits for a socket, which a fake clock cannot speed up.
 */

/** A call tracked by a {@link DeadlineQueue}: its deadline, what to do when it passes, and its links. */
export interface DeadlineEntry {
  /** When the call's deadline passes, in `performance.now()` milliseconds. */
  readonly expiresAt: number;
  /** Called once when the deadline passes before the call settled. */
  readonly fail: () => void;
  /** The entry that started before this one, while both are in the queue. */
  prev: DeadlineEntry | undefined;
  /** The entry that started after this one, while both are in the queue. */
  next: DeadlineEntry | undefined;
  /** Whether the entry is in the queue (tracked, neither settled nor expired). */
  linked: boolean;
}

/**
 * Runs promises under one shared deadline.
 *
 * @example
 * const deadlines = new DeadlineQueue(100);
 * const value = await deadlines.run(client.get(key), () => new StoreTimeoutError(…));
 */
export class DeadlineQueue {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private timer: NodeJS.Timeout | undefined;
  private count = 0;

  /** @param deadlineMs How long every call may take, in milliseconds. */
  constructor(readonly deadlineMs: number) {}

  /** How many calls are tracked (in flight, not yet settled or failed). */
  get size(): number {
    return this.count;
  }

  /**
   * Settles like `promise`, or rejects with `onTimeout()` when the deadline passes first. A late
   * rejection of `promise` is swallowed (the caller has its answer already).
   */
  run<T>(promise: Promise<T>, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const node = this.track(() => reject(onTimeout()));
      promise.then(
        (value) => {
          if (!node.linked) return;
          this.unlink(node);
          resolve(value);
        },
        (error: unknown) => {
          if (!node.linked) return;
          this.unlink(node);
          reject(error);
        },
      );
    });
  }

  /**
   * Starts tracking a call: `fail` runs if the deadline passes before {@link settle} is called.
   * For callers that settle their own promise (saves a wrapper promise per call). `startedAt`
   * (`performance.now()` at the start) saves a clock read when the caller has one.
   */
  track(fail: () => void, startedAt: number = performance.now()): DeadlineEntry {
    const node: DeadlineEntry = {
      expiresAt: startedAt + this.deadlineMs,
      fail,
      prev: undefined,
      next: undefined,
      linked: false,
    };
    this.enqueue(node);
    return node;
  }

  /** When a call starting at `startedAt` (`performance.now()`) is due. */
  expiryOf(startedAt: number): number {
    return startedAt + this.deadlineMs;
  }

  /**
   * Starts tracking a node the caller built, whose `expiresAt` is {@link expiryOf} its start: a
   * call object that is its own node (with `fail` as a method) costs no closure and no node per
   * call. Settle it with {@link settle} like a tracked call.
   */
  enqueue(node: DeadlineEntry): void {
    node.prev = this.tail;
    node.next = undefined;
    node.linked = true;
    this.count++;
    if (this.tail === undefined) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    if (this.timer === undefined) this.arm(this.deadlineMs);
  }

  /**
   * Stops tracking a call that settled. Returns `false` when its deadline already passed (its
   * `fail` ran), in which case the caller must ignore the late result.
   */
  settle(node: DeadlineEntry): boolean {
    if (!node.linked) return false;
    this.unlink(node);
    return true;
  }

  /** Fails every pending call now and stops the timer (used by `close()`). */
  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.head !== undefined) {
      const node = this.head;
      this.unlink(node);
      node.fail();
    }
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(delayMs)));
    // DeadlineEntry store calls keep their own sockets alive; this timer alone must not.
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.head !== undefined && this.head.expiresAt <= now) {
      const node = this.head;
      this.unlink(node);
      node.fail();
    }
    if (this.head !== undefined) this.arm(this.head.expiresAt - now);
  }

  private unlink(node: DeadlineEntry): void {
    node.linked = false;
    this.count--;
    if (node.prev === undefined) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
  }
}
