import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  type LinkFaults,
  type ProxyFaults,
  ShapedLink,
  validateLinkFaults,
} from './nemesis/link-faults.js';

/** What a {@link FaultProxy} does with connections. */
export type FaultProxyMode = 'pass' | 'hang' | 'refuse';

/**
 * A userspace TCP proxy on 127.0.0.1 that can pass traffic through, freeze it, or refuse it, and,
 * per direction, delay, throttle or drop it; it can also reset its connections or leave them
 * half-open. Every fault is switchable at run time.
 */
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
   * connections are connected upstream, as a server resumed after SIGSTOP answers late. Clears
   * the link faults ({@link setFaults}); half-open connections stay dead.
   */
  restore(): Promise<void>;
  /**
   * The link faults in force (latency, jitter, bandwidth, drop per direction). {@link restore}
   * clears them.
   */
  readonly faults: ProxyFaults;
  /**
   * Replaces the link faults: every chunk forwarded from now on, on open and new connections,
   * goes through them (chunks already delayed keep their delivery time). `{}` clears them. Throws
   * a RangeError naming a negative or non-finite number.
   */
  setFaults(faults: ProxyFaults): void;
  /**
   * Aborts every open connection with a TCP RST on both sides (new connections are accepted as
   * usual), like a middlebox that dropped its state. Resolves at once.
   */
  reset(): void;
  /**
   * Makes every open connection half-open: the server side is closed (the server sees the client
   * leave), while the client's side stays open, unanswered and without a FIN, until the client
   * gives up on it or the proxy closes. New connections are not affected.
   */
  halfOpen(): void;
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
  // Half-open: the server side is gone, the client's side stays open and hears nothing.
  #severed = false;
  // Bytes waiting while the proxy hangs (or until the upstream connection is up).
  #toUpstream: Buffer[] = [];
  #toDownstream: Buffer[] = [];
  readonly #upstreamLink: ShapedLink;
  readonly #downstreamLink: ShapedLink;
  #upstreamEnded = false;
  #closed = false;

  constructor(
    downstream: Socket,
    target: { host: string; port: number },
    held: boolean,
    faults: () => ProxyFaults,
    readonly onClose: () => void,
  ) {
    this.#downstream = downstream;
    this.#target = target;
    this.#held = held;
    this.#upstreamLink = new ShapedLink(
      (chunk) => this.#upstream?.write(chunk),
      () => faults().toUpstream ?? NO_FAULTS,
    );
    this.#downstreamLink = new ShapedLink(
      (chunk) => this.#downstream.write(chunk),
      () => faults().toDownstream ?? NO_FAULTS,
    );
    downstream.on('data', (chunk: Buffer) => {
      if (this.#severed) return;
      if (this.#held || !this.#upstreamConnected) this.#toUpstream.push(chunk);
      else this.#upstreamLink.write(chunk);
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
    if (this.#closed || this.#severed) return;
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
    this.#upstreamLink.close();
    this.#downstreamLink.close();
    this.#downstream.destroy();
    this.#upstream?.destroy();
    this.onClose();
  }

  /** Aborts both sides with a TCP RST, as a middlebox or a rebooted host would. */
  reset(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#upstreamLink.close();
    this.#downstreamLink.close();
    this.#downstream.resetAndDestroy();
    this.#upstream?.resetAndDestroy();
    this.onClose();
  }

  /**
   * Makes the connection half-open: the server's side is closed, the client's stays open, and
   * nothing the client sends is answered, until the client gives up on it.
   */
  sever(): void {
    if (this.#closed || this.#severed) return;
    this.#severed = true;
    this.#toUpstream.length = 0;
    this.#toDownstream.length = 0;
    this.#upstreamLink.close();
    this.#downstreamLink.close();
    this.#upstream?.destroy();
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
      if (this.#severed) return;
      if (this.#held) this.#toDownstream.push(chunk);
      else this.#downstreamLink.write(chunk);
    });
    upstream.on('end', () => {
      this.#upstreamEnded = true;
      if (!this.#held) this.#endDownstream();
    });
    upstream.on('error', () => {
      if (!this.#severed) this.destroy();
    });
    upstream.on('close', () => {
      // While held, the client must not learn that the upstream went away (a frozen server
      // tells nothing); the close reaches it when traffic flows again. A severed connection
      // keeps its client side open: that is what half-open means.
      if (!this.#held && !this.#severed) this.#downstreamLink.whenDrained(() => this.destroy());
    });
  }

  #endDownstream(): void {
    if (this.#severed) return;
    this.#downstreamLink.whenDrained(() => this.#downstream.end());
  }

  #flush(): void {
    if (this.#upstreamConnected) {
      for (const chunk of this.#toUpstream.splice(0)) this.#upstreamLink.write(chunk);
    }
    for (const chunk of this.#toDownstream.splice(0)) this.#downstreamLink.write(chunk);
    if (this.#upstreamEnded) this.#endDownstream();
    if (this.#upstream?.destroyed) this.#downstreamLink.whenDrained(() => this.destroy());
  }
}

const NO_FAULTS: LinkFaults = {};

export type { LinkFaults, ProxyFaults };

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
  let faults: ProxyFaults = {};
  let server: Server | undefined;
  let closed = false;

  const listen = async (onPort: number): Promise<number> => {
    const next = createServer({ noDelay: true }, (socket) => {
      const connection: ProxiedConnection = new ProxiedConnection(
        socket,
        target,
        mode === 'hang',
        () => faults,
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
      faults = {};
      for (const connection of [...connections]) connection.release();
    },
    get faults() {
      return faults;
    },
    setFaults(next: ProxyFaults) {
      if (closed) throw new Error('The fault proxy is closed');
      validateLinkFaults(next.toUpstream, 'toUpstream');
      validateLinkFaults(next.toDownstream, 'toDownstream');
      faults = {
        toUpstream: next.toUpstream && { ...next.toUpstream },
        toDownstream: next.toDownstream && { ...next.toDownstream },
      };
    },
    reset() {
      if (closed) throw new Error('The fault proxy is closed');
      for (const connection of [...connections]) connection.reset();
    },
    halfOpen() {
      if (closed) throw new Error('The fault proxy is closed');
      for (const connection of connections) connection.sever();
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopListening();
    },
  };
}
