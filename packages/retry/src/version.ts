/** Name and version of this package, as reported to OpenTelemetry (kept equal to package.json by a test). */
export const RETRY_PACKAGE = { name: '@breakwater/retry', version: '0.1.0' } as const;
