/**
 * Store keys (Principle 9). Redis keys are `<prefix>:<pattern>:{<name>:<key>}:<part>`: the braces
 * are a Redis Cluster hash tag, so every key of one decision (one policy, one user key) lands in
 * one slot and a single Lua script can touch them all. DynamoDB partition keys carry the same
 * parts without the tag.
 *
 * Two rules keep keys unambiguous and the tag intact whatever users pass:
 *
 * - The policy name is percent-escaped (`%`, `:`, `{`, `}`), so it can neither end the tag early
 *   nor be confused with the user key that follows it.
 * - A user key that could break the layout (longer than {@link MAX_USER_KEY_BYTES} UTF-8 bytes,
 *   containing `{` or `}`, or starting with the hash marker `h:`) is replaced by
 *   `h:<base64url SHA-256>`. Literal keys never start with `h:`, so no user key can collide with
 *   the hash of another. Ordinary keys pass through untouched and stay readable in the store.
 */
import { createHash } from 'node:crypto';
import { expectNonEmptyString } from './validate.js';

/** The key prefix when none is configured. */
export const DEFAULT_KEY_PREFIX = 'bw';

/** User keys longer than this many UTF-8 bytes are stored as a hash. */
export const MAX_USER_KEY_BYTES = 256;

/** The marker that starts a hashed user key. */
export const HASHED_KEY_MARKER = 'h:';

/** Options of {@link keyBuilder}. */
export interface KeyBuilderOptions {
  /**
   * First segment of every key; use one per tenant or environment to isolate their state in a
   * shared store. Must not contain `{` or `}` (they would capture the Cluster hash tag).
   * @default 'bw'
   */
  prefix?: string | undefined;
  /** The pattern owning the keys, e.g. `'rate-limit'`. Must not contain `:`, `{` or `}`. */
  pattern: string;
  /** The policy name. Any non-empty string; it is escaped inside the key. */
  name: string;
}

/** Builds the store keys of one policy. Create it once per policy; every method is cheap. */
export interface KeyBuilder {
  /** The prefix in use. */
  readonly prefix: string;
  /** The pattern segment. */
  readonly pattern: string;
  /** The policy name, unescaped. */
  readonly name: string;
  /**
   * The Redis key of one part of one decision: `<prefix>:<pattern>:{<name>:<key>}:<part>`.
   * @param userKey The user's key (`''` for a policy-wide decision); normalized by {@link normalizeUserKey}.
   * @param part What the key holds (`'state'`, `'tokens'`, …); a constant of the store.
   */
  redisKey(userKey: string, part: string): string;
  /**
   * The Redis keys of several parts of one decision, in the order of `parts`. They share one hash
   * tag, hence one Cluster slot; the user key is normalized once.
   */
  redisKeys(userKey: string, parts: readonly string[]): string[];
  /** The hash tag of one decision, braces included: `{<name>:<key>}`. */
  hashTag(userKey: string): string;
  /**
   * The DynamoDB partition key of one part of one decision: `<prefix>:<pattern>:<name>:<part>:<key>`.
   * The user key comes last, as the only free-form segment, so no escaping is needed.
   * @param part What the item holds; a constant of the store, non-empty and without `:`.
   * @throws {TypeError} when `part` is empty or contains `:`.
   */
  dynamoPk(userKey: string, part: string): string;
}

/**
 * Creates the key builder of one policy; the constant segments are assembled here, once.
 *
 * ```ts
 * const keys = keyBuilder({ prefix: 'shop', pattern: 'rate-limit', name: 'partner-api' });
 * keys.redisKey('user-42', 'tokens'); // 'shop:rate-limit:{partner-api:user-42}:tokens'
 * keys.dynamoPk('user-42', 'bucket'); // 'shop:rate-limit:partner-api:bucket:user-42'
 * ```
 *
 * @throws {TypeError} naming the option, when `prefix`, `pattern` or `name` is invalid.
 */
export function keyBuilder(options: KeyBuilderOptions): KeyBuilder {
  const prefix = expectNonEmptyString('prefix', options.prefix ?? DEFAULT_KEY_PREFIX);
  rejectChars('prefix', prefix, /[{}]/, '`{` or `}`');
  const pattern = expectNonEmptyString('pattern', options.pattern);
  rejectChars('pattern', pattern, /[:{}]/, '`:`, `{` or `}`');
  const name = expectNonEmptyString('name', options.name);
  const escapedName = escapeName(name);
  const redisHead = `${prefix}:${pattern}:{${escapedName}:`;
  const dynamoHead = `${prefix}:${pattern}:${escapedName}:`;
  const tagHead = `{${escapedName}:`;

  return {
    prefix,
    pattern,
    name,
    redisKey: (userKey, part) => `${redisHead}${normalizeUserKey(userKey)}}:${part}`,
    redisKeys(userKey, parts) {
      const tagged = `${redisHead}${normalizeUserKey(userKey)}}:`;
      const keys = new Array<string>(parts.length);
      for (let i = 0; i < parts.length; i++) keys[i] = tagged + parts[i];
      return keys;
    },
    hashTag: (userKey) => `${tagHead}${normalizeUserKey(userKey)}}`,
    dynamoPk(userKey, part) {
      if (part.length === 0 || part.includes(':')) {
        throw new TypeError(
          `Expected \`part\` to be a non-empty string without \`:\`, got ${JSON.stringify(part)}`,
        );
      }
      return `${dynamoHead}${part}:${normalizeUserKey(userKey)}`;
    },
  };
}

/**
 * The form of a user key stored in keys: the key itself when it is safe, otherwise
 * `h:` + base64url(SHA-256(UTF-8 key)). A key is hashed when it is longer than
 * {@link MAX_USER_KEY_BYTES} UTF-8 bytes, contains `{` or `}`, or starts with `h:`.
 * Stable across processes and versions: replicas must agree on it.
 */
export function normalizeUserKey(userKey: string): string {
  if (typeof userKey !== 'string') {
    throw new TypeError(`Expected the user key to be a string, got ${typeof userKey}`);
  }
  if (needsHash(userKey)) {
    return HASHED_KEY_MARKER + createHash('sha256').update(userKey, 'utf8').digest('base64url');
  }
  return userKey;
}

// A UTF-16 code unit encodes to 1–3 UTF-8 bytes, so the exact byte count is only needed for
// lengths in between; short keys, the common case, skip the encoding.
const SURELY_SHORT_LENGTH = Math.floor(MAX_USER_KEY_BYTES / 3);

function needsHash(userKey: string): boolean {
  const length = userKey.length;
  if (length > MAX_USER_KEY_BYTES) return true;
  if (length > SURELY_SHORT_LENGTH && Buffer.byteLength(userKey, 'utf8') > MAX_USER_KEY_BYTES) {
    return true;
  }
  return userKey.startsWith(HASHED_KEY_MARKER) || userKey.includes('{') || userKey.includes('}');
}

function escapeName(name: string): string {
  return name.replace(/[%:{}]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

function rejectChars(option: string, value: string, forbidden: RegExp, description: string): void {
  if (forbidden.test(value)) {
    throw new TypeError(
      `Expected \`${option}\` to be a non-empty string without ${description}, got ${JSON.stringify(value)}`,
    );
  }
}
