// The fault proxy's link faults, resets and half-open connections, against a local echo server
// (timing bounds are generous: a loaded 2-core machine).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../../fault-proxy.js';

interface Echo {
  server: Server;
  port: number;
  /** Server-side sockets that closed. */
  closed: number;
}

async function startEcho(): Promise<Echo> {
  const echo: Echo = { server: createServer(), port: 0, closed: 0 };
  echo.server.on('connection', (socket: Socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      echo.closed++;
    });
  });
  await new Promise<void>((resolve) => echo.server.listen(0, '127.0.0.1', resolve));
  echo.port = (echo.server.address() as { port: number }).port;
  return echo;
}

async function client(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Sends `text` and resolves the ms until all of it came back, or `undefined` after `withinMs`. */
function roundTrip(socket: Socket, text: string, withinMs = 3_000): Promise<number | undefined> {
  const started = performance.now();
  return new Promise((resolve) => {
    let received = '';
    const timer = setTimeout(() => done(undefined), withinMs);
    const onData = (chunk: Buffer) => {
      received += chunk.toString();
      if (received.length >= text.length) done(performance.now() - started);
    };
    const done = (value: number | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(value);
    };
    socket.on('data', onData);
    socket.write(text);
  });
}

describe('fault proxy link faults', () => {
  let echo: Echo;
  let proxy: FaultProxy;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await proxy?.close();
    await new Promise<void>((resolve) => echo?.server.close(() => resolve()));
  });

  async function setUp(): Promise<Socket> {
    echo = await startEcho();
    proxy = await startFaultProxy({ host: '127.0.0.1', port: echo.port });
    const socket = await client(proxy.port);
    sockets.push(socket);
    return socket;
  }

  it('adds latency per direction, switchable at run time, and restore() clears it', async () => {
    const socket = await setUp();
    expect(await roundTrip(socket, 'warm')).toBeLessThan(150);
    proxy.setFaults({
      toUpstream: { latencyMs: 150 },
      toDownstream: { latencyMs: 100, jitterMs: 50 },
    });
    const slow = await roundTrip(socket, 'slow');
    expect(slow).toBeGreaterThanOrEqual(245);
    proxy.setFaults({ toDownstream: { latencyMs: 200 } });
    expect(await roundTrip(socket, 'down only')).toBeGreaterThanOrEqual(195);
    await proxy.restore();
    expect(proxy.faults).toEqual({});
    expect(await roundTrip(socket, 'fast again')).toBeLessThan(150);
  });

  it('limits bandwidth and keeps the bytes in order', async () => {
    const socket = await setUp();
    proxy.setFaults({ toDownstream: { bytesPerSecond: 20_000 } });
    const text = Array.from({ length: 2_000 }, (_, i) => String(i % 10))
      .join('')
      .repeat(5);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
    });
    const took = await roundTrip(socket, text, 5_000);
    // 10,000 bytes at 20,000 B/s: at least ~0.5 s.
    expect(took).toBeGreaterThanOrEqual(450);
    expect(received).toBe(text);
  });

  it('drops (blackholes) one direction while the connection stays open', async () => {
    const socket = await setUp();
    proxy.setFaults({ toDownstream: { drop: true } });
    expect(await roundTrip(socket, 'lost', 300)).toBeUndefined();
    expect(socket.destroyed).toBe(false);
    proxy.setFaults({});
    expect(await roundTrip(socket, 'back')).toBeLessThan(150);
  });

  it('resets open connections with an RST', async () => {
    const socket = await setUp();
    const error = new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      socket.once('error', resolve);
      setTimeout(() => reject(new Error('no reset within 2 s')), 2_000).unref();
    });
    proxy.reset();
    expect((await error).code).toBe('ECONNRESET');
    // New connections are served as usual.
    const next = await client(proxy.port);
    sockets.push(next);
    expect(await roundTrip(next, 'new')).toBeLessThan(150);
  });

  it('leaves connections half-open: the server sees the client leave, the client sees nothing', async () => {
    const socket = await setUp();
    expect(await roundTrip(socket, 'before')).toBeLessThan(150);
    let clientClosed = false;
    socket.on('close', () => {
      clientClosed = true;
    });
    proxy.halfOpen();
    await expect.poll(() => echo.closed, { timeout: 2_000 }).toBe(1);
    expect(await roundTrip(socket, 'into the void', 300)).toBeUndefined();
    expect(clientClosed).toBe(false);
    expect(socket.destroyed).toBe(false);
  });

  it('names a bad fault value', async () => {
    await setUp();
    expect(() => proxy.setFaults({ toUpstream: { latencyMs: -1 } })).toThrow(
      'Expected `toUpstream.latencyMs` to be a finite number >= 0, got -1',
    );
    expect(() => proxy.setFaults({ toDownstream: { bytesPerSecond: 0 } })).toThrow(
      /toDownstream\.bytesPerSecond.*got 0/,
    );
  });
});
