// Fleet replica: reports who it is and how `@breakwater/*` resolves in a child process.
import { replicaIdentity, reportResult } from '@breakwater/testkit/replica';

const core = import.meta.resolve('@breakwater/core');
let timeoutErrorType: string;
try {
  // A variable specifier: the testkit does not depend on core, so TypeScript must not resolve it.
  const specifier = '@breakwater/core';
  const module = (await import(specifier)) as { TimeoutError?: unknown };
  timeoutErrorType = typeof module.TimeoutError;
} catch (error) {
  timeoutErrorType = `import failed: ${error instanceof Error ? error.message : String(error)}`;
}

await reportResult({
  ...replicaIdentity(),
  redisUrl: process.env.REDIS_URL ?? null,
  extra: process.env.FLEET_TEST_EXTRA ?? null,
  args: process.argv.slice(2),
  resolved: {
    core,
    coreDynamodb: import.meta.resolve('@breakwater/core/dynamodb'),
    replica: import.meta.resolve('@breakwater/testkit/replica'),
  },
  timeoutErrorType,
});
