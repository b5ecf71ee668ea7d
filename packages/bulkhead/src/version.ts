/** Name and version of this package, as reported to OpenTelemetry (kept equal to package.json by a test). */
export const BULKHEAD_PACKAGE = { name: '@breakwater/bulkhead', version: '0.1.0' } as const;
