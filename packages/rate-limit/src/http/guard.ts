/**
 * The framework-neutral core of every HTTP adapter: validates the options once, then decides a
 * request — skip, key, cost, each limiter in turn (or waiting, with `maxWaitMs`) — into
 * `{ allowed, status, headers }`. The adapters only read the request and write the answer.
 */
import {
  describeValue,
  expectFunction,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectPositive,
  hasErrorKind,
} from '@breakwater/core';
import type { RateLimitDecision } from '../decision.js';
import type { RateLimitedError } from '../errors.js';
import { rateLimitHeaders } from '../headers.js';
import type { RateLimiter } from '../rate-limiter.js';
import { type ClientAddressOf, clientAddressResolver } from './client-address.js';
import { warnUnknownHttpOptions } from './known-options.js';
import {
  type Awaitable,
  DEFAULT_DEGRADED_HEADER,
  type HttpRateLimitOptions,
  type HttpRateLimitResult,
  type HttpRequest,
  type LimiterDecision,
} from './options.js';

/** What an adapter tells the core about a request. */
export interface RequestSource<Raw> {
  /** The framework's request object, handed to the option functions. */
  readonly raw: Raw;
  /** The method, upper case. */
  readonly method: string;
  /** The request target. */
  readonly url: string;
  /** A header field by name, repeated fields joined. */
  header(name: string): string | undefined;
  /** The address of the peer that connected, before `trustProxy`. */
  peerAddress(): string | undefined;
}

/** A validated option set, ready to decide requests. */
export class HttpRateLimitGuard<Raw> {
  readonly #limiters: readonly RateLimiter[];
  readonly #key: (request: HttpRequest<Raw>) => Awaitable<string>;
  readonly #clientAddress: ClientAddressOf;
  readonly #cost: number | ((request: HttpRequest<Raw>) => Awaitable<number>);
  readonly #skip: ((request: HttpRequest<Raw>) => Awaitable<boolean>) | undefined;
  readonly #headers: boolean;
  readonly #maxWaitMs: number;
  readonly #degradedHeader: string | undefined;
  readonly #remoteAddress: ((raw: Raw) => string | undefined) | undefined;

  /**
   * @param factory How users call the adapter, for warnings: `'expressRateLimit()'`.
   * @param known The option names the adapter reads.
   * @throws {TypeError | RangeError} naming the option, for invalid options.
   */
  constructor(
    options: HttpRateLimitOptions<Raw>,
    factory: string,
    known: Readonly<Record<string, true>>,
  ) {
    expectObject('options', options);
    warnUnknownHttpOptions(factory, options, known);
    this.#limiters = validLimiters(options.limiters);
    this.#clientAddress = clientAddressResolver(options.trustProxy);
    this.#key = keyFunction(options.key);
    const cost = options.cost ?? 1;
    this.#cost = typeof cost === 'function' ? cost : expectPositive('cost', cost);
    this.#skip =
      options.skip === undefined
        ? undefined
        : expectFunction<(request: HttpRequest<Raw>) => Awaitable<boolean>>('skip', options.skip);
    this.#headers = expectBoolean('headers', options.headers ?? true);
    this.#maxWaitMs = expectNonNegative('maxWaitMs', options.maxWaitMs ?? 0);
    this.#degradedHeader = degradedHeaderName(options.degradedHeader);
    this.#remoteAddress =
      options.remoteAddress === undefined
        ? undefined
        : expectFunction<(raw: Raw) => string | undefined>('remoteAddress', options.remoteAddress);
  }

  /** Whether a wait is configured: adapters then pass a signal that aborts on disconnect. */
  get waits(): boolean {
    return this.#maxWaitMs > 0;
  }

  /**
   * Decides one request. Rejects with what an option function threw, a `TypeError` for a key or
   * cost they returned that is not valid, or the limiter's error (`signal.reason` when aborted).
   */
  async decide(source: RequestSource<Raw>, signal?: AbortSignal): Promise<HttpRateLimitResult> {
    const request = this.#view(source);
    if (this.#skip !== undefined && (await this.#skip(request)) === true) return skipped();
    const key = await this.#key(request);
    if (typeof key !== 'string' || key.length === 0) {
      throw new TypeError(
        `Expected the \`key\` function to return a non-empty string, got ${describeValue(key)}`,
      );
    }
    const cost = typeof this.#cost === 'number' ? this.#cost : await this.#cost(request);
    if (typeof cost !== 'number' || !Number.isFinite(cost) || cost <= 0) {
      throw new TypeError(
        `Expected the \`cost\` function to return a finite number > 0, got ${describeValue(cost)}`,
      );
    }
    const decisions: LimiterDecision[] = [];
    const deadline = this.#maxWaitMs > 0 ? Date.now() + this.#maxWaitMs : 0;
    for (const limiter of this.#limiters) {
      const decision =
        deadline > 0
          ? await acquireWithin(limiter, key, cost, deadline, signal)
          : await limiter.limit(key, { cost, signal });
      decisions.push({ limiter, decision });
      if (!decision.allowed) break;
    }
    return this.#result(key, cost, decisions);
  }

  #view(source: RequestSource<Raw>): HttpRequest<Raw> {
    const clientAddress = this.#clientAddress;
    const remoteAddress = this.#remoteAddress;
    let ip: string | undefined;
    let resolved = false;
    return {
      raw: source.raw,
      method: source.method,
      url: source.url,
      header: (name) => source.header(name),
      get ip() {
        if (!resolved) {
          const peer =
            remoteAddress !== undefined ? remoteAddress(source.raw) : source.peerAddress();
          ip = clientAddress(peer, source.header('x-forwarded-for'));
          resolved = true;
        }
        return ip;
      },
    };
  }

