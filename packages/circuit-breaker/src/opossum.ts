/**
 * `@breakwater/circuit-breaker/opossum`: share the state of existing opossum breakers with the
 * fleet. Needs the optional peer `opossum` (9 or 10) only at run time, where you already have it.
 *
 * @module @breakwater/circuit-breaker/opossum
 */
export {
  type ObservedBreakerView,
  type OpossumBreakerLike,
  type SharedOpossumState,
  type ShareStateOptions,
  shareState,
} from './opossum-bridge.js';
