/**
 * What the Node-based adapters (node:http, Express, Fastify) share: reading an `IncomingMessage`,
 * writing fields to a `ServerResponse`, and a signal that aborts a wait when the client goes.
 * Types only from node:http: nothing here loads a framework.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestSource } from './guard.js';
import { DENIED_BODY, type HttpRateLimitResult } from './options.js';

/** A header of a Node request, repeated fields joined with `', '`. */
export function nodeHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The core's view of a Node request; `raw` is what the option functions receive. */
export function nodeSource<Raw>(raw: Raw, req: IncomingMessage, url?: string): RequestSource<Raw> {
  return {
    raw,
    method: req.method ?? 'GET',
    url: url ?? req.url ?? '/',
    header: (name) => nodeHeader(req, name),
    peerAddress: () => req.socket?.remoteAddress,
  };
}

/** Sets the result's fields on a response that has not sent its head yet. */
export function setNodeHeaders(
  res: ServerResponse,
  headers: Readonly<Record<string, string>>,
): void {
  if (res.headersSent) return;
  for (const name in headers) res.setHeader(name, headers[name]!);
}

/** The default refusal: 429, the fields, a short text body. */
export function sendNodeDenied(res: ServerResponse, result: HttpRateLimitResult): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  setNodeHeaders(res, result.headers);
  res.statusCode = result.status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(DENIED_BODY);
}

/**
 * Runs `decide` with a signal that aborts when the response closes before it is finished (the
 * client disconnected while the request waited for the limiter); without a wait, no signal and no
 * listener.
 */
export async function withDisconnectSignal<T>(
  res: ServerResponse,
  waits: boolean,
  decide: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  if (!waits) return decide(undefined);
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished)
      controller.abort(
        new Error('The client disconnected while the request waited for the rate limiter'),
      );
  };
  res.once('close', onClose);
  try {
    return await decide(controller.signal);
  } finally {
    res.off('close', onClose);
  }
}
