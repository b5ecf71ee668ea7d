/**
 * The child side of the fleet harness (`@breakwater/testkit/replica`), imported by the scripts a
 * fleet test runs in each replica process. Deliberately tiny: no vitest, no fixtures.
 */

/** Environment variable carrying the replica's index (0 … count-1). */
export const REPLICA_INDEX_ENV = 'BREAKWATER_REPLICA_INDEX';
/** Environment variable carrying the number of replicas in the fleet. */
export const REPLICA_COUNT_ENV = 'BREAKWATER_REPLICA_COUNT';
/** Start of the stdout line that carries a replica's result. */
export const RESULT_LINE_PREFIX = 'BREAKWATER_RESULT ';

/** Who this replica is in its fleet. */
export interface ReplicaIdentity {
  /** Index of this replica, 0 … `count` - 1. */
  index: number;
  /** How many replicas the fleet has. */
  count: number;
}

/** This process's place in its fleet, from the environment the harness set (0 of 1 otherwise). */
export function replicaIdentity(): ReplicaIdentity {
  const index = Number(process.env[REPLICA_INDEX_ENV] ?? 0);
  const count = Number(process.env[REPLICA_COUNT_ENV] ?? 1);
  return { index, count };
}

/**
 * Reports this replica's result to the harness: one stdout line `BREAKWATER_RESULT <json>`.
 * Call it once, at the end; `value` must be JSON-serialisable. Resolves once the line is written.
 */
export function reportResult(value: unknown): Promise<void> {
  const line = `${RESULT_LINE_PREFIX}${JSON.stringify(value ?? null)}\n`;
  return new Promise((resolve, reject) => {
    process.stdout.write(line, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Sends a progress line to the harness (a test sees it through the handle's `onMessage` /
 * `waitForMessage`), e.g. `reportMessage('ready')` before the part a test wants to interrupt.
 */
export function reportMessage(message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(`${message.replace(/\n/g, ' ')}\n`, (error) =>
      error ? reject(error) : resolve(),
    );
  });
}
