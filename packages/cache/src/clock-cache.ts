/**
 * A map bounded by a number of entries and by an approximate total size in bytes, evicting with
 * CLOCK (second chance): an approximation of least-recently-used that costs a read one flag write.
 */

/** One entry and its bookkeeping. */
interface Slot<V> {
  value: V;
  size: number;
  /** Read since it was inserted or last given a second chance. */
  referenced: boolean;
}

/**
 * Room in the bounds taken by entries kept outside the cache — counted against its bounds, but
 * never visited (let alone evicted) by its eviction walk.
 */
export interface ReservedRoom {
  /** Entries held outside. */
  readonly count: number;
  /** Sum of their sizes. */
  readonly bytes: number;
}

const NOTHING_RESERVED: ReservedRoom = Object.freeze({ count: 0, bytes: 0 });

/**
 * CLOCK (second chance) eviction: a read only sets a flag on the entry, and eviction walks entries
 * in insertion order (a `Map` keeps it), giving flagged ones a second chance by moving them to
 * the end. A hit thus costs one map lookup and one field write — no re-insertion — while hot
 * entries still survive eviction.
 */
export class ClockCache<V> {
  private readonly map = new Map<string, Slot<V>>();
  private totalBytes = 0;
  private visits = 0;

  /**
   * @param maxEntries Upper bound on the number of entries (together with `reserved.count`).
   * @param maxBytes Upper bound on the sum of entry sizes (together with `reserved.bytes`;
   *   `Infinity` for none).
   * @param onEvict Called for each entry pushed out by the bounds (not for deletes or replacements).
   * @param reserved Room taken by entries held outside this cache (see {@link ReservedRoom}).
   */
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly onEvict?: (key: string, value: V) => void,
    private readonly reserved: ReservedRoom = NOTHING_RESERVED,
  ) {}

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** Sum of the sizes of all entries. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Entries the eviction walk has visited so far, evicted or not: what eviction has cost. */
  get visited(): number {
    return this.visits;
  }

  /** The value of `key`, marking it as recently used. */
  get(key: string): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    slot.referenced = true;
    return slot.value;
  }

  /** The value of `key`, without touching its recency. */
  peek(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /**
   * Stores `value` under `key` as the most recently used entry, then evicts the least recently
   * used ones until both bounds hold. A value larger than `maxBytes` on its own is not stored.
   */
  set(key: string, value: V, size: number): void {
    const previous = this.map.get(key);
    if (previous !== undefined) {
      this.map.delete(key);
      this.totalBytes -= previous.size;
    }
    if (size > this.maxBytes) return;
    // A new entry starts with its second chance, so eviction never takes the entry just stored.
    this.map.set(key, { value, size, referenced: true });
    this.totalBytes += size;
    this.evict();
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: string): boolean {
    const slot = this.map.get(key);
    if (slot === undefined) return false;
    this.map.delete(key);
    this.totalBytes -= slot.size;
    return true;
  }

  /** Removes every entry. */
  clear(): void {
    this.map.clear();
    this.totalBytes = 0;
  }

  /** Every key and value, oldest first (for tests and tag sweeps). */
  entries(): IterableIterator<[string, { value: V; size: number }]> {
    return this.map.entries();
  }

  /** Evicts until both bounds hold again (after the reserved room grew). */
  trim(): void {
    this.evict();
  }

  private evict(): void {
    // Every referenced entry gets one second chance per pass, so the walk ends after at most
    // one extra lap — or when nothing is left to evict (the reserved room alone exceeds a bound).
    const reserved = this.reserved;
    while (
      this.map.size + reserved.count > this.maxEntries ||
      this.totalBytes + reserved.bytes > this.maxBytes
    ) {
      const oldest = this.map.entries().next();
      if (oldest.done) return;
      this.visits++;
      const [key, slot] = oldest.value;
      this.map.delete(key);
      if (slot.referenced) {
        slot.referenced = false;
        this.map.set(key, slot);
        continue;
      }
      this.totalBytes -= slot.size;
      this.onEvict?.(key, slot.value);
    }
  }
}
