/**
 * Fleet replica: takes HOLD permits of a fleet bulkhead (global limit 8, lease TTL LEASE_TTL_MS)
 * and holds them until it is killed.
 */

import { reportMessage } from '@breakwater/testkit/replica';
import { bulkhead } from '../../index.js';
import { backendFromEnv } from './store-from-env.js';

const backend = await backendFromEnv();
const b = bulkhead({
  name: 'fleet',
  maxConcurrent: 8,
  leaseTtlMs: Number(process.env.LEASE_TTL_MS),
  store: backend.store,
});
let started = 0;
for (let i = 0; i < Number(process.env.HOLD); i++) {
  void b.execute(async () => {
    started++;
    if (started === Number(process.env.HOLD)) await reportMessage('holding');
    await new Promise(() => {});
  });
}