  #result(key: string, cost: number, decisions: readonly LimiterDecision[]): HttpRateLimitResult {
    const last = decisions[decisions.length - 1]!;
    const allowed = last.decision.allowed;
    const degraded = decisions.filter((d) => d.decision.source === 'degraded');
    const headers: Record<string, string> = {};
    if (!allowed || this.#headers) {
      const binding = allowed ? mostRestrictive(decisions) : last;
      const fields = rateLimitHeaders(binding.decision, binding.limiter);
      headers['RateLimit-Policy'] = decisions
        .map((d) => (d === binding ? fields : rateLimitHeaders(d.decision, d.limiter)))
        .map((f) => f['RateLimit-Policy'])
        .join(', ');
      headers.RateLimit = fields.RateLimit;
      if (fields['Retry-After'] !== undefined) headers['Retry-After'] = fields['Retry-After'];
    }
    if (this.#degradedHeader !== undefined && degraded.length > 0) {
      headers[this.#degradedHeader] = degraded.map((d) => sfString(d.limiter.name)).join(', ');
    }
    return {
      allowed,
      status: allowed ? 200 : 429,
      headers,
      retryAfterMs: last.decision.retryAfterMs,
      key,
      cost,
      skipped: false,
      degraded: degraded.length > 0,
      decisions,
    };
  }
}

/**
 * The result of a skipped request: admitted, nothing asked, no fields. A new object each time:
 * adapters and users may add to the headers (some servers do, to a response's init).
 */
function skipped(): HttpRateLimitResult {
  return {
    allowed: true,
    status: 200,
    headers: {},
    retryAfterMs: 0,
    key: undefined,
    cost: 0,
    skipped: true,
    degraded: false,
    decisions: [],
  };
}

/**
 * `limiter.acquire()` with what is left of the request's wait; a wait that cannot make it is a
 * refusal with the limiter's decision, not an error.
 */
async function acquireWithin(
  limiter: RateLimiter,
  key: string,
  cost: number,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<RateLimitDecision> {
  try {
    return await limiter.acquire(key, {
      cost,
      signal,
      maxWaitMs: Math.max(0, deadline - Date.now()),
    });
  } catch (error) {
    // core's brand check, as `isRateLimitedError()` does: importing that would pull the error
    // class, and core's base class with it, into the CommonJS build of this entry for nothing.
    if (hasErrorKind(error, 'RateLimitedError')) return (error as RateLimitedError).decision;
    throw error;
  }
}

/** Of admitted decisions, the one with the least left; of equals, the longest until reset. */
function mostRestrictive(decisions: readonly LimiterDecision[]): LimiterDecision {
  let binding = decisions[0]!;
  for (const candidate of decisions) {
    const a = candidate.decision;
    const b = binding.decision;
    if (
      a.remaining < b.remaining ||
      (a.remaining === b.remaining && a.resetAfterMs > b.resetAfterMs)
    ) {
      binding = candidate;
    }
  }
  return binding;
}

function validLimiters(value: unknown): readonly RateLimiter[] {
  const list = Array.isArray(value) ? [...(value as unknown[])] : [value];
  if (list.length === 0) {
    throw new RangeError(
      'Expected `limiters` to hold at least one rate limiter, got an empty array',
    );
  }
  list.forEach((limiter, i) => {
    const name = Array.isArray(value) ? `limiters[${i}]` : 'limiters';
    const candidate = limiter as Partial<RateLimiter> | null | undefined;
    if (
      typeof candidate !== 'object' ||
      candidate === null ||
      typeof candidate.limit !== 'function' ||
      typeof candidate.acquire !== 'function' ||
      !Array.isArray(candidate.limits)
    ) {
      throw new TypeError(
        `Expected \`${name}\` to be a rate limiter (from \`rateLimiter()\`), got ${describeValue(limiter)}`,
      );
    }
  });
  return list as RateLimiter[];
}

function keyFunction<Raw>(key: unknown): (request: HttpRequest<Raw>) => Awaitable<string> {
  const byAddress = (request: HttpRequest<Raw>): string => {
    const ip = request.ip;
    if (ip === undefined || ip.length === 0) {
      throw new TypeError(
        'The client address of the request is unknown: give `remoteAddress` (a function of the request), or key requests another way (`key`)',
      );
    }
    return `ip:${ip}`;
  };
  if (key === undefined || key === 'ip') return byAddress;
  if (typeof key === 'function') return key as (request: HttpRequest<Raw>) => Awaitable<string>;
  if (typeof key === 'object' && key !== null && !Array.isArray(key)) {
    const header = expectNonEmptyString(
      'key.header',
      (key as { header?: unknown }).header,
    ).toLowerCase();
    return (request) => {
      const value = request.header(header)?.trim();
      return value === undefined || value.length === 0 ? byAddress(request) : `header:${value}`;
    };
  }
  throw new TypeError(
    `Expected \`key\` to be 'ip', { header: '<name>' } or a function of the request, got ${describeValue(key)}`,
  );
}

function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describeValue(value)}`);
  }
  return value;
}

/** An HTTP field name: an RFC 9110 token. */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function degradedHeaderName(value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_DEGRADED_HEADER;
  if (typeof value !== 'string' || !FIELD_NAME.test(value)) {
    throw new TypeError(
      `Expected \`degradedHeader\` to be a boolean or an HTTP field name, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** A structured-field string, as the `RateLimit` fields name their policies. */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
