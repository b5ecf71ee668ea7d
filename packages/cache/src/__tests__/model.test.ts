/**
 * Property test against a model: two replicas sharing a memory store (bus included) must behave
 * like one map with TTLs and tags, whatever the interleaving of writes, deletes, tag
 * invalidations, reads and the passing of time, on either replica.
 */
import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cache } from '../index.js';
import { memoryStore } from '../stores/memory.js';

type Op =
  | { kind: 'set'; replica: number; key: string; value: number; ttlMs: number; tags: string[] }
  | { kind: 'get'; replica: number; key: string }
  | { kind: 'load'; replica: number; key: string; value: number }
  | { kind: 'delete'; replica: number; key: string }
  | { kind: 'invalidate'; replica: number; tag: string }
  | { kind: 'advance'; ms: number };

const keys = fc.constantFrom('a', 'b', 'c');
const tags = fc.subarray(['t1', 't2']);
const replica = fc.integer({ min: 0, max: 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    replica,
    key: keys,
    value: fc.integer(),
    ttlMs: fc.integer({ min: 1, max: 5_000 }),
    tags,
  }),
  fc.record({ kind: fc.constant('get' as const), replica, key: keys }),
  fc.record({ kind: fc.constant('load' as const), replica, key: keys, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), replica, key: keys }),
  fc.record({
    kind: fc.constant('invalidate' as const),
    replica,
    tag: fc.constantFrom('t1', 't2'),
  }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3_000 }) }),
);

interface ModelEntry {
  value: number;
  expiresAt: number;
  tags: string[];
}

describe('two replicas over a memory store behave like one map (property)', () => {
  it('agrees with the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const clock = fakeClock(1_000_000);
        const store = memoryStore({ clock });
        const options = { name: 'model', store, clock, jitter: 0, beta: 0, ttlMs: 5_000 };
        // A long maxStaleMs: coherence must come from the bus, not from re-reads.
        const replicas = [0, 1].map(() => cache({ ...options, l1: { maxStaleMs: 3_600_000 } }));
        const model = new Map<string, ModelEntry>();
        const live = (key: string) => {
          const entry = model.get(key);
          return entry !== undefined && clock.now() < entry.expiresAt ? entry : undefined;
        };
        for (const o of ops) {
          if (o.kind === 'advance') {
            await clock.advance(o.ms);
            continue;
          }
          const c = replicas[o.replica]!;
          switch (o.kind) {
            case 'set':
              await c.set(o.key, o.value, { ttlMs: o.ttlMs, tags: o.tags });
              model.set(o.key, { value: o.value, expiresAt: clock.now() + o.ttlMs, tags: o.tags });
              break;
            case 'get':
              expect(await c.get(o.key)).toBe(live(o.key)?.value);
              break;
            case 'load': {
              const expected = live(o.key)?.value ?? o.value;
              expect(await c.getOrLoad(o.key, async () => o.value)).toBe(expected);
              if (live(o.key) === undefined) {
                model.set(o.key, { value: o.value, expiresAt: clock.now() + 5_000, tags: [] });
              }
              break;
            }
            case 'delete':
              await c.delete(o.key);
              model.delete(o.key);
              break;
            case 'invalidate':
              await c.invalidateTags([o.tag]);
              for (const [key, entry] of model) if (entry.tags.includes(o.tag)) model.delete(key);
              break;
          }
        }
        await Promise.all(replicas.map((c) => c.close()));
      }),
      { numRuns: 200 },
    );
  });
});
