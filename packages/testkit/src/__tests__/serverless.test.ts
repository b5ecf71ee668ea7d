import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { type FreezeThaw, freezeThaw, jumpClock } from '../serverless.js';

describe('freezeThaw()', () => {
  let env: FreezeThaw | undefined;
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  it('holds the timers of a frozen container and runs them at the next thaw', async () => {
    env = freezeThaw();
    const fired: string[] = [];
    const a = await env.container('a', () => ({
      start: () => {
        setTimeout(() => fired.push('timeout'), 5);
        const interval = setInterval(() => fired.push('interval'), 5);
        return interval;
      },
    }));
    let interval: NodeJS.Timeout | undefined;
    await a.invoke(() => {
      interval = a.app.start();
    }, {});
    expect(a.state).toBe('frozen');
    // Until the interval came due a second time (not a fixed 40 ms: a worker descheduled on a
    // loaded machine sees a sleep's end in the same timers turn as the interval's first tick).
    const deadline = performance.now() + 2_000;
    while (a.timersDueWhileFrozen < 3 && performance.now() < deadline) await sleep(5);
    // Frozen: nothing ran, the interval's missed ticks are one held callback.
    expect(fired).toEqual([]);
    expect(a.heldTimers).toBe(2);
    expect(a.timersDueWhileFrozen).toBeGreaterThanOrEqual(3);
    await a.invoke(() => fired.length, {});
    expect(fired.sort()).toEqual(['interval', 'timeout']);
    clearInterval(interval);
  });

  it("fires at thaw the timers that would have come due during the clock's jumps", async () => {
    env = freezeThaw();
    const fired: string[] = [];
    const a = await env.container('a', () => undefined);
    await a.invoke(() => {
      setTimeout(() => fired.push('in 1 s'), 1_000);
      setTimeout(() => fired.push('in 5 min'), 300_000);
      setInterval(() => fired.push('every 10 s'), 10_000);
    }, {});
    env.clock.jump(60_000);
    await a.invoke(() => undefined, {});
    // Like a real thaw: what fell due in the frozen minute fired once, in due order.
    expect(fired).toEqual(['in 1 s', 'every 10 s']);
    expect(a.heldTimers).toBe(0);
    await a.invoke(() => undefined, {});
    expect(fired).toEqual(['in 1 s', 'every 10 s']);
    env.clock.jump(300_000);
    await a.invoke(() => undefined, {});
    expect(fired).toEqual(['in 1 s', 'every 10 s', 'every 10 s', 'in 5 min']);
  });

  it('leaves timers made outside containers alone', async () => {
    env = freezeThaw();
    await env.container('a', () => undefined);
    let fired = false;
    setTimeout(() => {
      fired = true;
    }, 1);
    await sleep(20);
    expect(fired).toBe(true);
  });

  it('a discarded container never runs its timers again', async () => {
    env = freezeThaw();
    let fired = 0;
    const a = await env.container('a', () => undefined);
    await a.invoke(() => {
      setTimeout(() => fired++, 5);
      setInterval(() => fired++, 5);
    }, {});
    a.discard();
    await sleep(30);
    expect(fired).toBe(0);
    expect(a.heldTimers).toBe(0);
    await expect(a.invoke(() => 1, {})).rejects.toThrow('discarded');
  });

  it('holds store requests started while frozen, and counts the requests of an invocation', async () => {
    env = freezeThaw();
    const sent: string[] = [];
    class PingCommand {}
    const raw = {
      send: async (command: unknown) => {
        sent.push((command as object).constructor.name);
        return 'pong';
      },
      region: 'local',
    };
    const a = await env.container('a', () => undefined);
    const client = a.client(raw);
    expect(client.region).toBe('local');
    let late: Promise<unknown> | undefined;
    await a.invoke(async () => {
      await client.send(new PingCommand());
      // Work left behind: it starts after the invocation returned.
      late = sleep(1).then(() => client.send(new PingCommand()));
    }, {});
    expect(a.requests).toEqual(['PingCommand']);
    await sleep(20);
    expect(sent).toEqual(['PingCommand']);
    await a.invoke(() => late, {});
    expect(sent).toEqual(['PingCommand', 'PingCommand']);
    expect(a.requests).toEqual(['PingCommand']);
  });

  it('gives the invocation a context whose remaining time runs down', async () => {
    env = freezeThaw();
    const a = await env.container('a', () => undefined);
    const [first, later] = await a.invoke(
      async (_event, context) => {
        const before = context.getRemainingTimeInMillis();
        await sleep(20);
        return [before, context.getRemainingTimeInMillis()];
      },
      {},
      { timeoutMs: 1_000 },
    );
    expect(first).toBeLessThanOrEqual(1_000);
    expect(first).toBeGreaterThan(900);
    expect(later).toBeLessThanOrEqual(first! - 15);
  });

  it('restores the global timers once every harness is closed', async () => {
    const original = globalThis.setTimeout;
    const h = freezeThaw();
    await h.container('a', () => undefined);
    expect(globalThis.setTimeout).not.toBe(original);
    h.close();
    expect(globalThis.setTimeout).toBe(original);
  });
});

describe('jumpClock()', () => {
  it('runs in real time and jumps forward on demand', async () => {
    const clock = jumpClock();
    // Bracketed by real readings, so that no pause between them (a loaded machine) matters.
    const before = Date.now();
    const start = clock.now();
    const after = Date.now();
    expect(start).toBeGreaterThanOrEqual(before);
    expect(start).toBeLessThanOrEqual(after);
    clock.jump(60_000);
    const beforeJumped = Date.now();
    const jumped = clock.now();
    expect(jumped - beforeJumped).toBeGreaterThanOrEqual(60_000);
    expect(jumped - Date.now()).toBeLessThanOrEqual(60_000);
    expect(clock.jumpedMs).toBe(60_000);
    expect(() => clock.jump(-1)).toThrow('Expected `ms` to be a finite number >= 0, got -1');
    const aborted = new AbortController();
    const sleeping = clock.sleep(10_000, aborted.signal);
    aborted.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    await clock.sleep(1);
  });
});
