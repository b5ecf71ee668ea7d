/**
 * Health and readiness of a service's policies: `health(...policies)` reads each policy's state and
 * its store's status from memory — no store round trip, no allocation beyond the report — so a
 * probe can call it as often as it likes. `healthHandler()` serves it on `/healthz` and `/readyz`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OnStoreError } from './store/options.js';
import type { StoreStatus } from './store/status.js';
import { describeValue } from './validate.js';

/**
 * The key of the method through which a policy describes its health. Every Breakwater policy
 * implements it; `Symbol.for` so that two copies of `@breakwater/core` agree on it.
 */
export const POLICY_HEALTH: unique symbol = Symbol.for('breakwater.policyHealth') as never;

/**
 * `'ok'`: the policy works as configured. `'degraded'`: its store fails and it answers from its
 * `onStoreError` choice (`'fail-open'` or `'local'`), so fleet-wide guarantees are weakened.
 * `'down'`: it refuses every call — closed, or its store fails under `onStoreError: 'fail-closed'`.
 */
export type HealthStatus = 'ok' | 'degraded' | 'down';

/** One policy's entry in a {@link HealthReport}. */
export interface PolicyHealth {
  /** The policy's name. */
  readonly name: string;
  /** `'circuit-breaker'`, `'rate-limit'`, `'bulkhead'`, `'retry'`, `'cache'`, `'write-behind'`, … */
  readonly pattern: string;
  /**
   * The pattern's own state: a breaker's `'closed' | 'open' | 'half-open' | …`, `'running'` for
   * patterns without states, `'closed'` once the policy is closed.
   */
  readonly state: string;
  /** The store kind (`'memory'`, `'redis'`, `'dynamodb'`, …) and its status. */
  readonly store: { readonly kind: string; readonly status: StoreStatus };
  /** This policy's status; see {@link HealthStatus}. */
  readonly status: HealthStatus;
}

/** What a policy implementing {@link POLICY_HEALTH} offers. */
export interface HealthReporting {
  /** This policy's health, read from memory. */
  [POLICY_HEALTH](): PolicyHealth;
}

/** The health of a set of policies: the worst status among them, and each policy's entry. */
export interface HealthReport {
  /** `'down'` if any policy is down, else `'degraded'` if any is degraded, else `'ok'`. */
  readonly status: HealthStatus;
  /** One entry per policy, in the order given. */
  readonly policies: readonly PolicyHealth[];
}

/** What {@link health} accepts: a Breakwater policy, or any object with a `name` and a `storeStatus`. */
export type HealthSource =
  | HealthReporting
  | {
      readonly name: string;
      readonly storeStatus: StoreStatus;
      readonly state?: unknown;
    };

/** The facts a policy knows about itself, from which {@link policyHealth} derives its status. */
export interface PolicyHealthFacts {
  /** The policy's name. */
  readonly name: string;
  /** The pattern, as in {@link PolicyHealth.pattern}. */
  readonly pattern: string;
  /** The pattern's state; `'running'` when it has none. */
  readonly state?: string | undefined;
  /** The store kind: `'memory'`, `'redis'`, `'dynamodb'`, … */
  readonly storeKind: string;
  /** The store's status, as the policy's `storeStatus` reports it. */
  readonly storeStatus: StoreStatus;
  /** The policy's `onStoreError`; `undefined` for a policy without one (its store never refuses). */
  readonly onStoreError?: OnStoreError | undefined;
  /** Whether `close()` was called. */
  readonly closed: boolean;
}

/**
 * Builds a policy's {@link PolicyHealth} from its facts, so every pattern derives its status the
 * same way: closed → `'down'`; store degraded → `'down'` under `'fail-closed'`, else `'degraded'`.
 */
export function policyHealth(facts: PolicyHealthFacts): PolicyHealth {
  let status: HealthStatus = 'ok';
  if (facts.closed) status = 'down';
  else if (facts.storeStatus === 'degraded') {
    status = facts.onStoreError === 'fail-closed' ? 'down' : 'degraded';
  }
  return {
    name: facts.name,
    pattern: facts.pattern,
    state: facts.closed ? 'closed' : (facts.state ?? 'running'),
    store: { kind: facts.storeKind, status: facts.storeStatus },
    status,
  };
}

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 };

/**
 * The health of the given policies, read from memory: cheap enough for every probe.
 * @throws {TypeError} naming the argument when one is neither a Breakwater policy nor an object with
 *   a `name` and a `storeStatus`.
 */
export function health(...policies: HealthSource[]): HealthReport {
  let status: HealthStatus = 'ok';
  const entries: PolicyHealth[] = [];
  for (let i = 0; i < policies.length; i++) {
    const entry = healthOf(policies[i], i);
    if (RANK[entry.status] > RANK[status]) status = entry.status;
    entries.push(entry);
  }
  return { status, policies: entries };
}

