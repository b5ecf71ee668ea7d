/** The algorithm registry: name → implementation. */
import type { Algorithm } from './algorithm.js';
import { fixedWindow } from './fixed-window.js';
import { gcra } from './gcra.js';
import type { AlgorithmName } from './limit.js';
import { slidingWindow } from './sliding-window.js';
import { tokenBucket } from './token-bucket.js';

/** Every algorithm, by name. */
export const ALGORITHMS: Readonly<Record<AlgorithmName, Algorithm>> = {
  gcra,
  'token-bucket': tokenBucket,
  'sliding-window': slidingWindow,
  'fixed-window': fixedWindow,
};

/** The accepted values of the `algorithm` option. */
export const ALGORITHM_NAMES: readonly AlgorithmName[] = [
  'gcra',
  'token-bucket',
  'sliding-window',
  'fixed-window',
];
