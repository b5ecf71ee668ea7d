import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The `packages/` directory of the monorepo (this file is `packages/testkit/src/…`). */
export const PACKAGES_DIR = fileURLToPath(new URL('../../', import.meta.url));

interface Manifest {
  name?: string;
  exports?: Record<string, unknown>;
}

/**
 * Maps every public entry point of every workspace package (`@breakwater/core`,
 * `@breakwater/core/redis`, …) to the file URL of its TypeScript source — `src/<entry>.ts`, or the
 * export target itself when that is already a `.ts` file (the testkit) — the same mapping the root
 * vitest config aliases. Entries whose source file does not exist yet are mapped all the same, so
 * importing one fails naming the missing source instead of quietly loading a stale build.
 */
export function workspaceSources(packagesDir: string = PACKAGES_DIR): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const dir of readdirSync(packagesDir)) {
    const packageDir = join(packagesDir, dir);
    const manifestPath = join(packageDir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    if (manifest.name === undefined) continue;
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      if (subpath === './package.json' || subpath.includes('*')) continue;
      const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
      const source =
        typeof target === 'string' && target.endsWith('.ts')
          ? resolve(packageDir, target)
          : resolve(packageDir, 'src', `${subpath === '.' ? 'index' : subpath.slice(2)}.ts`);
      sources[specifier] = pathToFileURL(source).href;
    }
  }
  return sources;
}
