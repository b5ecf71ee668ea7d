import {
  afterEach,
  beforeEach,
  describe,
  expect,
  expectTypeOf,
  it,
  type MockInstance,
  vi,
} from 'vitest';
import { FALLBACK_OPTIONS } from '../fallback.js';
import {
  BREAKWATER_WARNING_TYPE,
  type FallbackOptions,
  fallback,
  type KnownOptions,
  type TimeoutOptions,
  timeout,
  UNKNOWN_OPTION_WARNING_CODE,
  warnUnknownOptions,
} from '../index.js';
import { TIMEOUT_OPTIONS } from '../timeout.js';

let emitWarning: MockInstance<typeof process.emitWarning>;

beforeEach(() => {
  emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
});
afterEach(() => {
  emitWarning.mockRestore();
});

/** The messages warned about so far. */
function warned(): string[] {
  return emitWarning.mock.calls.map(([message]) => String(message));
}

describe('warnUnknownOptions()', () => {
  const known = { name: true, maxAttempts: true } as const;

  it('warns with the BreakwaterWarning type and the documented code, naming factory and option', () => {
    warnUnknownOptions('demo()', { name: 'x', colour: 'blue' }, { known });
    expect(emitWarning).toHaveBeenCalledTimes(1);
    expect(emitWarning).toHaveBeenCalledWith('demo(): unknown option `colour` (ignored)', {
      type: BREAKWATER_WARNING_TYPE,
      code: UNKNOWN_OPTION_WARNING_CODE,
    });
    expect(BREAKWATER_WARNING_TYPE).toBe('BreakwaterWarning');
    expect(UNKNOWN_OPTION_WARNING_CODE).toBe('BREAKWATER_UNKNOWN_OPTION');
  });

  it('warns once per factory and option name per process', () => {
    for (let i = 0; i < 5; i++) warnUnknownOptions('once()', { retries: 3 }, { known });
    warnUnknownOptions('other()', { retries: 3 }, { known });
    expect(warned()).toEqual([
      'once(): unknown option `retries` (ignored)',
      'other(): unknown option `retries` (ignored)',
    ]);
  });

  it('names the replacement of a renamed option, with its note', () => {
    warnUnknownOptions(
      'renames()',
      { retries: 3, resetTimeout: 1, unref: true },
      {
        known,
        renames: {
          retries: {
            use: 'maxAttempts',
            note: "p-retry's `retries` counts retries; `maxAttempts` counts attempts: retries + 1",
          },
          resetTimeout: 'breakDurationMs',
          unref: { note: 'not needed: waits end with the call' },
        },
      },
    );
    expect(warned()).toEqual([
      "renames(): unknown option `retries` (ignored) — did you mean `maxAttempts`? (p-retry's `retries` counts retries; `maxAttempts` counts attempts: retries + 1)",
      'renames(): unknown option `resetTimeout` (ignored) — did you mean `breakDurationMs`?',
      'renames(): unknown option `unref` (ignored) — not needed: waits end with the call',
    ]);
  });

  it('names nested options by their path, and leaves non-objects and known options alone', () => {
    warnUnknownOptions(
      'nested()',
      { kind: 'time', size: 3 },
      { known: { kind: true }, path: 'window.' },
    );
    warnUnknownOptions('nested()', undefined, { known });
    warnUnknownOptions('nested()', 42, { known });
    warnUnknownOptions('nested()', [1, 2], { known });
    warnUnknownOptions('nested()', { name: 'x', maxAttempts: 2 }, { known });
    // Inherited names are not options the factory knows.
    warnUnknownOptions('nested()', { toString: 1 }, { known });
    expect(warned()).toEqual([
      'nested(): unknown option `window.size` (ignored)',
      'nested(): unknown option `toString` (ignored)',
    ]);
  });

  it('KnownOptions<T> lists every option of every member of a union', () => {
    type Options = { a: number; shared?: string } | { b: boolean; shared?: string };
    expectTypeOf<keyof KnownOptions<Options>>().toEqualTypeOf<'a' | 'b' | 'shared'>();
    // @ts-expect-error an option missing from the list fails to compile
    const missing = { a: true, shared: true } as const satisfies KnownOptions<Options>;
    const extra = {
      a: true,
      b: true,
      shared: true,
      // @ts-expect-error so does one the type does not have
      c: true,
    } as const satisfies KnownOptions<Options>;
    expect([missing, extra]).toHaveLength(2);
  });
});

describe("core's factories", () => {
  it('timeout() and fallback() warn once per unknown option', () => {
    timeout({ ms: 10, milliseconds: 10 } as TimeoutOptions);
    timeout({ ms: 10, milliseconds: 10 } as TimeoutOptions);
    fallback({ value: 1, fallbackValue: 1 } as FallbackOptions<number>);
    fallback({ value: 1, fallbackValue: 1 } as FallbackOptions<number>);
    expect(warned()).toEqual([
      'timeout(): unknown option `milliseconds` (ignored)',
      'fallback(): unknown option `fallbackValue` (ignored)',
    ]);
  });

  it('do not warn for any option they know', () => {
    const everyTimeoutOption = {
      ms: 10,
      strategy: 'aggressive',
      name: 'bounded',
    } satisfies Required<TimeoutOptions>;
    timeout(everyTimeoutOption);
    fallback({ value: 1, shouldHandle: () => true, name: 'safe' });
    fallback({ handler: () => 1, shouldHandle: () => true, name: 'safe' });
    expect(Object.keys(everyTimeoutOption).sort()).toEqual(Object.keys(TIMEOUT_OPTIONS).sort());
    expect(Object.keys(FALLBACK_OPTIONS).sort()).toEqual([
      'handler',
      'name',
      'shouldHandle',
      'value',
    ]);
    expect(emitWarning).not.toHaveBeenCalled();
  });
});
