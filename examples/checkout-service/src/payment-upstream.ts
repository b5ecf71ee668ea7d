/**
 * A stand-in for a payment provider: `POST /charge` answers after `latencyMs`, fails with
 * probability `failureRate`, and during an outage fails every charge (slowly, as a struggling
 * service does). `GET /admin` shows the settings and what it received; `POST /admin` with a JSON
 * body changes the settings:
 *
 * ```sh
 * curl -X POST localhost:4001/admin -d '{"outage":true}'
 * curl -X POST localhost:4001/admin -d '{"outage":false,"failureRate":0.1,"latencyMs":50}'
 * ```
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamSettings {
  /** Share of charges that fail with 503 when there is no outage, in [0, 1]. */
  failureRate: number;
  /** Time every charge takes, in ms. */
  latencyMs: number;
  /** Every charge fails with 503 after `outageLatencyMs`. */
  outage: boolean;
  /** Time a charge takes to fail during an outage, in ms. */
  outageLatencyMs: number;
}

export interface UpstreamCounters {
  /** Charges received. */
  received: number;
  /** Charges answered with 503. */
  failed: number;
}

export interface PaymentUpstream {
  readonly url: string;
  readonly settings: Readonly<UpstreamSettings>;
  readonly counters: Readonly<UpstreamCounters>;
  update(settings: Partial<UpstreamSettings>): void;
  close(): Promise<void>;
}

export const HEALTHY_UPSTREAM: Readonly<UpstreamSettings> = {
  failureRate: 0.02,
  latencyMs: 15,
  outage: false,
  outageLatencyMs: 150,
};

async function readJson(request: IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of request) body += chunk;
  return body === '' ? {} : JSON.parse(body);
}

function validSettings(value: unknown): Partial<UpstreamSettings> {
  if (typeof value !== 'object' || value === null) throw new TypeError('expected a JSON object');
  const input = value as Record<string, unknown>;
  const settings: Partial<UpstreamSettings> = {};
  for (const key of ['failureRate', 'latencyMs', 'outageLatencyMs'] as const) {
    if (input[key] === undefined) continue;
    const n = input[key];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (key === 'failureRate' && n > 1)) {
      throw new RangeError(`invalid ${key}: ${JSON.stringify(n)}`);
    }
    settings[key] = n;
  }
  if (input.outage !== undefined) {
    if (typeof input.outage !== 'boolean') throw new TypeError('outage must be a boolean');
    settings.outage = input.outage;
  }
  return settings;
}

export async function startPaymentUpstream(
  options: { port?: number; settings?: Partial<UpstreamSettings> } = {},
): Promise<PaymentUpstream> {
  const settings: UpstreamSettings = { ...HEALTHY_UPSTREAM, ...options.settings };
  const counters: UpstreamCounters = { received: 0, failed: 0 };
  const update = (next: Partial<UpstreamSettings>) => Object.assign(settings, next);

  const server: Server = createServer((request, response) => {
    const path = request.url ?? '/';
    if (path === '/charge' && request.method === 'POST') {
      counters.received++;
      const outage = settings.outage;
      const fails = outage || Math.random() < settings.failureRate;
      const delay = outage ? settings.outageLatencyMs : settings.latencyMs;
      request.resume();
      const timer = setTimeout(() => {
        if (fails) {
          counters.failed++;
          response.writeHead(503, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: outage ? 'outage' : 'transient failure' }));
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ paymentId: `pay_${randomUUID()}` }));
      }, delay);
      // The caller gave up (its timeout or abort): stop working on its behalf.
      response.on('close', () => clearTimeout(timer));
      return;
    }
    if (path === '/admin' && request.method === 'GET') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ settings, counters }));
      return;
    }
    if (path === '/admin' && request.method === 'POST') {
      readJson(request)
        .then((body) => {
          update(validSettings(body));
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ settings }));
        })
        .catch((error: unknown) => {
          response.writeHead(400, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: String(error) }));
        });
      return;
    }
    response.writeHead(404).end();
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    settings,
    counters,
    update,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
