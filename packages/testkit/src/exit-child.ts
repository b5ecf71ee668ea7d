/**
 * The child side of the exit check (`@breakwater/testkit/exit-child`), imported by the scripts that
 * `expectExitsByItself` runs. Deliberately tiny: no vitest, no fixtures.
 *
 * A script reports `ready` (with `reportMessage` from `@breakwater/testkit/replica`), waits for the
 * test's go-ahead with {@link waitForParent}, does its work, closes everything it built and calls
 * {@link reportClosed}. Then it must do nothing more: the process is expected to exit by itself.
 */
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';

/** The line a child prints once it has closed everything it built. */
export const CLOSED_LINE = 'closed';

/** Start of the stdout lines that carry a snapshot of what still keeps the child alive. */
export const ACTIVE_RESOURCES_PREFIX = 'BREAKWATER_ACTIVE_RESOURCES ';

/** How often the child re-reports what keeps it alive after `closed`, in milliseconds. */
const SNAPSHOT_INTERVAL_MS = 200;

/**
 * Resolves the next line the test sends (the handle's `send()`), then lets go of stdin so it
 * cannot keep the process alive.
 */
export async function waitForParent(): Promise<string> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    return await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      lines.once('close', () => reject(new Error('stdin closed before the test sent a line')));
    });
  } finally {
    lines.close();
    process.stdin.destroy();
  }
}

/**
 * What keeps this process alive: the resource types Node reports
 * (`process.getActiveResourcesInfo()`, e.g. `Timeout`, `TCPSocketWrap`), then, for each open
 * socket or server, where it points (`socket 127.0.0.1:51234 -> 127.0.0.1:6379`), which says
 * whose connection leaked. The stdio pipes to the test are left out.
 */
export function activeResources(): string[] {
  const described: string[] = [...process.getActiveResourcesInfo()];
  // The stdout / stderr pipes to the test are listed but never keep the process alive; leave
  // them out so that the list shows only what does.
  for (const stream of [process.stdout, process.stderr]) {
    const index = described.indexOf('PipeWrap');
    if ((stream as { _type?: string })._type === 'pipe' && index !== -1) described.splice(index, 1);
  }
  // Undocumented but present in every Node since 0.x; only used to enrich the report.
  const getHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })
    ._getActiveHandles;
  for (const handle of getHandles?.call(process) ?? []) {
    const detail = describeHandle(handle);
    if (detail !== undefined) described.push(detail);
  }
  return described;
}

function describeHandle(handle: unknown): string | undefined {
  if (typeof handle !== 'object' || handle === null) return undefined;
  if (handle === process.stdout || handle === process.stderr || handle === process.stdin) {
    return undefined;
  }
  const socket = handle as Partial<Socket> & { address?: () => unknown; listening?: boolean };
  if (typeof socket.remotePort === 'number') {
    return `socket ${socket.localAddress}:${socket.localPort} -> ${socket.remoteAddress}:${socket.remotePort}`;
  }
  if (socket.listening === true && typeof socket.address === 'function') {
    return `server listening on ${JSON.stringify(socket.address())}`;
  }
  const name = (handle as { constructor?: { name?: string } }).constructor?.name;
  return name === undefined || name === 'Object' ? undefined : `handle ${name}`;
}

/**
 * Prints {@link CLOSED_LINE}, then what still keeps the process alive, now and every 200 ms
 * after (from an unref'd timer, which itself keeps nothing alive), so a test whose child does not
 * exit can say which handles were left open.
 */
export function reportClosed(): void {
  process.stdout.write(`${CLOSED_LINE}\n`);
  let last = '';
  const snapshot = () => {
    const line = JSON.stringify(activeResources());
    if (line === last) return;
    last = line;
    process.stdout.write(`${ACTIVE_RESOURCES_PREFIX}${line}\n`);
  };
  snapshot();
  setInterval(snapshot, SNAPSHOT_INTERVAL_MS).unref();
}
