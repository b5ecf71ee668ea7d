/**
 * One direction of a proxied TCP connection, shaped by faults: added latency (fixed plus jitter),
 * a bandwidth limit, and dropping (a blackhole). Bytes keep their order whatever the faults: a
 * jittered chunk never overtakes the one before it, as on a real TCP stream.
 */

/** Faults applied to the bytes flowing one way through a fault proxy. */
export interface LinkFaults {
  /** Added delay of every chunk, in ms. @default 0 */
  latencyMs?: number;
  /** Random extra delay of every chunk, uniform in [0, jitterMs), in ms. @default 0 */
  jitterMs?: number;
  /** Throughput limit in bytes per second; `undefined` for none. */
  bytesPerSecond?: number;
  /**
   * Discards every chunk silently, keeping the connection open (a blackhole: the sender learns
   * nothing, the receiver gets nothing). @default false
   */
  drop?: boolean;
}

/** Faults of both directions: `toUpstream` (client → server) and `toDownstream` (server → client). */
export interface ProxyFaults {
  /** Client to server (requests). */
  toUpstream?: LinkFaults;
  /** Server to client (replies). */
  toDownstream?: LinkFaults;
}

function expectNonNegative(name: string, value: number | undefined): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`Expected \`${name}\` to be a finite number >= 0, got ${String(value)}`);
  }
}

/** Throws a RangeError naming the option when a fault's number is negative or not finite. */
export function validateLinkFaults(faults: LinkFaults | undefined, direction: string): void {
  if (faults === undefined) return;
  expectNonNegative(`${direction}.latencyMs`, faults.latencyMs);
  expectNonNegative(`${direction}.jitterMs`, faults.jitterMs);
  if (faults.bytesPerSecond !== undefined) {
    expectNonNegative(`${direction}.bytesPerSecond`, faults.bytesPerSecond);
    if (faults.bytesPerSecond === 0) {
      throw new RangeError(
        `Expected \`${direction}.bytesPerSecond\` to be > 0 (use drop: true for none), got 0`,
      );
    }
  }
}

/** Whether `faults` change nothing. */
function isClean(faults: LinkFaults): boolean {
  return (
    !faults.drop &&
    !faults.latencyMs &&
    !faults.jitterMs &&
    (faults.bytesPerSecond === undefined || faults.bytesPerSecond === Number.POSITIVE_INFINITY)
  );
}

/**
 * Delivers chunks to `sink` after the current faults, in order. `faults()` is read per chunk, so a
 * change applies to the next chunk; chunks already delayed keep their delivery time.
 */
export class ShapedLink {
  readonly #sink: (chunk: Buffer) => void;
  readonly #faults: () => LinkFaults;
  readonly #queue: { chunk: Buffer; at: number }[] = [];
  #timer: NodeJS.Timeout | undefined;
  // When the bandwidth limit's "wire" is free again, and the last scheduled delivery.
  #busyUntil = 0;
  #lastDelivery = 0;
  #closed = false;
  #drained: (() => void)[] = [];

  constructor(sink: (chunk: Buffer) => void, faults: () => LinkFaults) {
    this.#sink = sink;
    this.#faults = faults;
  }

  /** Takes one chunk: drops it, delivers it now, or queues it for later. */
  write(chunk: Buffer): void {
    if (this.#closed) return;
    const faults = this.#faults();
    if (faults.drop) return;
    if (isClean(faults) && this.#queue.length === 0) {
      this.#sink(chunk);
      return;
    }
    const now = performance.now();
    let ready = now;
    if (faults.bytesPerSecond !== undefined && Number.isFinite(faults.bytesPerSecond)) {
      const start = Math.max(now, this.#busyUntil);
      this.#busyUntil = start + (chunk.length * 1000) / faults.bytesPerSecond;
      ready = this.#busyUntil;
    }
    const delay = (faults.latencyMs ?? 0) + Math.random() * (faults.jitterMs ?? 0);
    const at = Math.max(ready + delay, this.#lastDelivery);
    this.#lastDelivery = at;
    this.#queue.push({ chunk, at });
    if (this.#timer === undefined) this.#arm();
  }

  /** Whether chunks are waiting for their delivery time. */
  get pending(): boolean {
    return this.#queue.length > 0;
  }

  /** Calls `fn` once every queued chunk was delivered (at once when none is queued). */
  whenDrained(fn: () => void): void {
    if (this.#queue.length === 0) fn();
    else this.#drained.push(fn);
  }

  /** Discards what is queued and stops delivering. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#drained.length = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const first = this.#queue[0];
    if (first === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        const now = performance.now();
        while (this.#queue.length > 0 && this.#queue[0]!.at <= now + 0.5) {
          this.#sink(this.#queue.shift()!.chunk);
        }
        if (this.#queue.length === 0) {
          for (const fn of this.#drained.splice(0)) fn();
        }
        this.#arm();
      },
      Math.max(0, first.at - performance.now()),
    );
  }
}
