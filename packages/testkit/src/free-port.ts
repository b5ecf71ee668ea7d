import { createServer } from 'node:net';

/** Options of {@link findFreePort}. */
export interface FindFreePortOptions {
  /**
   * Also require `port + 10000` to be free, the Redis Cluster bus port of a node on `port`.
   * @default false
   */
  withClusterBus?: boolean;
}

const MAX_ATTEMPTS = 100;

// Ports handed out by this process recently: two servers started back to back must not be given
// the same port just because the first one has not bound it yet.
const recentlyHandedOut = new Set<number>();

/** Binds `port` on 127.0.0.1 (0 = any) and releases it; resolves the bound port or `undefined`. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it by binding port 0). Another
 * process can still take it before the caller binds it, so callers retry on "address in use".
 */
export async function findFreePort(options: FindFreePortOptions = {}): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = await probe(0);
    if (port === undefined || recentlyHandedOut.has(port)) continue;
    if (options.withClusterBus) {
      const busPort = port + 10_000;
      if (busPort > 65_535 || recentlyHandedOut.has(busPort)) continue;
      if ((await probe(busPort)) === undefined) continue;
      remember(busPort);
    }
    remember(port);
    return port;
  }
  throw new Error(`No free TCP port found on 127.0.0.1 after ${MAX_ATTEMPTS} attempts`);
}

function remember(port: number): void {
  recentlyHandedOut.add(port);
  // Forget it after a while: the set only has to bridge the gap between "found" and "bound".
  setTimeout(() => recentlyHandedOut.delete(port), 30_000).unref();
}
