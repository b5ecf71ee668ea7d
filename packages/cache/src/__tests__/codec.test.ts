import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultCodec } from '../codec.js';
import { type CacheCodecError, isCacheCodecError } from '../errors.js';

const roundTrip = (value: unknown) => defaultCodec.decode(defaultCodec.encode(value));

describe('defaultCodec', () => {
  it('stores plain JSON values in the fast format', () => {
    const value = { id: 1, name: 'Ada', tags: ['a', 'b'], nested: { ok: true, none: null } };
    const encoded = defaultCodec.encode(value);
    expect(encoded.startsWith('J')).toBe(true);
    expect(defaultCodec.decode(encoded)).toStrictEqual(value);
  });

  it('round-trips the types JSON loses', () => {
    const value = {
      when: new Date('2024-05-01T12:00:00.123Z'),
      invalid: new Date(Number.NaN),
      big: 12345678901234567890n,
      negativeBig: -5n,
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set([1, 2])],
      ]),
      set: new Set(['x', { y: 1 }]),
      missing: undefined,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      negativeZero: -0,
      bytes: new Uint8Array([1, 2, 255]),
      floats: new Float64Array([1.5, -2.25]),
      words: new BigInt64Array([1n, -1n]),
      buffer: Buffer.from('hello'),
      arrayBuffer: new Uint8Array([9, 8]).buffer,
      list: [undefined, 1, Number.NaN],
    };
    const decoded = roundTrip(value) as typeof value;
    expect(decoded).toStrictEqual(value);
    expect(Object.hasOwn(decoded, 'missing')).toBe(true);
    expect(Object.is(decoded.negativeZero, -0)).toBe(true);
    expect(Buffer.isBuffer(decoded.buffer)).toBe(true);
    expect(decoded.arrayBuffer).toBeInstanceOf(ArrayBuffer);
  });

  it('keeps user objects that own a `$t` key or a `__proto__` key intact', () => {
    const tricky = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as object;
    const value = { $t: 'd', v: 1, inner: { $t: 'u' }, when: new Date(0), tricky };
    const decoded = roundTrip(value) as Record<string, unknown>;
    expect(decoded).toStrictEqual(value);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(decoded.tricky)).toBe(Object.prototype);
  });

  it('stores class instances like JSON.stringify does', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(roundTrip(new Point(1, 2))).toStrictEqual({ x: 1, y: 2 });
    expect(roundTrip({ at: new Point(1, Number.NaN) })).toStrictEqual({
      at: { x: 1, y: Number.NaN },
    });
  });

  it('names where a function, a symbol or a cycle sits', () => {
    const fn = { user: { save() {} } };
    expect(() => defaultCodec.encode(fn)).toThrow(
      /a function cannot be cached at value\.user\.save/,
    );
    expect(() => defaultCodec.encode({ list: [1, Symbol('s')] })).toThrow(
      /a symbol cannot be cached at value\.list\[1\]/,
    );
    const cyclic: Record<string, unknown> = { a: { b: {} } };
    (cyclic.a as Record<string, Record<string, unknown>>).b!.back = cyclic;
    let error: unknown;
    try {
      defaultCodec.encode(cyclic);
    } catch (caught) {
      error = caught;
    }
    expect(isCacheCodecError(error)).toBe(true);
    expect((error as CacheCodecError).path).toBe('value.a.b.back');
    expect((error as CacheCodecError).withKey('user:1').message).toBe(
      'Cannot encode the value of cache key "user:1": a cyclic reference cannot be cached at value.a.b.back',
    );
  });

  it('encodes shared, non-cyclic references as copies', () => {
    const shared = { n: 1 };
    expect(roundTrip({ a: shared, b: shared, c: new Date(0) })).toStrictEqual({
      a: { n: 1 },
      b: { n: 1 },
      c: new Date(0),
    });
  });

  it('rejects payloads of an unknown format', () => {
    expect(() => defaultCodec.decode('X{}')).toThrow(SyntaxError);
  });

  it('round-trips arbitrary values (property)', () => {
    const values = fc.anything({
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withUnicodeString: true,
      maxDepth: 4,
    });
    fc.assert(
      fc.property(values, (value) => {
        expect(roundTrip(value)).toStrictEqual(value);
      }),
      { numRuns: 500 },
    );
  });
});
