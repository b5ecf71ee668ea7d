/**
 * `adaptive()`: a concurrency limit that follows the downstream's health, in the spirit of
 * Netflix's concurrency-limits. The bulkhead feeds it every finished call; the algorithm moves a
 * real-valued estimate, and the limit the bulkhead applies is that estimate rounded down and kept
 * in [min, max].
 */
import {
  expectInteger,
  expectObject,
  expectOneOf,
  expectPositive,
  expectRatio,
  Listeners,
  warnUnknownOptions,
} from '@breakwater/core';
import { ADAPTIVE_OPTIONS } from '../known-options.js';
import { aimdNext } from './aimd.js';
import { type GradientState, gradientNext } from './gradient.js';
import type { AdaptiveAlgorithm, AdaptiveLimit, LimitSample } from './limit.js';

/** Options of {@link adaptive}. */
export interface AdaptiveOptions {
  /**
   * `'aimd'`: +1 per healthy busy call, ×`backoffRatio` per failed or too slow call.
   * `'gradient'`: shrink in proportion to how much recent latency exceeds the long-run latency.
   * @default 'gradient'
   */
  algorithm?: AdaptiveAlgorithm | undefined;
  /** The lowest limit; also what priority-class reservations must fit in. @default 1 */
  min?: number | undefined;
  /** The highest limit. @default 200 */
  max?: number | undefined;
  /** The starting limit, in [min, max]. @default min(max, max(min, 20)) */
  initial?: number | undefined;
  /** Factor applied to the limit after a failed call (both algorithms), in (0, 1). @default 0.9 */
  backoffRatio?: number | undefined;
  /**
   * `'aimd'` only: a successful call slower than this (ms) counts as overload.
   * @default Infinity (only failures count)
   */
  latencyThresholdMs?: number | undefined;
  /** `'gradient'` only: tolerated ratio of recent to long-run latency. @default 1.5 */
  tolerance?: number | undefined;
  /** `'gradient'` only: weight of each new estimate, in (0, 1]. @default 0.2 */
  smoothing?: number | undefined;
  /** `'gradient'` only: samples in the recent-latency average. @default 10 */
  shortWindow?: number | undefined;
  /** `'gradient'` only: samples in the long-run latency average. @default 500 */
  longWindow?: number | undefined;
}

const ALGORITHMS: readonly AdaptiveAlgorithm[] = ['aimd', 'gradient'];

/**
 * Creates an adaptive limit for one bulkhead: `bulkhead({ limit: adaptive({ min: 5, max: 100 }) })`.
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function adaptive(options: AdaptiveOptions = {}): AdaptiveLimit {
  expectObject('options', options);
  warnUnknownOptions('adaptive()', options, { known: ADAPTIVE_OPTIONS });
  const algorithm =
    options.algorithm === undefined
      ? 'gradient'
      : expectOneOf('algorithm', options.algorithm, ALGORITHMS);
  const min = expectInteger('min', options.min ?? 1);
  const max = expectInteger('max', options.max ?? 200);
  if (max < min)
    throw new RangeError(`Expected \`max\` to be at least \`min\` (${min}), got ${max}`);
  const initial = expectInteger('initial', options.initial ?? Math.min(max, Math.max(min, 20)));
  if (initial < min || initial > max) {
    throw new RangeError(`Expected \`initial\` in [${min}, ${max}], got ${initial}`);
  }
  const backoffRatio = expectRatio('backoffRatio', options.backoffRatio ?? 0.9);
  if (backoffRatio === 1) throw new RangeError('Expected `backoffRatio` in (0, 1), got 1');
  const latencyThresholdMs =
    options.latencyThresholdMs === undefined ||
    options.latencyThresholdMs === Number.POSITIVE_INFINITY
      ? Number.POSITIVE_INFINITY
      : expectPositive('latencyThresholdMs', options.latencyThresholdMs);
  const tolerance = expectPositive('tolerance', options.tolerance ?? 1.5);
  if (tolerance < 1) throw new RangeError(`Expected \`tolerance\` to be >= 1, got ${tolerance}`);
  const smoothing = expectRatio('smoothing', options.smoothing ?? 0.2);
  const shortWindow = expectInteger('shortWindow', options.shortWindow ?? 10);
  const longWindow = expectInteger('longWindow', options.longWindow ?? 500);
  if (longWindow <= shortWindow) {
    throw new RangeError(
      `Expected \`longWindow\` to be greater than \`shortWindow\` (${shortWindow}), got ${longWindow}`,
    );
  }

  const gradient: GradientState = { limit: initial, shortRtt: Number.NaN, longRtt: Number.NaN };
  let estimate = initial;
  let current = initial;
  const listeners = new Listeners<number>('bulkhead adaptive onChange');
  const clamp = (value: number): number => Math.min(max, Math.max(min, value));

  return {
    algorithm,
    min,
    max,
    get current() {
      return current;
    },
    record(sample: LimitSample) {
      if (algorithm === 'aimd') {
        estimate = clamp(aimdNext(estimate, sample, { backoffRatio, latencyThresholdMs }));
      } else {
        gradient.limit = clamp(
          gradientNext(gradient, sample, {
            tolerance,
            smoothing,
            shortWindow,
            longWindow,
            backoffRatio,
          }),
        );
        estimate = gradient.limit;
      }
      const next = Math.floor(estimate);
      if (next === current) return;
      current = next;
      listeners.emit(next);
    },
    onChange(listener) {
      return listeners.add(listener);
    },
  };
}
