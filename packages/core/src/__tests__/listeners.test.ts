import { afterEach, describe, expect, it, vi } from 'vitest';
import { LISTENER_ERROR_CODE, Listeners } from '../listeners.js';

describe('Listeners', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('calls every listener, and a disposer removes only its own subscription', () => {
    const listeners = new Listeners<number>('test onThing');
    const seen: number[] = [];
    const listener = (n: number) => seen.push(n);
    const first = listeners.add(listener);
    listeners.add(listener);
    expect(listeners.active).toBe(true);
    listeners.emit(1);
    first();
    first();
    listeners.emit(2);
    expect(seen).toEqual([1, 1, 2]);
    expect(listeners.size).toBe(1);
    listeners.clear();
    expect(listeners.active).toBe(false);
  });

  it('reports a listener that throws as a warning naming the hook, and goes on', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const listeners = new Listeners<string>('circuit-breaker onStateChange');
    const seen: string[] = [];
    listeners.add(() => {
      throw new Error('listener bug');
    });
    listeners.add((event) => seen.push(event));
    expect(() => listeners.emit('open')).not.toThrow();
    expect(seen).toEqual(['open']);
    expect(warn).toHaveBeenCalledWith(
      'A circuit-breaker onStateChange listener threw: listener bug',
      { type: 'BreakwaterWarning', code: LISTENER_ERROR_CODE },
    );
  });

  it('refuses a listener that is not a function, naming it', () => {
    const listeners = new Listeners<string>('x');
    expect(() => listeners.add('nope' as never)).toThrow(
      'Expected `listener` to be a function, got "nope"',
    );
  });
});
