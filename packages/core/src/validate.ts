/**
 * Option validation shared by every Breakwater package. Each check throws at construction with a
 * message that names the option and shows the value received:
 * ``RangeError: Expected `failureRatio` in (0, 1], got 1.5``.
 */

/** Renders a received value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return value.name ? `function ${value.name}` : 'a function';
  if (typeof value === 'symbol') return value.toString();
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return 'an object';
  }
}

function fail(name: string, expectation: string, value: unknown, ErrorType = RangeError): never {
  throw new ErrorType(`Expected \`${name}\` ${expectation}, got ${describeValue(value)}`);
}

/** A finite number > 0. */
export function expectPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(
      name,
      'to be a finite number > 0',
      value,
      typeof value === 'number' ? RangeError : TypeError,
    );
  }
  return value;
}

/** A finite number ≥ 0. */
export function expectNonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(
      name,
      'to be a finite number >= 0',
      value,
      typeof value === 'number' ? RangeError : TypeError,
    );
  }
  return value;
}

/** An integer ≥ `min` (default 1). */
export function expectInteger(name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(
      name,
      `to be an integer >= ${min}`,
      value,
      typeof value === 'number' ? RangeError : TypeError,
    );
  }
  return value;
}

/** A number in the half-open interval (0, 1]. */
export function expectRatio(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    fail(name, 'in (0, 1]', value, typeof value === 'number' ? RangeError : TypeError);
  }
  return value;
}

/** A number in the closed interval [0, 1]. */
export function expectUnitInterval(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    fail(name, 'in [0, 1]', value, typeof value === 'number' ? RangeError : TypeError);
  }
  return value;
}

/**
 * A function.
 * @typeParam F - the function type the caller expects; only `typeof value === 'function'` is
 * checked.
 */
export function expectFunction<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
): F {
  if (typeof value !== 'function') throw expectedFunctionError(name, value);
  return value as F;
}

/**
 * The error {@link expectFunction} throws, to reject with instead: every policy's `execute` answers
 * a `fn` that is not a function with it (``TypeError: Expected `fn` to be a function, got 42``)
 * before running anything, so it is never retried, counted as a failure or answered by a fallback.
 */
export function expectedFunctionError(name: string, value: unknown): TypeError {
  return new TypeError(`Expected \`${name}\` to be a function, got ${describeValue(value)}`);
}

/** A non-empty string. */
export function expectNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    fail(name, 'to be a non-empty string', value, TypeError);
  }
  return value;
}

/** One of the listed string values. */
export function expectOneOf<const V extends string>(
  name: string,
  value: unknown,
  allowed: readonly V[],
): V {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(name, `to be one of ${allowed.map((a) => `'${a}'`).join(' | ')}`, value, TypeError);
  }
  return value as V;
}

/** A plain object (options bag). */
export function expectObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(name, 'to be an object', value, TypeError);
  }
  return value as Record<string, unknown>;
}
