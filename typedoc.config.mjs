// @ts-check
/**
 * The API reference (`pnpm run docs`; plain `pnpm docs` is pnpm's own command): one module per public entry point of every published package
 * (`@breakwater/core`, `@breakwater/core/redis`, …), read from the packages' `exports` maps and
 * documented from the TypeScript sources. Written to `api-docs/` (not committed). Warnings fail the
 * run: a broken `{@link}`, an exported symbol without a doc comment, a type that is used by the
 * public API but not exported from it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The published packages' names, and `packages/<dir>/src/<entry>.ts` for each of their exports. */
function publishedPackages() {
  const names = [];
  const entries = [];
  for (const dir of readdirSync('packages').sort()) {
    const manifestPath = join('packages', dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (manifest.private) continue;
    names.push(manifest.name);
    for (const subpath of Object.keys(manifest.exports ?? {})) {
      if (subpath === './package.json') continue;
      const entry = subpath === '.' ? 'index' : subpath.slice(2);
      entries.push(join('packages', dir, 'src', `${entry}.ts`));
    }
  }
  return { names, entries };
}

const packages = publishedPackages();

/** @type {Partial<import('typedoc').TypeDocOptions>} */
const config = {
  name: 'Breakwater',
  entryPoints: packages.entries,
  entryPointStrategy: 'resolve',
  tsconfig: 'tsconfig.typedoc.json',
  out: 'api-docs',
  readme: 'none',
  // Source links to the repository on GitHub, whatever the clone's remotes are.
  disableGit: true,
  sourceLinkTemplate: 'https://github.com/breakwater-js/breakwater/blob/main/{path}#L{line}',
  excludePrivate: true,
  excludeInternal: true,
  sort: ['kind', 'alphabetical'],
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: true },
  // notDocumented looks only at these packages' declarations (TypeDoc's default is the root
  // package, which declares nothing).
  packagesRequiringDocumentation: packages.names,
  // Members of inline object types are covered by their declaration's comment: see the plugin.
  plugin: ['./scripts/typedoc-inline-members.mjs'],
  treatWarningsAsErrors: true,
};

export default config;
