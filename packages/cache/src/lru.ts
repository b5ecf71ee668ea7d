/**
 * The L1's eviction structure: an approximately-least-recently-used map bounded by a number of
 * entries and by an approximate total size in bytes.
 */

/** One entry and its bookkeeping. */
interface Slot<V> {
  value: V;
  size: number;
  /** Read since it was inserted or last given a second chance. */
  referenced: boolean;
  /** Never evicted (a write-behind value not persisted yet); deletes and replacements still apply. */
  pinned: boolean;
}

/**
 * CLOCK (second chance) eviction: a read only sets a flag on the entry, and eviction walks entries
 * in insertion order (a `Map` keeps it), giving flagged ones a second chance by moving them to
 * the end. A hit thus costs one map lookup and one field write — no re-insertion — while hot
 * entries still survive eviction.
 */
export class Lru<V> {
  private readonly map = new Map<string, Slot<V>>();
  private totalBytes = 0;

  /**
   * @param maxEntries Upper bound on the number of entries.
   * @param maxBytes Upper bound on the sum of entry sizes (`Infinity` for none).
   * @param onEvict Called for each entry pushed out by the bounds (not for deletes or replacements).
   */
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly onEvict?: (key: string, value: V) => void,
  ) {}

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** Sum of the sizes of all entries. */
  get bytes(): number {
    return this.totalBytes;
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
   * used ones until both bounds hold. A value larger than `maxBytes` on its own is not stored,
   * unless it is `pinned`: pinned entries are never evicted (the bounds may then be exceeded by
   * the pinned entries alone).
   */
  set(key: string, value: V, size: number, pinned = false): void {
    const previous = this.map.get(key);
    if (previous !== undefined) {
      this.map.delete(key);
      this.totalBytes -= previous.size;
    }
    if (size > this.maxBytes && !pinned) return;
    // A new entry starts with its second chance, so eviction never takes the entry just stored.
    this.map.set(key, { value, size, referenced: true, pinned });
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

  private evict(): void {
    // Every referenced entry gets one second chance per pass, so the walk ends after at most
    // one extra lap — or, when only pinned entries are left, after one lap of them.
    let pinnedInARow = 0;
    while (this.map.size > this.maxEntries || this.totalBytes > this.maxBytes) {
      const oldest = this.map.entries().next();
      if (oldest.done || pinnedInARow >= this.map.size) return;
      const [key, slot] = oldest.value;
      this.map.delete(key);
      if (slot.pinned) pinnedInARow++;
      else pinnedInARow = 0;
      if (slot.referenced || slot.pinned) {
        slot.referenced = false;
        this.map.set(key, slot);
        continue;
      }
      this.totalBytes -= slot.size;
      this.onEvict?.(key, slot.value);
    }
  }
}
