/**
 * Versions the bus announced lately, per key. A read that was already on its way when a newer
 * version was announced must not put its older value into the L1 (it would stay there until
 * `l1.maxStaleMs`); comparing with the announced version catches that race. Bounded: the oldest
 * announcements are forgotten first, by which time no read of theirs is still in flight.
 */
const MAX_KEYS = 10_000;

/** Recently announced versions of one cache. */
export class RecentVersions {
  private readonly versions = new Map<string, number>();

  /** Records that `key` reached `version`. */
  note(key: string, version: number): void {
    this.versions.delete(key);
    this.versions.set(key, version);
    if (this.versions.size > MAX_KEYS) {
      const oldest = this.versions.keys().next();
      if (!oldest.done) this.versions.delete(oldest.value);
    }
  }

  /** Whether a newer version than `version` of `key` was announced. */
  isOutdated(key: string, version: number): boolean {
    if (this.versions.size === 0) return false;
    const announced = this.versions.get(key);
    return announced !== undefined && announced > version;
  }

  /** Forgets everything. */
  clear(): void {
    this.versions.clear();
  }
}
