/** Name and version of this package, as reported to OpenTelemetry (kept equal to package.json by a test). */
export const CACHE_PACKAGE = { name: '@breakwater/cache', version: '0.1.0' } as const;
