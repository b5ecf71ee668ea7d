/**
 * The codec turns values into the strings an L2 store holds, and back. The default codec is JSON
 * with a tagged extension for the types JSON loses (Date, BigInt, Map, Set, undefined, NaN,
 * ±Infinity, -0, typed arrays, ArrayBuffer, Buffer).
 *
 * Two formats, chosen per value, keep the hot read path as fast as plain `JSON.parse`:
 *
 * - `J<json>` when the value is plain JSON (the common case: database rows, DTOs). Decoding is a
 *   single `JSON.parse`.
 * - `T<json>` when it contains anything else. Special values become `{"$t": kind, "v": …}`
 *   objects, and a user object that itself owns a `$t` key is wrapped as `{"$t":"o","v":{…}}`, so
 *   the encoding stays unambiguous. Decoding parses, then walks the tree once to revive.
 */
import { CacheCodecError } from './errors.js';

/** What {@link CacheCodec.toJson} returns: a JSON-compatible tree and a marker of its format. */
export interface JsonEncoding {
  /** A short marker the codec chooses (not `S` or `N`, which the cache uses itself). */
  readonly format: string;
  /** A value `JSON.stringify` stores faithfully. */
  readonly json: unknown;
}

/**
 * Encodes cache values for the L2 store. Implement `encode`/`decode` to use another format
 * (MessagePack as base64, …); JSON-based codecs may also implement `toJson`/`fromJson`, which
 * let the cache embed the value in its record so that a read parses record and value at once.
 */
export interface CacheCodec {
  /**
   * Identifies the format. It is stamped on every stored entry; entries stamped with another id
   * (an older or different codec) are treated as misses, so changing the codec never crashes
   * readers. Change it whenever the encoding changes incompatibly.
   */
  readonly id: string;
  /**
   * Encodes a value. Throw a {@link CacheCodecError} for values the format cannot represent; the
   * cache adds the key to the message.
   */
  encode(value: unknown): string;
  /** Decodes what {@link encode} produced. May throw on corrupt input (the cache treats it as a miss). */
  decode(payload: string): unknown;
  /** Optional fast path: the value as a JSON-compatible tree. Throws like {@link encode}. */
  toJson?(value: unknown): JsonEncoding;
  /**
   * Inverse of {@link toJson}. `json` was just parsed and belongs to the codec, which may revive
   * it in place. May throw on corrupt input.
   */
  fromJson?(format: string, json: unknown): unknown;
}

/** The id of {@link defaultCodec}'s format. */
export const DEFAULT_CODEC_ID = 'bw1';

const TAG = '$t';

type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

const TYPED_ARRAYS: Record<string, TypedArrayConstructor> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/**
 * The default codec (id `bw1`): JSON for plain values, tagged JSON for Date, BigInt, Map, Set,
 * undefined, NaN, ±Infinity, -0, typed arrays, ArrayBuffer and Buffer, in any nesting.
 *
 * - Class instances are stored like `JSON.stringify` stores them: their own enumerable properties
 *   (or what their `toJSON()` returns); they come back as plain objects.
 * - Symbol-keyed properties are skipped, as `JSON.stringify` does.
 * - Functions, symbols, cyclic references and unsupported built-ins (WeakMap, Promise, …) throw a
 *   {@link CacheCodecError} naming where in the value they sit.
 * - Shared (non-cyclic) references are stored once per occurrence and come back as copies.
 */
export const defaultCodec: CacheCodec = Object.freeze({
  id: DEFAULT_CODEC_ID,
  encode(value: unknown): string {
    const { format, json } = toJson(value);
    return `${format}${JSON.stringify(json)}`;
  },
  decode(payload: string): unknown {
    return fromJson(payload.slice(0, 1), JSON.parse(payload.slice(1)));
  },
  toJson,
  fromJson,
});

function toJson(value: unknown): JsonEncoding {
  if (isPlainJson(value, [])) return { format: 'J', json: value };
  return { format: 'T', json: toTagged(value, 'value', []) };
}

function fromJson(format: string, json: unknown): unknown {
  if (format === 'J') return json;
  if (format === 'T') return revive(json);
  throw new SyntaxError(`Unknown payload format ${JSON.stringify(format)}`);
}

/**
 * Whether `value` survives `JSON.stringify`/`JSON.parse` unchanged. Stops at the first value that
 * does not; cycles also answer `false` so that {@link toTagged} reports them with their path.
 */
function isPlainJson(value: unknown, ancestors: object[]): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      if (ancestors.includes(value)) return false;
      if (Array.isArray(value)) {
        ancestors.push(value);
        for (let i = 0; i < value.length; i++) {
          // `i in value` is false for holes, which JSON turns into null.
          if (!(i in value) || !isPlainJson(value[i], ancestors)) return false;
        }
        ancestors.pop();
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      ancestors.push(value);
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        const child = (value as Record<string, unknown>)[key];
        if (child === undefined || !isPlainJson(child, ancestors)) return false;
      }
      ancestors.pop();
      return true;
    }
    default:
      return false;
  }
}