function healthOf(source: unknown, index: number): PolicyHealth {
  if (typeof source === 'object' && source !== null) {
    const reporter = (source as Partial<HealthReporting>)[POLICY_HEALTH];
    if (typeof reporter === 'function') return reporter.call(source);
    const { name, storeStatus, state } = source as Record<string, unknown>;
    if (typeof name === 'string' && (storeStatus === 'healthy' || storeStatus === 'degraded')) {
      return policyHealth({
        name,
        pattern: 'unknown',
        state: typeof state === 'string' ? state : undefined,
        storeKind: 'unknown',
        storeStatus,
        closed: false,
      });
    }
  }
  throw new TypeError(
    `Expected argument ${index} of \`health()\` to be a Breakwater policy or an object with a \`name\` and a \`storeStatus\`, got ${describeValue(source)}`,
  );
}

/** Options of {@link healthHandler} and {@link healthResponse}. */
export interface HealthHandlerOptions {
  /**
   * Path of the liveness probe: answers 200 while the process answers at all, whatever the
   * policies' status — restarting a replica because a shared store is down would not bring the
   * store back, and would drop the replica's in-process state.
   * @default '/healthz'
   */
  readonly livenessPath?: string | undefined;
  /**
   * Path of the readiness probe: answers 503 when the report is `'down'` (and when it is
   * `'degraded'` if `readyWhenDegraded` is false), 200 otherwise.
   * @default '/readyz'
   */
  readonly readinessPath?: string | undefined;
  /**
   * Whether a replica whose policies are `'degraded'` still takes traffic. A degraded policy still
   * answers (from its `onStoreError` choice), so the default keeps the replica in rotation.
   * @default true
   */
  readonly readyWhenDegraded?: boolean | undefined;
}

/** A framework-neutral HTTP answer: status code, headers and a JSON body. */
export interface HealthHttpResponse {
  /** 200, or 503 for a readiness probe that is not ready. */
  readonly statusCode: number;
  /** `content-type: application/json` and `cache-control: no-store`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The {@link HealthReport} as JSON. */
  readonly body: string;
}

/**
 * The HTTP answer of a liveness or readiness probe for a report, for frameworks other than
 * `node:http` (Express, Fastify, Hono, Lambda): see {@link HealthHandlerOptions} for the codes.
 */
export function healthResponse(
  probe: 'liveness' | 'readiness',
  report: HealthReport,
  options: Pick<HealthHandlerOptions, 'readyWhenDegraded'> = {},
): HealthHttpResponse {
  let statusCode = 200;
  if (probe === 'readiness') {
    const readyWhenDegraded = options.readyWhenDegraded ?? true;
    if (report.status === 'down' || (report.status === 'degraded' && !readyWhenDegraded)) {
      statusCode = 503;
    }
  } else if (probe !== 'liveness') {
    throw new TypeError(
      `Expected \`probe\` to be 'liveness' or 'readiness', got ${describeValue(probe)}`,
    );
  }
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(report),
  };
}

/**
 * A `node:http` request handler for the liveness and readiness probes of the given policies (an
 * array, or a function returning one for policies created later). It answers `GET`/`HEAD` on
 * the two paths and returns `true`; for any other request it returns `false` and leaves `res`
 * alone, so it can run first in a service's own handler.
 *
 * @example
 * const probes = healthHandler([breaker, limiter]);
 * http.createServer((req, res) => probes(req, res) || app(req, res));
 */
export function healthHandler(
  policies: readonly HealthSource[] | (() => readonly HealthSource[]),
  options: HealthHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  if (!Array.isArray(policies) && typeof policies !== 'function') {
    throw new TypeError(
      `Expected \`policies\` to be an array of policies or a function returning one, got ${describeValue(policies)}`,
    );
  }
  const livenessPath = expectPath('livenessPath', options.livenessPath ?? '/healthz');
  const readinessPath = expectPath('readinessPath', options.readinessPath ?? '/readyz');
  const list = typeof policies === 'function' ? policies : () => policies;
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    let probe: 'liveness' | 'readiness';
    if (path === livenessPath) probe = 'liveness';
    else if (path === readinessPath) probe = 'readiness';
    else return false;
    const answer = healthResponse(probe, health(...list()), options);
    res.writeHead(answer.statusCode, answer.headers);
    res.end(req.method === 'HEAD' ? undefined : answer.body);
    return true;
  };
}

function expectPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new TypeError(
      `Expected \`${name}\` to be a path starting with "/", got ${describeValue(value)}`,
    );
  }
  return value;
}
