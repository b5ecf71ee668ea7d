/** 250 concurrent misses of one key; counts this replica's loader calls (and the fleet's, in Redis). */
import { replicaIdentity, reportMessage, reportResult } from '@breakwater/testkit/replica';
import { connectReplica } from './connect.js';

const { index, count } = replicaIdentity();
const replica = await connectReplica();
await replica.waitForBus(count);
let loads = 0;
const loader = async () => {
  loads++;
  await replica.incr('loads');
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { loadedBy: index, at: new Date() };
};
const statuses: string[] = [];
replica.cache.onStoreStatusChange((change) =>
  statuses.push(change.status === 'degraded' ? `degraded: ${change.error?.message}` : 'healthy'),
);
await reportMessage('ready');
await replica.waitFor('go', '1');
const results = await Promise.all(
  Array.from({ length: 250 }, () => replica.cache.getOrLoad('hot', loader)),
);
const loadedBy = new Set(results.map((r) => r.loadedBy));
await reportResult({
  library: replica.library,
  loads,
  answers: results.length,
  loadedBy: [...loadedBy],
  dates: results.every((r) => r.at instanceof Date),
  statuses,
  diagnostics: replica.diagnostics.slice(0, 20),
});
await replica.close();
