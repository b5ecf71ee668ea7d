/**
 * The in-process form of a budget's sliding window: per-slot counts of calls and retries in a ring
 * of slots. Used by the memory store and as the local fallback of store-backed budgets. Pure and
 * synchronous; the caller passes the time.
 */
import type { BudgetResult, BudgetSpec } from '../store.js';

/** A budget's sliding window held in process memory; see the module comment. */
export class BudgetWindow {
  private readonly size: number;
  private readonly slotIds: number[];
  private readonly calls: number[];
  private readonly retries: number[];

  constructor(private readonly spec: BudgetSpec) {
    // One slot more than the window holds, so the slot being filled never evicts one still inside.
    this.size = Math.ceil(spec.windowMs / spec.slotMs) + 1;
    this.slotIds = new Array<number>(this.size).fill(Number.NEGATIVE_INFINITY);
    this.calls = new Array<number>(this.size).fill(0);
    this.retries = new Array<number>(this.size).fill(0);
  }

  /** Adds calls to the slot of `nowMs`; cheap enough for every call. */
  addCalls(nowMs: number, calls: number): void {
    this.calls[this.slotIndex(nowMs)]! += calls;
  }

  /** Counts a retry granted elsewhere (by the shared store), so the local view stays honest. */
  addRetry(nowMs: number): void {
    this.retries[this.slotIndex(nowMs)]! += 1;
  }

  /** Adds `calls`, then withdraws one retry if asked and available. */
  record(nowMs: number, calls: number, withdraw: boolean): BudgetResult {
    const current = this.slotIndex(nowMs);
    this.calls[current]! += calls;
    const oldest =
      Math.floor(nowMs / this.spec.slotMs) - Math.ceil(this.spec.windowMs / this.spec.slotMs) + 1;
    let callSum = 0;
    let retrySum = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.slotIds[i]! < oldest) continue;
      callSum += this.calls[i]!;
      retrySum += this.retries[i]!;
    }
    let available = this.spec.ratio * callSum + this.spec.reserve - retrySum;
    let granted = false;
    if (withdraw && available >= 1) {
      this.retries[current]! += 1;
      available -= 1;
      granted = true;
    }
    return { granted, available };
  }

  /** The ring index of the slot of `nowMs`, recycling it when it held an older slot. */
  private slotIndex(nowMs: number): number {
    const slot = Math.floor(nowMs / this.spec.slotMs);
    const index = ((slot % this.size) + this.size) % this.size;
    if (this.slotIds[index] !== slot) {
      this.slotIds[index] = slot;
      this.calls[index] = 0;
      this.retries[index] = 0;
    }
    return index;
  }
}
