/**
 * A rough byte count of a value as the L1 holds it, for the `l1.maxBytes` bound when no encoded
 * form exists to measure (caches without an L2). It walks the value once, counts strings as two
 * bytes per character (V8 stores most as one, some as two) and adds a flat overhead per object;
 * the goal is a bound that tracks reality within a small factor, not an exact heap size.
 */
const OBJECT_OVERHEAD = 32;
const SLOT = 8;
/** Stops the walk on huge values: beyond this many nodes, the rest is assumed proportional. */
const MAX_NODES = 10_000;

/** Approximate size of `value` in bytes. */
export function approximateSize(value: unknown): number {
  const state = { nodes: 0, seen: new Set<object>() };
  return measure(value, state);
}

function measure(value: unknown, state: { nodes: number; seen: Set<object> }): number {
  switch (typeof value) {
    case 'string':
      return 16 + value.length * 2;
    case 'number':
    case 'boolean':
    case 'undefined':
      return SLOT;
    case 'bigint':
      return 16 + Math.ceil(value.toString(16).length / 2);
    case 'object':
      break;
    default:
      return SLOT;
  }
  if (value === null) return SLOT;
  if (state.seen.has(value) || ++state.nodes > MAX_NODES) return SLOT;
  state.seen.add(value);
  if (ArrayBuffer.isView(value)) return OBJECT_OVERHEAD + value.byteLength;
  if (value instanceof ArrayBuffer) return OBJECT_OVERHEAD + value.byteLength;
  let size = OBJECT_OVERHEAD;
  if (value instanceof Map) {
    for (const [k, v] of value) size += measure(k, state) + measure(v, state);
  } else if (value instanceof Set || Array.isArray(value)) {
    for (const item of value) size += measure(item, state);
  } else {
    for (const key in value) {
      size += 16 + key.length * 2 + measure((value as Record<string, unknown>)[key], state);
    }
  }
  return size;
}
