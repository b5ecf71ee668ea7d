/**
 * A slow catalog source: the database or product service that the cache protects. Every load takes
 * `latencyMs`; products 1…{@link CATALOG_SIZE} exist.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export const CATALOG_SIZE = 100;

export interface Product {
  id: string;
  name: string;
  priceCents: number;
  /** When this copy was read from the source (shows the age of a cached value). */
  loadedAt: string;
}

export interface Catalog {
  load(id: string, signal: AbortSignal): Promise<Product | undefined>;
  /** Loads performed so far. */
  readonly loads: number;
}

export function slowCatalog(latencyMs: number): Catalog {
  let loads = 0;
  return {
    get loads() {
      return loads;
    },
    async load(id, signal) {
      loads++;
      await sleep(latencyMs, undefined, { signal });
      const n = Number(id);
      if (!Number.isInteger(n) || n < 1 || n > CATALOG_SIZE) return undefined;
      return {
        id,
        name: `Product ${n}`,
        priceCents: 500 + ((n * 7919) % 9500),
        loadedAt: new Date().toISOString(),
      };
    },
  };
}
