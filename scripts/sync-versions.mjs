#!/usr/bin/env node
/**
 * Carries each published package's version from its package.json into its `src/version.ts` (the
 * name and version it reports to OpenTelemetry), after `changeset version` has bumped the manifests.
 * Each package has a test that fails while the two differ; this makes the release step one command:
 * `npx --yes pnpm@10 version-packages` (= `changeset version`, then this script).
 *
 * Usage: node scripts/sync-versions.mjs [--check]   (--check: change nothing, exit 1 on a difference)
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const checkOnly = process.argv.includes('--check');
/** `version: '0.1.0'` as version.ts writes it (a single version property, quoted). */
const VERSION = /(\bversion:\s*)(['"])([^'"]*)\2/;

let stale = 0;
for (const dir of readdirSync(join(ROOT, 'packages'))) {
  const manifestPath = join(ROOT, 'packages', dir, 'package.json');
  const versionPath = join(ROOT, 'packages', dir, 'src', 'version.ts');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  if (manifest.private) continue;
  const where = relative(ROOT, versionPath);
  if (!existsSync(versionPath)) {
    console.error(`${where}: missing (${manifest.name} reports its version from it)`);
    stale++;
    continue;
  }
  const text = readFileSync(versionPath, 'utf8');
  const found = text.match(VERSION);
  if (!found || text.match(new RegExp(VERSION.source, 'g')).length !== 1) {
    console.error(`${where}: expected exactly one \`version: '…'\` property`);
    stale++;
    continue;
  }
  if (found[3] === manifest.version) continue;
  if (checkOnly) {
    console.error(`${where}: ${found[3]}, package.json: ${manifest.version}`);
    stale++;
    continue;
  }
  writeFileSync(versionPath, text.replace(VERSION, `$1$2${manifest.version}$2`));
  console.log(`${where}: ${found[3]} → ${manifest.version}`);
}
if (stale > 0) process.exit(1);
