import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * Node command-line arguments that make a child `node` run TypeScript (through tsx) and resolve
 * `@breakwater/*` packages to their TypeScript source: `spawn(process.execPath,
 * [...sourceNodeArgs(), script])`.
 */
export function sourceNodeArgs(): string[] {
  const tsxLoader = createRequire(import.meta.url).resolve('tsx');
  const sourceResolution = new URL('./source-resolution.ts', import.meta.url);
  return ['--import', pathToFileURL(tsxLoader).href, '--import', sourceResolution.href];
}
