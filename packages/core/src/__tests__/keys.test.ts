import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KEY_PREFIX, keyBuilder, MAX_USER_KEY_BYTES, normalizeUserKey } from '../keys.js';
import { hashTagBytes, keySlot } from '../redis/key-slot.js';

const keys = keyBuilder({ prefix: 'shop', pattern: 'rate-limit', name: 'partner-api' });

/** The hash tag Redis Cluster uses for `key`, as a string. */
const tagOf = (key: string) => Buffer.from(hashTagBytes(key)).toString('utf8');

const hashed = (userKey: string) =>
  `h:${createHash('sha256').update(userKey, 'utf8').digest('base64url')}`;

describe('keyBuilder()', () => {
  it('builds <prefix>:<pattern>:{<name>:<key>}:<part>', () => {
    expect(keys.redisKey('user-42', 'tokens')).toBe('shop:rate-limit:{partner-api:user-42}:tokens');
    expect(keys.redisKeys('user-42', ['tokens', 'ts'])).toEqual([
      'shop:rate-limit:{partner-api:user-42}:tokens',
      'shop:rate-limit:{partner-api:user-42}:ts',
    ]);
    expect(keys.hashTag('user-42')).toBe('{partner-api:user-42}');
    expect(keys.redisKey('', 'state')).toBe('shop:rate-limit:{partner-api:}:state');
  });

  it("defaults the prefix to 'bw'", () => {
    const builder = keyBuilder({ pattern: 'circuit-breaker', name: 'db' });
    expect(DEFAULT_KEY_PREFIX).toBe('bw');
    expect(builder.prefix).toBe('bw');
    expect(builder.redisKey('', 'state')).toBe('bw:circuit-breaker:{db:}:state');
  });

  it('keeps every part of one decision in one hash tag, hence one slot', () => {
    const [a, b] = keys.redisKeys('user:42', ['tokens', 'ts']);
    expect(tagOf(a!)).toBe('partner-api:user:42');
    expect(keySlot(a!)).toBe(keySlot(b!));
  });

  it('builds DynamoDB partition keys without braces, user key last', () => {
    expect(keys.dynamoPk('user-42', 'bucket')).toBe('shop:rate-limit:partner-api:bucket:user-42');
    expect(keys.dynamoPk('a:b', 'bucket')).toBe('shop:rate-limit:partner-api:bucket:a:b');
    expect(() => keys.dynamoPk('x', 'a:b')).toThrow(
      'Expected `part` to be a non-empty string without `:`, got "a:b"',
    );
    expect(() => keys.dynamoPk('x', '')).toThrow(/`part`/);
  });

  it('escapes the policy name so it can neither break the tag nor blur into the key', () => {
    const odd = keyBuilder({ pattern: 'bulkhead', name: 'pay}ments:{eu}%' });
    const key = odd.redisKey('k', 'permits');
    expect(key).toBe('bw:bulkhead:{pay%7Dments%3A%7Beu%7D%25:k}:permits');
    expect(tagOf(key)).toBe('pay%7Dments%3A%7Beu%7D%25:k');
    // name 'a:b' + key 'c' must differ from name 'a' + key 'b:c'
    const ab = keyBuilder({ pattern: 'bulkhead', name: 'a:b' }).redisKey('c', 'p');
    const a = keyBuilder({ pattern: 'bulkhead', name: 'a' }).redisKey('b:c', 'p');
    expect(ab).not.toBe(a);
    expect(keyBuilder({ pattern: 'bulkhead', name: 'a:b' }).dynamoPk('c', 'p')).not.toBe(
      keyBuilder({ pattern: 'bulkhead', name: 'a' }).dynamoPk('b:c', 'p'),
    );
    expect(odd.name).toBe('pay}ments:{eu}%');
  });

  it('hashes user keys with braces, so the tag stays the whole decision', () => {
    for (const userKey of ['a}b', '{x}', '}', '{', '{"user":1}']) {
      const key = keys.redisKey(userKey, 'tokens');
      expect(key).toBe(`shop:rate-limit:{partner-api:${hashed(userKey)}}:tokens`);
      expect(tagOf(key)).toBe(`partner-api:${hashed(userKey)}`);
    }
  });

  it('hashes user keys over 256 UTF-8 bytes and keeps shorter ones', () => {
    const ascii256 = 'a'.repeat(MAX_USER_KEY_BYTES);
    expect(normalizeUserKey(ascii256)).toBe(ascii256);
    expect(normalizeUserKey(`${ascii256}a`)).toBe(hashed(`${ascii256}a`));
    // 86 three-byte characters: 86 code units but 258 bytes
    const wide = '€'.repeat(86);
    expect(normalizeUserKey(wide)).toBe(hashed(wide));
    expect(normalizeUserKey('€'.repeat(85))).toBe('€'.repeat(85));
    // 64 four-byte emoji: 128 code units, 256 bytes
    const emoji = '😀'.repeat(64);
    expect(normalizeUserKey(emoji)).toBe(emoji);
    expect(normalizeUserKey(`${emoji}a`)).toBe(hashed(`${emoji}a`));
    expect(keys.redisKey('x'.repeat(10_000), 'p').length).toBeLessThan(100);
  });

  it('hashes literal keys that start with the hash marker, so none can forge a hashed key', () => {
    const long = 'z'.repeat(300);
    expect(normalizeUserKey(hashed(long))).not.toBe(hashed(long));
    expect(normalizeUserKey('h:abc')).toBe(hashed('h:abc'));
    expect(normalizeUserKey('h')).toBe('h');
    expect(normalizeUserKey('hx:')).toBe('hx:');
  });

  it('is stable and injective over arbitrary user keys (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string(), (a, b) => {
        const keyA = keys.redisKey(a, 'p');
        expect(keys.redisKey(a, 'p')).toBe(keyA);
        expect(
          keyBuilder({ prefix: 'shop', pattern: 'rate-limit', name: 'partner-api' }).redisKey(
            a,
            'p',
          ),
        ).toBe(keyA);
        if (a !== b) expect(keys.redisKey(b, 'p')).not.toBe(keyA);
        expect(tagOf(keyA)).toBe(keys.hashTag(a).slice(1, -1));
        expect(Buffer.byteLength(normalizeUserKey(a))).toBeLessThanOrEqual(MAX_USER_KEY_BYTES);
      }),
    );
  });

  it('validates options with named errors', () => {
    expect(() => keyBuilder({ prefix: '', pattern: 'p', name: 'n' })).toThrow(
      'Expected `prefix` to be a non-empty string, got ""',
    );
    expect(() => keyBuilder({ prefix: 'a{b}', pattern: 'p', name: 'n' })).toThrow(
      'Expected `prefix` to be a non-empty string without `{` or `}`, got "a{b}"',
    );
    expect(() => keyBuilder({ pattern: '', name: 'n' })).toThrow(/`pattern`/);
    expect(() => keyBuilder({ pattern: 'a:b', name: 'n' })).toThrow(
      'Expected `pattern` to be a non-empty string without `:`, `{` or `}`, got "a:b"',
    );
    expect(() => keyBuilder({ pattern: 'p', name: '' })).toThrow(
      'Expected `name` to be a non-empty string, got ""',
    );
    expect(() => keyBuilder({ pattern: 'p', name: 3 as never })).toThrow(TypeError);
    expect(() => normalizeUserKey(7 as never)).toThrow(TypeError);
  });
});

describe('keySlot()', () => {
  it('matches the slots Redis documents', () => {
    // Values from CLUSTER KEYSLOT on Redis 7.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(tagOf('foo{}{bar}')).toBe('foo{}{bar}');
    expect(tagOf('foo{{bar}}zap')).toBe('{bar');
    expect(tagOf('foo{bar}{zap}')).toBe('bar');
  });
});
