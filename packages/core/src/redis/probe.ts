/**
 * The health probe of a Redis store: a script that returns 1, run with one of the policy's keys so
 * that a Cluster routes it to the node that owns the policy's slot — the node whose outage matters
 * — and so that it proves scripting works, not only that a socket answers PING.
 */
import type { ScriptClient } from './adapter.js';
import { defineScript } from './script.js';

const PROBE_SCRIPT = defineScript<number>({ name: 'probe', lua: 'return 1', keys: 1 });

/**
 * A probe for `StoreCalls` (`probe` option): resolves once Redis has run a trivial script on the
 * node owning `key`'s slot. The key is neither read nor written.
 */
export function redisProbe(client: ScriptClient, key: string): () => Promise<number> {
  return () => PROBE_SCRIPT.run(client, [key]);
}
