/** Name and version of this package, as reported to OpenTelemetry (kept equal to package.json by a test). */
export const CIRCUIT_BREAKER_PACKAGE = {
  name: '@breakwater/circuit-breaker',
  version: '0.1.0',
} as const;
