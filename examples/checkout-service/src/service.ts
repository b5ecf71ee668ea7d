/**
 * The checkout service: one replica, on node:http.
 *
 * | Route                 | What it does                                                                   |
 * | --------------------- | ------------------------------------------------------------------------------ |
 * | `POST /orders`        | prices the product (cache), charges the payment upstream through              |
 * |                       | `pipeline(retry, breaker, bulkhead)`, stores the order                         |
 * | `GET /orders/:id`     | the stored order                                                               |
 * | `GET /products/:id`   | cache-aside over the slow catalog, stale-while-revalidate                      |
 * | `GET /metrics`        | Prometheus text (OpenTelemetry Prometheus exporter)                            |
 * | `POST /dead-letters/replay` | charges again the payments whose retries were spent (dead letters)       |
 * | `GET /stats`          | this replica's counters as JSON (what the demo shows)                          |
 * | `GET /healthz`        | liveness: 200 with core's `health()` report of every policy (not rate limited) |
 * | `GET /readyz`         | readiness: 503 while a policy refuses every call, else 200 (not rate limited)  |
 * | `/admin/chaos`        | chaos mode only (`CHAOS=armed` or `on`): shows and switches the chaos policies |
 *
 * Every route is rate limited per `x-client-id` (the peer address without one) and answers with
 * `RateLimit-Policy` and `RateLimit` headers; refusals are 429 with `Retry-After`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isBulkheadRejectedError } from '@breakwater/bulkhead';
import { healthHandler, isTimeoutError } from '@breakwater/core';
import { rateLimitHeaders } from '@breakwater/rate-limit';
import { Redis } from 'ioredis';
import { type Catalog, type Product, slowCatalog } from './catalog.js';
import { catalogWithChaos, serveChaosAdmin } from './chaos-mode.js';
import type { ServiceConfig } from './config.js';
import { createOrderStore, type Order, type OrderStore } from './orders.js';
import { charge, isPaymentUpstreamError } from './payment-client.js';
import { type PaymentInput, replayPayments } from './payment-replay.js';
import { buildResilience, type Priority, type Resilience } from './resilience.js';
import { emptyRequests, type Outcome, type ReplicaStats, type Transition } from './stats.js';
import { installMetrics, type Metrics } from './telemetry.js';

export interface CheckoutService {
  readonly url: string;
  readonly port: number;
  stats(): Promise<ReplicaStats>;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of request) {
    text += chunk;
    if (text.length > 64 * 1024) throw new HttpError(413, 'body too large');
  }
  if (text === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  } catch {}
  throw new HttpError(400, 'body must be a JSON object');
}

function priorityOf(request: IncomingMessage): Priority {
  return request.headers['x-priority'] === 'batch' ? 'batch' : 'interactive';
}

/** Starts one replica: its telemetry, state stores, policies and HTTP server. */
export async function startCheckoutService(config: ServiceConfig): Promise<CheckoutService> {
  // Policies take their meter at construction: the SDK goes first.
  const metrics: Metrics = installMetrics();
  let redis: Redis | undefined;
  if (config.redisUrl !== undefined) {
    redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
    await redis.ping();
  }
  const resilience: Resilience = buildResilience(config, redis);
  const healthProbes = healthHandler(resilience.policies);
  const orders: OrderStore = await createOrderStore({
    databaseUrl: config.databaseUrl,
    table: config.ordersTable,
    redis,
    redisPrefix: config.redisPrefix,
  });
  const catalog: Catalog = catalogWithChaos(
    slowCatalog(config.catalogLatencyMs),
    resilience.chaos.catalogFaults,
  );

  const requests = emptyRequests();
  const transitions: Transition[] = [];
  let retries = 0;
  let retriesRefused = 0;
  let upstreamCalls = 0;
  let probes = 0;
  const deadLetters = { written: 0, lost: 0 };
  const { breaker, clientLimiter, products, paymentRetry, paymentBulkhead } = resilience;
  breaker.onStateChange(({ from, to }) => transitions.push({ from, to, at: Date.now() }));
  paymentRetry.onRetry(() => retries++);
  paymentRetry.onGiveUp(({ reason, error, deadLetterError }) => {
    if (reason === 'budget-exhausted') retriesRefused++;
    // The same test as the policy's `deadLetter`: only upstream failures are dead-lettered.
    if (!isPaymentUpstreamError(error) && !isTimeoutError(error)) return;
    if (deadLetterError === undefined) deadLetters.written++;
    else deadLetters.lost++;
  });

  const product = (id: string, signal?: AbortSignal): Promise<Product | undefined> =>
    products.getOrLoad(`product:${id}`, ({ signal: loadSignal }) => catalog.load(id, loadSignal), {
      signal,
    });

  async function placeOrder(
    request: IncomingMessage,
    clientId: string,
    signal: AbortSignal,
  ): Promise<{
    outcome: Outcome;
    status: number;
    body: unknown;
    headers?: Record<string, string>;
  }> {
    const body = await readJson(request);
    const productId = String(body.productId ?? '');
    const quantity = Number(body.quantity ?? 1);
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > 100) {
      throw new HttpError(400, 'quantity must be an integer in [1, 100]');
    }
    const item = await product(productId, signal);
    if (item === undefined) throw new HttpError(404, `no product ${JSON.stringify(productId)}`);
    const order: Order = {
      id: randomUUID(),
      clientId,
      productId,
      amountCents: item.priceCents * quantity,
      status: 'paid',
      createdAt: new Date().toISOString(),
      version: 1,
    };
    try {
      const paid = await resilience.payments.execute(
        ({ signal: callSignal }) => {
          upstreamCalls++;
          if (breaker.state === 'half-open') probes++;
          return charge(
            config.paymentUrl,
            { orderId: order.id, amountCents: order.amountCents },
            callSignal,
          );
        },
        {
          signal,
          priority: priorityOf(request),
          // What the dead-letter queue keeps when the retries are spent, to charge it later.
          input: { orderId: order.id, amountCents: order.amountCents } satisfies PaymentInput,
        },
      );
      if (typeof paid !== 'string') {
        order.status = 'payment-queued';
        await orders.save(order);
        return { outcome: 'queued', status: 202, body: { order, message: paid.message } };
      }
      order.paymentId = paid;
      await orders.save(order);
      return { outcome: 'paid', status: 201, body: { order } };
    } catch (error) {
      if (isBulkheadRejectedError(error)) {
        const headers: Record<string, string> = {};
        if (error.retryAfterMs !== undefined) {
          headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
        }
        return { outcome: 'shed', status: 503, body: { error: 'too busy, try again' }, headers };
      }
      if (isPaymentUpstreamError(error) || isTimeoutError(error)) {
        order.status = 'payment-failed';
        await orders.save(order);
        return { outcome: 'failed', status: 502, body: { order, error: 'payment failed' } };
      }
      throw error;
    }
  }

  async function route(
    request: IncomingMessage,
    response: ServerResponse,
    clientId: string,
    signal: AbortSignal,
  ): Promise<Outcome | undefined> {
    const path = (request.url ?? '/').split('?')[0]!;
    const method = request.method ?? 'GET';
    if (method === 'POST' && path === '/orders') {
      const result = await placeOrder(request, clientId, signal);
      sendJson(response, result.status, result.body, result.headers);
      return result.outcome;
    }
    if (method === 'GET' && path.startsWith('/products/')) {
      const item = await product(decodeURIComponent(path.slice('/products/'.length)), signal);
      if (item === undefined) sendJson(response, 404, { error: 'no such product' });
      else sendJson(response, 200, item);
      return 'product';
    }
    if (method === 'GET' && path.startsWith('/orders/')) {
      const order = await orders.get(decodeURIComponent(path.slice('/orders/'.length)));
      if (order === undefined) sendJson(response, 404, { error: 'no such order' });
      else sendJson(response, 200, order);
      return undefined;
    }
    if (method === 'GET' && path === '/metrics') {
      metrics.serve(request, response);
      return undefined;
    }
    if (method === 'POST' && path === '/dead-letters/replay') {
      request.resume();
      sendJson(
        response,
        200,
        await replayPayments(resilience.deadLetters, orders, config.paymentUrl),
      );
      return undefined;
    }
    if (method === 'GET' && path === '/stats') {
      sendJson(response, 200, await stats());
      return undefined;
    }
    if (path === '/admin/chaos' && config.chaos !== 'off') {
      await serveChaosAdmin(request, response, resilience.chaos, readJson, (name) =>
        metrics.sum('breakwater.chaos.injections', { 'breakwater.policy.name': name }),
      );
      return undefined;
    }
    throw new HttpError(404, 'not found');
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // Probes come first: a prober is no client, and its answer never waits on a store.
    if (healthProbes(request, response)) return;
    const header = request.headers['x-client-id'];
    const clientId =
      typeof header === 'string' && header !== ''
        ? header
        : `peer:${request.socket.remoteAddress ?? 'unknown'}`;
    const decision = await clientLimiter.limit(clientId);
    for (const [name, value] of Object.entries(rateLimitHeaders(decision, clientLimiter))) {
      response.setHeader(name, value);
    }
    if (!decision.allowed) {
      requests.limited++;
      request.resume();
      sendJson(response, 429, { error: 'rate limited', retryAfterMs: decision.retryAfterMs });
      return;
    }
    // The caller hanging up cancels the work done for it (payment call, backoff waits).
    const controller = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) controller.abort(new Error('client went away'));
    });
    try {
      const outcome = await route(request, response, clientId, controller.signal);
      if (outcome !== undefined) requests[outcome]++;
    } catch (error) {
      if (error instanceof HttpError) {
        sendJson(response, error.status, { error: error.message });
        return;
      }
      if (controller.signal.aborted) return;
      requests.error++;
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error' });
      else response.destroy();
    }
  }

  async function stats(): Promise<ReplicaStats> {
    const cacheRequests = 'breakwater.cache.requests';
    const result = 'breakwater.cache.result';
    // The product catalog's cache (the order records have a cache of their own).
    const products = { 'breakwater.policy.name': 'products' };
    const [hit, stale, all, backlog, pending] = await Promise.all([
      metrics.sum(cacheRequests, { ...products, [result]: 'hit' }),
      metrics.sum(cacheRequests, { ...products, [result]: 'stale' }),
      metrics.sum(cacheRequests, products),
      orders.backlog(),
      // Bounded by the queue's store deadline; a failing store is reported, not thrown.
      resilience.deadLetters.size().catch(() => null),
    ]);
    return {
      replica: config.replica,
      pid: process.pid,
      stateStore: redis === undefined ? 'memory' : 'redis',
      orderStore: orders.description,
      breaker: breaker.state,
      transitions: [...transitions],
      probes,
      requests: { ...requests },
      retries,
      retriesRefused,
      upstreamCalls,
      bulkhead: {
        active: paymentBulkhead.active,
        queued: paymentBulkhead.queued,
        limit: paymentBulkhead.maxConcurrent,
      },
      cache: { hits: hit + stale, misses: all - hit - stale },
      orders: backlog,
      deadLetters: { ...deadLetters, pending },
    };
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await resilience.close();
      await orders.close();
      if (redis !== undefined) await redis.quit().catch(() => redis?.disconnect());
      await metrics.shutdown();
    },
  };
}
