import { connect, createServer, type Server, type Socket } from 'node:net';

/** What a {@link FaultProxy} does with connections. */
export type FaultProxyMode = 'pass' | 'hang' | 'refuse';

/** A userspace TCP proxy on 127.0.0.1 that can pass traffic through, freeze it, or refuse it. */
export interface FaultProxy {
  /** The port clients connect to; the same for the proxy's whole life. */
  readonly port: number;
  /** What it currently does. */
  readonly mode: FaultProxyMode;
  /**
   * Freezes traffic, like a stopped server process: new connections are accepted, and nothing is
   * answered or forwarded on any connection (bytes are held, not dropped) until {@link restore}.
   */
  hang(): void;
  /**
   * Stops listening (new connections are refused) and destroys every open connection, like a
   * crashed server process. Resolves once the port is released.
   */
  refuse(): Promise<void>;
  /**
   * Passes traffic through again on the same port: held bytes are delivered in order and held
   * connections are connected upstream, as a server resumed after SIGSTOP answers late.
   */
  restore(): Promise<void>;
  /** Destroys every connection and stops listening. Idempotent. */
  close(): Promise<void>;
}

/** One client connection and its upstream connection. */
class ProxiedConnection {
  readonly #downstream: Socket;
  readonly #target: { host: string; port: number };
  #upstream: Socket | undefined;
  #upstreamConnected = false;
  #held: boolean;
  // Bytes waiting while the proxy hangs (or until the upstream connection is up).
  #toUpstream: Buffer[] = [];
  #toDownstream: Buffer[] = [];
  #upstreamEnded = false;
  #closed = false;

  constructor(
    downstream: Socket,
    target: { host: string; port: number },
    held: boolean,
    readonly onClose: () => void,
  ) {
    this.#downstream = downstream;
    this.#target = target;
    this.#held = held;
    downstream.on('data', (chunk: Buffer) => {
      if (this.#held || !this.#upstreamConnected) this.#toUpstream.push(chunk);
      else this.#upstream?.write(chunk);
    });
    downstream.on('error', () => this.destroy());
    downstream.on('close', () => this.destroy());
    // A hung server never even opens its side: connect upstream only when traffic may flow.
    if (!held) this.#connectUpstream();
  }

  hold(): void {
    this.#held = true;
  }

  release(): void {
    if (this.#closed) return;
    this.#held = false;
    if (this.#upstream === undefined) {
      this.#connectUpstream();
      return;
    }
    this.#flush();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#downstream.destroy();
    this.#upstream?.destroy();
    this.onClose();
  }

  #connectUpstream(): void {
    const upstream = connect(this.#target);
    this.#upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on('connect', () => {
      this.#upstreamConnected = true;
      if (!this.#held) this.#flush();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.#held) this.#toDownstream.push(chunk);
      else this.#downstream.write(chunk);
    });
    upstream.on('end', () => {
      this.#upstreamEnded = true;
      if (!this.#held) this.#downstream.end();
    });
    upstream.on('error', () => this.destroy());
    upstream.on('close', () => {
      // While held, the client must not learn that the upstream went away (a frozen server
      // tells nothing); the close reaches it when traffic flows again.
      if (!this.#held) this.destroy();
    });
  }

  #flush(): void {
    if (this.#upstreamConnected) {
      for (const chunk of this.#toUpstream.splice(0)) this.#upstream?.write(chunk);
    }
    for (const chunk of this.#toDownstream.splice(0)) this.#downstream.write(chunk);
    if (this.#upstreamEnded) this.#downstream.end();
    if (this.#upstream?.destroyed) this.destroy();
  }
}

/**
 * Starts a {@link FaultProxy} on a free port (or `port`) of 127.0.0.1 that forwards to `target`.
 * It starts in `'pass'` mode.
 */
export async function startFaultProxy(
  target: { host: string; port: number },
  port = 0,
): Promise<FaultProxy> {
  const connections = new Set<ProxiedConnection>();
  let mode: FaultProxyMode = 'pass';
  let server: Server | undefined;
  let closed = false;

  const listen = async (onPort: number): Promise<number> => {
    const next = createServer({ noDelay: true }, (socket) => {
      const connection: ProxiedConnection = new ProxiedConnection(
        socket,
        target,
        mode === 'hang',
        () => connections.delete(connection),
      );
      connections.add(connection);
    });
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen({ port: onPort, host: '127.0.0.1' }, () => {
        next.off('error', reject);
        resolve();
      });
    });
    server = next;
    const address = next.address();
    if (typeof address !== 'object' || address === null) throw new Error('proxy has no address');
    return address.port;
  };

  const stopListening = async (): Promise<void> => {
    const running = server;
    server = undefined;
    for (const connection of [...connections]) connection.destroy();
    if (running !== undefined) {
      await new Promise<void>((resolve) => running.close(() => resolve()));
    }
  };

  const boundPort = await listen(port);

  return {
    port: boundPort,
    get mode() {
      return mode;
    },
    hang() {
      if (closed) throw new Error('The fault proxy is closed');
      if (mode === 'refuse') {
        throw new Error('Cannot hang a proxy that refuses connections; restore() it first');
      }
      mode = 'hang';
      for (const connection of connections) connection.hold();
    },
    async refuse() {
      if (closed) throw new Error('The fault proxy is closed');
      mode = 'refuse';
      await stopListening();
    },
    async restore() {
      if (closed) throw new Error('The fault proxy is closed');
      if (mode === 'refuse') await listen(boundPort);
      mode = 'pass';
      for (const connection of [...connections]) connection.release();
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopListening();
    },
  };
}
