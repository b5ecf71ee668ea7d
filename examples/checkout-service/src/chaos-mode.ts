/**
 * Chaos mode: `chaos()` policies of `@breakwater/core` in front of the service's two dependencies,
 * the payment upstream and the product catalog, to watch the retry, the breaker and its fallback,
 * and the product cache absorb what they inject. `CHAOS=armed` serves `/admin/chaos` to switch
 * them while the service runs; `CHAOS=on` also switches them on at start. Without `CHAOS` the
 * policies are still there, switched off, which costs a call nothing, and the route is not served.
 *
 * ```sh
 * curl localhost:3000/admin/chaos
 * curl -X POST localhost:3000/admin/chaos -d '{"enabled":true,"injectionRate":0.3}'
 * curl -X POST localhost:3000/admin/chaos -d '{"policies":{"payments-fault":{"enabled":false}}}'
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ChaosPolicy, chaos } from '@breakwater/core';
import type { Catalog } from './catalog.js';
import type { ServiceConfig } from './config.js';
import { PaymentUpstreamError } from './payment-client.js';

/** `off`: no admin route, policies off; `armed`: admin route, policies off; `on`: both on. */
export const CHAOS_MODES = ['off', 'armed', 'on'] as const;
export type ChaosMode = (typeof CHAOS_MODES)[number];

/** The chaos policies, by what they stand in front of. */
export interface ChaosPolicies {
  /** Payment calls fail as if the upstream answered 503 (innermost in the payment pipeline). */
  readonly paymentFaults: ChaosPolicy;
  /** Payment calls wait `chaosLatencyMs` before reaching the upstream. */
  readonly paymentLatency: ChaosPolicy;
  /** Catalog loads fail, as a database outage would; the product cache serves what it has. */
  readonly catalogFaults: ChaosPolicy;
  /** All of them, in the order the admin route lists them. */
  readonly all: readonly ChaosPolicy[];
}

/** The service's chaos policies, switched on when `config.chaos` is `'on'`. */
export function buildChaos(config: ServiceConfig): ChaosPolicies {
  const common = { injectionRate: config.chaosRate, enabled: config.chaos === 'on' };
  const paymentFaults = chaos({
    ...common,
    name: 'payments-fault',
    // What the payment client throws for a 503, so the policies treat it as the upstream's.
    fault: () => new PaymentUpstreamError('payment upstream answered 503 (injected by chaos)', 503),
  });
  const paymentLatency = chaos({
    ...common,
    name: 'payments-latency',
    latency: config.chaosLatencyMs,
  });
  const catalogFaults = chaos({
    ...common,
    name: 'catalog-fault',
    fault: () => new Error('catalog unavailable (injected by chaos)'),
  });
  return {
    paymentFaults,
    paymentLatency,
    catalogFaults,
    all: [paymentFaults, paymentLatency, catalogFaults],
  };
}

/** `catalog` with every load going through `policy` first. */
export function catalogWithChaos(catalog: Catalog, policy: ChaosPolicy): Catalog {
  return {
    get loads() {
      return catalog.loads;
    },
    load: (id, signal) =>
      policy.execute(({ signal: loadSignal }) => catalog.load(id, loadSignal), { signal }),
  };
}

/** One policy as the admin route shows it. */
export interface ChaosPolicyView {
  name: string;
  kind: string;
  enabled: boolean;
  injectionRate: number;
  /** Calls it injected into so far (its `breakwater.chaos.injections` counter). */
  injections: number;
}

/** A change the admin route refuses; answered with 400 and the message. */
export class ChaosUpdateError extends Error {
  override readonly name = 'ChaosUpdateError';
}

interface Switches {
  enabled?: unknown;
  injectionRate?: unknown;
}

/**
 * Applies a `POST /admin/chaos` body: `enabled` and `injectionRate` at the top level apply to
 * every policy, and `policies: { [name]: { enabled?, injectionRate? } }` to the named ones (after
 * the top level). All or nothing: a bad value (the policy's own error names it) or an unknown
 * name leaves every policy as it was.
 */
export function applyChaosUpdate(policies: ChaosPolicies, body: Record<string, unknown>): void {
  const byName = new Map(policies.all.map((policy) => [policy.name, policy]));
  const changes: [ChaosPolicy, Switches][] = policies.all.map((policy) => [policy, body]);
  const named = body.policies;
  if (named !== undefined) {
    if (typeof named !== 'object' || named === null) {
      throw new ChaosUpdateError('`policies` must be an object of policy names');
    }
    for (const [name, switches] of Object.entries(named)) {
      const policy = byName.get(name);
      if (policy === undefined) {
        throw new ChaosUpdateError(
          `no chaos policy named ${JSON.stringify(name)}; there are ${[...byName.keys()].join(', ')}`,
        );
      }
      changes.push([policy, (switches ?? {}) as Switches]);
    }
  }
  const before = policies.all.map((policy) => [policy.enabled, policy.injectionRate] as const);
  try {
    for (const [policy, switches] of changes) {
      if (switches.enabled !== undefined) policy.enabled = switches.enabled as boolean;
      if (switches.injectionRate !== undefined) {
        policy.injectionRate = switches.injectionRate as number;
      }
    }
  } catch (error) {
    policies.all.forEach((policy, index) => {
      [policy.enabled, policy.injectionRate] = before[index]!;
    });
    throw new ChaosUpdateError((error as Error).message);
  }
}

/**
 * `GET /admin/chaos` shows every policy; `POST /admin/chaos` changes them (see
 * {@link applyChaosUpdate}) and shows the result.
 */
export async function serveChaosAdmin(
  request: IncomingMessage,
  response: ServerResponse,
  policies: ChaosPolicies,
  readBody: (request: IncomingMessage) => Promise<Record<string, unknown>>,
  injections: (policyName: string) => Promise<number>,
): Promise<void> {
  let status = 200;
  let error: string | undefined;
  if (request.method === 'POST') {
    try {
      applyChaosUpdate(policies, await readBody(request));
    } catch (caught) {
      if (!(caught instanceof ChaosUpdateError)) throw caught;
      status = 400;
      error = caught.message;
    }
  } else {
    request.resume();
  }
  const view: ChaosPolicyView[] = await Promise.all(
    policies.all.map(async (policy) => ({
      name: policy.name,
      kind: policy.kind,
      enabled: policy.enabled,
      injectionRate: policy.injectionRate,
      injections: await injections(policy.name),
    })),
  );
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(
    JSON.stringify(error === undefined ? { policies: view } : { error, policies: view }),
  );
}
