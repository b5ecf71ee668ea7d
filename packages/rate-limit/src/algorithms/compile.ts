/** Builds a {@link CompiledLimit} from validated numbers. */
import { ALGORITHMS } from './index.js';
import { type AlgorithmName, type CompiledLimit, isBucketAlgorithm } from './limit.js';

/** Derives the numbers of one limit. Inputs are assumed validated. */
export function compileLimit(
  algorithm: AlgorithmName,
  limit: number,
  intervalMs: number,
  burst: number,
): CompiledLimit {
  return {
    algorithm,
    impl: ALGORITHMS[algorithm],
    limit,
    intervalMs,
    burst,
    emissionMs: intervalMs / limit,
    capacity: isBucketAlgorithm(algorithm) ? burst + 1 : limit + burst,
  };
}
