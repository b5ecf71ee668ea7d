/**
 * Store writes nobody awaits (a load's write, a lease release). `close()` lets them land: a
 * process that exits right after answering must not lose the write (and leave its lease to
 * expire) on the way out.
 */

/** The unawaited store writes of one cache. */
export class BackgroundWrites {
  private readonly unsettled = new Set<Promise<void>>();

  /** Remembers `write` until it settles; the returned promise never rejects. */
  track(write: Promise<unknown>): Promise<void> {
    const settled: Promise<void> = write.then(
      () => {
        this.unsettled.delete(settled);
      },
      () => {
        this.unsettled.delete(settled);
      },
    );
    this.unsettled.add(settled);
    return settled;
  }

  /** Number of writes still on their way. */
  get count(): number {
    return this.unsettled.size;
  }

  /** The writes still on their way, settling when they do (never rejecting). */
  pending(): Promise<void>[] {
    return [...this.unsettled];
  }
}
