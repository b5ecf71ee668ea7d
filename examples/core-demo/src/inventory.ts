/**
 * A pretend "inventory service": the remote dependency the demo protects. It answers most calls,
 * but sometimes it is slow, sometimes it hangs and sometimes it fails, as real upstreams do. It
 * honours the AbortSignal it is given (stops working when asked), and writes down what it did so
 * the demo can show it next to what the caller got.
 */
import { randomInt, seededRandom } from './random.js';

/** What the upstream did during one call, in words. */
export interface UpstreamReport {
  did: string;
}

/** The upstream answered with an error status (a 503, say). */
export class UpstreamError extends Error {
  /** HTTP-like status code. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(`${status} ${message}`);
    this.name = 'UpstreamError';
    this.status = status;
  }
}

/** The SKU does not exist: a real answer, not an outage, so no fallback should hide it. */
export class UnknownSkuError extends Error {
  constructor(sku: string) {
    super(`unknown SKU ${sku}`);
    this.name = 'UnknownSkuError';
  }
}

/** Waits `ms`, or rejects with `signal.reason` as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Never settles on its own: rejects with `signal.reason` when `signal` aborts. */
function hang(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** The fake inventory service. */
export interface InventoryService {
  /**
   * Units in stock for `sku`. Honours `signal`: stops and rejects with its reason when it aborts.
   * Writes what it did into `report`.
   */
  getStock(sku: string, signal: AbortSignal, report: UpstreamReport): Promise<number>;
}

/**
 * Creates the flaky service over a fixed catalogue. With the same `seed` it misbehaves in the
 * same order on every run: about half the calls answer quickly, the rest are slow (70–120 ms),
 * hang, or fail with a 503.
 */
export function createInventoryService(
  seed: number,
  catalogue: Readonly<Record<string, number>>,
): InventoryService {
  const random = seededRandom(seed);
  return {
    async getStock(sku, signal, report) {
      const started = performance.now();
      const roll = random();
      try {
        const units = catalogue[sku];
        if (units === undefined) {
          const ms = randomInt(random, 2, 6);
          await sleep(ms, signal);
          report.did = `404 Not Found after ${ms} ms`;
          throw new UnknownSkuError(sku);
        }
        if (roll < 0.5) {
          const ms = randomInt(random, 5, 35);
          await sleep(ms, signal);
          report.did = `answered ${units} after ${ms} ms`;
          return units;
        }
        if (roll < 0.65) {
          const ms = randomInt(random, 70, 120);
          report.did = `slow (would take ${ms} ms)`;
          await sleep(ms, signal);
          report.did = `answered ${units} after ${ms} ms`;
          return units;
        }
        if (roll < 0.8) {
          report.did = 'hung';
          return await hang(signal);
        }
        const ms = randomInt(random, 3, 15);
        await sleep(ms, signal);
        report.did = `503 after ${ms} ms`;
        throw new UpstreamError(503, 'Service Unavailable');
      } catch (error) {
        if (signal.aborted) {
          const at = Math.round(performance.now() - started);
          report.did += `; stopped by ctx.signal at ${at} ms`;
        }
        throw error;
      }
    },
  };
}
