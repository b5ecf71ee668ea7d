/**
 * The queue of one priority class: a binary heap ordered by arrival (oldest first for `fifo`,
 * newest first for `lifo`) that also removes any entry in O(log n). Removal is what an abort or
 * a queue timeout needs: the call must leave the queue at once, not linger until it reaches the
 * head. A heap rather than a list because a call held back by its key's cap re-enters the queue
 * later at its original arrival position.
 */

/** What the heap stores: the arrival number and the slot the heap keeps up to date. */
export interface HeapEntry {
  /** Arrival order, unique and increasing per bulkhead. */
  readonly seq: number;
  /** Position in the heap, or -1 when not in one. Owned by the heap. */
  heapIndex: number;
}

/** An indexed binary heap of waiters. */
export class WaiterHeap<T extends HeapEntry> {
  private readonly items: T[] = [];

  /** @param newestFirst `true` for `lifo` order. */
  constructor(private readonly newestFirst: boolean) {}

  /** Number of entries. */
  get size(): number {
    return this.items.length;
  }

  /** The entry that is served next, without removing it. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Adds an entry. */
  push(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  /** Removes and returns the entry that is served next. */
  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Removes `item` if it is in this heap; returns whether it was. */
  remove(item: T): boolean {
    const index = item.heapIndex;
    if (index < 0 || this.items[index] !== item) return false;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last !== item) {
      this.items[index] = last;
      last.heapIndex = index;
      this.down(index);
      this.up(last.heapIndex);
    }
    return true;
  }

  /** Whether `a` is served before `b`. */
  private before(a: T, b: T): boolean {
    return this.newestFirst ? a.seq > b.seq : a.seq < b.seq;
  }

  private up(start: number): void {
    let index = start;
    const item = this.items[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.items[parentIndex]!;
      if (!this.before(item, parent)) break;
      this.items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    this.items[index] = item;
    item.heapIndex = index;
  }

  private down(start: number): void {
    let index = start;
    const length = this.items.length;
    const item = this.items[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && this.before(this.items[right]!, this.items[left]!)) child = right;
      const candidate = this.items[child]!;
      if (!this.before(candidate, item)) break;
      this.items[index] = candidate;
      candidate.heapIndex = index;
      index = child;
    }
    this.items[index] = item;
    item.heapIndex = index;
  }
}
