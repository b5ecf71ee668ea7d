/**
 * One limit of a limiter, with the derived numbers every algorithm needs computed once at
 * construction rather than on each decision.
 */
import type { Algorithm } from './algorithm.js';

/** The rate-limiting algorithms. See the README for when to pick which. */
export type AlgorithmName = 'gcra' | 'token-bucket' | 'sliding-window' | 'fixed-window';

/** A validated limit: `limit` cost per `intervalMs`, plus `burst`, metered by one algorithm. */
export interface CompiledLimit {
  /** The algorithm metering this limit. */
  readonly algorithm: AlgorithmName;
  /** Its implementation (the registry entry of `algorithm`). */
  readonly impl: Algorithm;
  /** Cost admitted per interval at the sustained rate. */
  readonly limit: number;
  /** Length of the interval, in milliseconds. */
  readonly intervalMs: number;
  /** Extra cost admitted on top of the sustained rate. */
  readonly burst: number;
  /** Milliseconds one unit of cost occupies at the sustained rate: `intervalMs / limit`. */
  readonly emissionMs: number;
  /**
   * The largest cost one call can ever be admitted with: `burst + 1` for the bucket algorithms
   * (gcra, token-bucket), `limit + burst` for the window algorithms.
   */
  readonly capacity: number;
}

/** Whether the algorithm meters a continuous rate (bucket) rather than counting per window. */
export function isBucketAlgorithm(algorithm: AlgorithmName): boolean {
  return algorithm === 'gcra' || algorithm === 'token-bucket';
}

/**
 * The name of a key's state layout, part of its store key: the algorithm when all limits share
 * one (`'gcra'`), otherwise the algorithms in order (`'gcra+fixed-window'`), so that changing an
 * algorithm starts from fresh state instead of misreading the old one.
 */
export function layoutName(limits: readonly CompiledLimit[]): string {
  const names = limits.map((limit) => limit.algorithm);
  return names.every((name) => name === names[0]) ? names[0]! : names.join('+');
}

/** Numbers of state of all limits together. */
export function stateLength(limits: readonly CompiledLimit[]): number {
  let length = 0;
  for (const limit of limits) length += limit.impl.stateSize;
  return length;
}
