/**
 * After a load fails and a value in grace is served instead, the loader is not called again for
 * that key until a backoff has passed — otherwise every request during an outage would hit the
 * failing backend. The wait doubles with each consecutive failure, up to a cap. Bounded in size:
 * beyond `maxKeys` failing keys the oldest are forgotten (they just retry sooner).
 */
interface Failure {
  count: number;
  retryAt: number;
}

/** Per-key loader backoff. */
export class GraceBackoff {
  private readonly failures = new Map<string, Failure>();

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** Whether the loader of `key` should not be called at `now`. */
  blocked(key: string, now: number): boolean {
    if (this.failures.size === 0) return false;
    const failure = this.failures.get(key);
    return failure !== undefined && now < failure.retryAt;
  }

  /** Records a failed load of `key` at `now`. */
  failed(key: string, now: number): void {
    const previous = this.failures.get(key);
    const count = (previous?.count ?? 0) + 1;
    const wait = Math.min(this.maxMs, this.baseMs * 2 ** (count - 1));
    this.failures.delete(key);
    this.failures.set(key, { count, retryAt: now + wait });
    if (this.failures.size > this.maxKeys) {
      const oldest = this.failures.keys().next();
      if (!oldest.done) this.failures.delete(oldest.value);
    }
  }

  /** Records a successful load of `key`. */
  succeeded(key: string): void {
    if (this.failures.size !== 0) this.failures.delete(key);
  }
}
