/**
 * The admission rule of the priority-class model, written once for every place that decides from
 * counts (the memory and DynamoDB permit stores; the Redis store runs the same rule in Lua and the
 * local bulkhead keeps the same quantities as running counters):
 *
 * - a class may always use its own reserved slots;
 * - beyond them it borrows from the shared pool (`limit` minus every class's reservation), as long
 *   as a shared slot is idle;
 * - and never beyond its own `max`.
 *
 * Reserved slots are never lent, so however many calls one class sends, another class's reserved
 * capacity stays immediately available to it.
 */
import type { PermitLayout } from './store.js';

/**
 * Whether one more permit may go to class `classIndex`, given how many each class holds.
 * `held[i]` counts class i's live permits; missing entries count as 0.
 */
export function admits(layout: PermitLayout, held: readonly number[], classIndex: number): boolean {
  const own = held[classIndex] ?? 0;
  if (own >= (layout.max[classIndex] ?? Number.POSITIVE_INFINITY)) return false;
  if (own < (layout.reserved[classIndex] ?? 0)) return true;
  let reservedTotal = 0;
  let sharedInUse = 0;
  for (let i = 0; i < layout.reserved.length; i++) {
    const reserved = layout.reserved[i] ?? 0;
    reservedTotal += reserved;
    const count = held[i] ?? 0;
    if (count > reserved) sharedInUse += count - reserved;
  }
  return sharedInUse < layout.limit - reservedTotal;
}
