/** Name and version of this package, as reported to OpenTelemetry (kept equal to package.json by a test). */
export const RATE_LIMIT_PACKAGE = { name: '@breakwater/rate-limit', version: '0.1.0' } as const;
