import { describe, expect, it, vi } from 'vitest';
import {
  BreakwaterError,
  ExecutionRejectedError,
  hasErrorKind,
  isBreakwaterError,
  isExecutionRejectedError,
  isStoreError,
  isStoreTimeoutError,
  isTimeoutError,
  StoreError,
  StoreTimeoutError,
  TimeoutError,
} from '../index.js';
import { CORE_PACKAGE } from '../version.js';

describe('errors', () => {
  it('form one hierarchy with names, fields and causes', () => {
    const cause = new Error('root');
    const error = new TimeoutError('late', {
      policyName: 'db',
      timeoutMs: 50,
      retryAfterMs: 10,
      cause,
    });
    expect(error).toBeInstanceOf(ExecutionRejectedError);
    expect(error).toBeInstanceOf(BreakwaterError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('TimeoutError');
    expect(error).toMatchObject({ policyName: 'db', timeoutMs: 50, retryAfterMs: 10, cause });
    expect(error.stack).toContain('late');
  });

  it('guards recognise each kind and nothing else', () => {
    const timeoutError = new TimeoutError('t', { policyName: 'p', timeoutMs: 1 });
    const rejected = new ExecutionRejectedError('r', { policyName: 'p' });
    const storeTimeout = new StoreTimeoutError('s', {
      store: 'redis',
      operation: 'flush',
      deadlineMs: 5,
    });
    const store = new StoreError('s', { store: 'redis', operation: 'flush' });

    expect(
      [isTimeoutError, isExecutionRejectedError, isBreakwaterError].map((g) => g(timeoutError)),
    ).toEqual([true, true, true]);
    expect(isTimeoutError(rejected)).toBe(false);
    expect(isExecutionRejectedError(rejected)).toBe(true);
    expect(isStoreTimeoutError(storeTimeout) && isStoreError(storeTimeout)).toBe(true);
    expect(isStoreTimeoutError(store)).toBe(false);
    expect(isExecutionRejectedError(store)).toBe(false);
    for (const value of [
      new Error('plain'),
      null,
      undefined,
      'TimeoutError',
      { name: 'TimeoutError' },
      42,
    ]) {
      expect(isBreakwaterError(value)).toBe(false);
      expect(isTimeoutError(value)).toBe(false);
    }
    expect(hasErrorKind(storeTimeout, 'StoreError')).toBe(true);
  });

  it('guards work across duplicated copies of the package', async () => {
    vi.resetModules();
    // A query string makes the module loader treat it as a second, independent copy.
    const copyUrl = '../errors.js?copy';
    const copy = (await import(/* @vite-ignore */ copyUrl)) as typeof import('../errors.js');
    expect(copy.TimeoutError).not.toBe(TimeoutError);
    const foreign = new copy.TimeoutError('from the other copy', { policyName: 'p', timeoutMs: 1 });
    expect(foreign).not.toBeInstanceOf(TimeoutError);
    expect(isTimeoutError(foreign)).toBe(true);
    expect(isExecutionRejectedError(foreign)).toBe(true);
    expect(copy.isTimeoutError(new TimeoutError('local', { policyName: 'p', timeoutMs: 1 }))).toBe(
      true,
    );
  });

  it('subclasses in other packages register their own kind', () => {
    class BrokenCircuitError extends ExecutionRejectedError {
      constructor() {
        super('open', { policyName: 'breaker', retryAfterMs: 100 });
        this.brand('BrokenCircuitError');
      }
    }
    const error = new BrokenCircuitError();
    expect(error.name).toBe('BrokenCircuitError');
    expect(hasErrorKind(error, 'BrokenCircuitError')).toBe(true);
    expect(isExecutionRejectedError(error)).toBe(true);
    expect(error.retryAfterMs).toBe(100);
  });
});

describe('package metadata', () => {
  it('reports the version in package.json to OpenTelemetry', async () => {
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    expect(CORE_PACKAGE).toEqual({ name: manifest.name, version: manifest.version });
  });
});