function tagged(kind: string, v: unknown): Record<string, unknown> {
  return { [TAG]: kind, v };
}

function fail(path: string, reason: string): never {
  throw new CacheCodecError({ path, reason });
}

function toTagged(value: unknown, path: string, ancestors: object[]): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return tagged('n', Object.is(value, -0) ? '-0' : String(value));
    case 'bigint':
      return tagged('b', value.toString());
    case 'undefined':
      return tagged('u', 0);
    case 'function':
      return fail(path, 'a function cannot be cached');
    case 'symbol':
      return fail(path, 'a symbol cannot be cached');
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.includes(object)) return fail(path, 'a cyclic reference cannot be cached');
  ancestors.push(object);
  try {
    return objectToTagged(object, path, ancestors);
  } finally {
    ancestors.pop();
  }
}

function objectToTagged(object: object, path: string, ancestors: object[]): unknown {
  if (Array.isArray(object)) {
    const out = new Array<unknown>(object.length);
    for (let i = 0; i < object.length; i++)
      out[i] = toTagged(object[i], `${path}[${i}]`, ancestors);
    return out;
  }
  if (object instanceof Date) {
    const time = object.getTime();
    return tagged('d', Number.isNaN(time) ? null : time);
  }
  if (object instanceof Map) {
    const entries: unknown[] = [];
    let index = 0;
    for (const [k, v] of object) {
      const at = `${path}.get(#${index++})`;
      entries.push([toTagged(k, `${at}.key`, ancestors), toTagged(v, at, ancestors)]);
    }
    return tagged('m', entries);
  }
  if (object instanceof Set) {
    const items: unknown[] = [];
    let index = 0;
    for (const item of object)
      items.push(toTagged(item, `${path}.values()[${index++}]`, ancestors));
    return tagged('s', items);
  }
  if (ArrayBuffer.isView(object)) return viewToTagged(object, path);
  if (object instanceof ArrayBuffer) {
    return tagged('ab', Buffer.from(object).toString('base64'));
  }
  if (object instanceof WeakMap || object instanceof WeakSet || object instanceof Promise) {
    return fail(path, `a ${object.constructor.name} cannot be cached`);
  }
  const toJSON = (object as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return toTagged(toJSON.call(object), path, ancestors);
  const out: Record<string, unknown> = {};
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const child = toTagged(
      (object as Record<string, unknown>)[key],
      childPath(path, key),
      ancestors,
    );
    defineKey(out, key, child);
  }
  return Object.hasOwn(out, TAG) ? tagged('o', out) : out;
}

function viewToTagged(view: ArrayBufferView, path: string): unknown {
  const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
  if (Buffer.isBuffer(view)) return tagged('buf', bytes);
  const name = view.constructor.name;
  if (TYPED_ARRAYS[name] === undefined) return fail(path, `a ${name} cannot be cached`);
  return { [TAG]: 'ta', c: name, v: bytes };
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Sets `key` as an own property, even `__proto__`, which plain assignment would treat as the prototype. */
function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

function revive(node: unknown): unknown {
  if (typeof node !== 'object' || node === null) return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child = node[i];
      if (typeof child === 'object' && child !== null) node[i] = revive(child);
    }
    return node;
  }
  const record = node as Record<string, unknown>;
  const kind = record[TAG];
  if (kind === undefined || !Object.hasOwn(record, TAG)) {
    reviveProperties(record);
    return record;
  }
  return reviveTagged(kind, record);
}

function reviveProperties(record: Record<string, unknown>): void {
  for (const key of Object.keys(record)) {
    const child = record[key];
    if (typeof child === 'object' && child !== null) {
      const revived = revive(child);
      if (revived !== child) defineKey(record, key, revived);
    }
  }
}

function reviveTagged(kind: unknown, record: Record<string, unknown>): unknown {
  const v = record.v;
  switch (kind) {
    case 'u':
      return undefined;
    case 'n':
      return v === '-0' ? -0 : Number(v);
    case 'b':
      return BigInt(v as string);
    case 'd':
      return new Date(v === null ? Number.NaN : (v as number));
    case 'm':
      return new Map((v as [unknown, unknown][]).map(([k, value]) => [revive(k), revive(value)]));
    case 's':
      return new Set((v as unknown[]).map(revive));
    case 'ab': {
      const bytes = Buffer.from(v as string, 'base64');
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    }
    case 'buf':
      return Buffer.from(v as string, 'base64');
    case 'ta': {
      const Ctor = TYPED_ARRAYS[record.c as string];
      if (Ctor === undefined) throw new SyntaxError(`Unknown typed array ${String(record.c)}`);
      const bytes = Buffer.from(v as string, 'base64');
      // Copy into a fresh, aligned buffer: a Buffer's offset may not suit 2-, 4- or 8-byte views.
      const copy = new Uint8Array(bytes.byteLength);
      copy.set(bytes);
      return new Ctor(copy.buffer, 0, bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
    }
    case 'o': {
      const inner = v as Record<string, unknown>;
      reviveProperties(inner);
      return inner;
    }
    default:
      throw new SyntaxError(`Unknown tag ${JSON.stringify(kind)}`);
  }
}
