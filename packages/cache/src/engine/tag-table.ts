/**
 * What this process knows about tag versions. An entry carries the versions its tags had when it
 * was loaded; it is void once a tag has moved past that version. Checking that against the store
 * on every read would cost a round trip per hit, so each process keeps the versions it has seen:
 * the bus raises them as soon as any replica invalidates a tag, and a version older than
 * `trustMs` is fetched again before an L2 hit relies on it. Versions only grow, so a late answer
 * can never lower what a bus message already raised.
 */
import { ClockCache } from '../clock-cache.js';

const MAX_TAGS = 100_000;

interface KnownVersion {
  version: number;
  /** When the version was last confirmed by the store or the bus. */
  seenAt: number;
}

/** Known tag versions of one cache instance. */
export class TagTable {
  private readonly known = new ClockCache<KnownVersion>(MAX_TAGS, Number.POSITIVE_INFINITY);

  /** @param trustMs How long a known version is used without asking the store again. */
  constructor(readonly trustMs: number) {}

  /** Whether a known tag version has moved past the one `tags[i]` had when the entry was loaded. */
  voids(tags: readonly string[], versions: readonly number[]): boolean {
    for (let i = 0; i < tags.length; i++) {
      const known = this.known.peek(tags[i]!);
      if (known !== undefined && known.version > (versions[i] ?? 0)) return true;
    }
    return false;
  }

  /** The known version of `tag` if it was confirmed less than `trustMs` ago. */
  trusted(tag: string, now: number): number | undefined {
    const known = this.known.peek(tag);
    return known !== undefined && now - known.seenAt < this.trustMs ? known.version : undefined;
  }

  /** The known version of `tag`, however old, or 0. */
  latest(tag: string): number {
    return this.known.peek(tag)?.version ?? 0;
  }

  /** Records that `tag` is at `version` (or later) as of `now`. */
  raise(tag: string, version: number, now: number): void {
    const known = this.known.get(tag);
    if (known === undefined) this.known.set(tag, { version, seenAt: now }, 1);
    else {
      if (version > known.version) known.version = version;
      known.seenAt = now;
    }
  }

  /** Forgets everything (the bus may have missed messages). */
  clear(): void {
    this.known.clear();
  }
}
