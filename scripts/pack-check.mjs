#!/usr/bin/env node
/**
 * The packages as a user gets them: packs every published package (`pnpm pack`), installs the
 * tarballs with npm into a fresh project outside the workspace, together with the peers a user
 * installs (ioredis, @aws-sdk/client-dynamodb, @opentelemetry/api, opossum) and TypeScript — but
 * none of the HTTP frameworks, whose middleware must load and type-check without them — then
 *
 * - checks each tarball: LICENSE (the repository's), README.md, every file the manifest points
 *   at, no `workspace:` range left;
 * - runs an ES module and a CommonJS file that import every entry point of every exports map
 *   (`./package.json` included) and call a factory of each; each must exit by itself;
 * - type-checks the same code with `tsc --noEmit` under `moduleResolution` node16 (an .mts and a
 *   .cts file), bundler, and node10 (which only `typesVersions` serves).
 *
 * Needs the packages built (`pnpm build`) and the npm registry. Each command has a timeout and the
 * whole check a deadline (PACK_CHECK_DEADLINE_MS, default 10 minutes; a run takes under a minute);
 * past either, the commands still running are killed with their children. The temporary directory
 * is removed at the end, also on failure, the deadline, SIGTERM or Ctrl-C; `--keep` keeps it.
 *
 * Usage: node scripts/pack-check.mjs [--keep]      (root script: `pnpm check:pack`)
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const keep = process.argv.includes('--keep');
/** The deadline of the whole check; generous: a run with a cold npm cache takes about a minute. */
const DEADLINE_MS = Number(process.env.PACK_CHECK_DEADLINE_MS ?? 600_000);
if (!Number.isFinite(DEADLINE_MS) || DEADLINE_MS <= 0) {
  throw new RangeError(
    `Expected PACK_CHECK_DEADLINE_MS to be a positive number, got ${process.env.PACK_CHECK_DEADLINE_MS}`,
  );
}
const started = Date.now();

/** What a user of each entry point calls: one factory at least, closed again when it opens anything. */
const TOUCH = {
  '@breakwater/core': ($) => `
    const guarded = ${$}.pipeline(${$}.timeout({ ms: 1000 }));
    check((await guarded.execute(() => 42)) === 42, 'pipeline(timeout()).execute()');`,
  '@breakwater/core/redis': ($) => `
    check(typeof ${$}.redisProbe(redis, 'pack-check') === 'function', 'redisProbe()');`,
  '@breakwater/core/dynamodb': ($) => `
    check(typeof ${$}.dynamoProbe(dynamo, TABLE, 'pack-check') === 'function', 'dynamoProbe()');`,
  '@breakwater/circuit-breaker': ($) => `
    const breaker = ${$}.circuitBreaker({ name: 'pack-check' });
    check((await breaker.execute(() => 'ok')) === 'ok', 'circuitBreaker().execute()');
    await breaker.close();`,
  '@breakwater/circuit-breaker/redis': ($) => `
    await ${$}.redisStore({ client: redis, subscriber: false }).close();`,
  '@breakwater/circuit-breaker/dynamodb': ($) => `
    await ${$}.dynamoStore({ client: dynamo, tableName: TABLE }).close();`,
  '@breakwater/circuit-breaker/opossum': ($, ns) => `
    const opossum = new CircuitBreaker(async () => 'ok', { resetTimeout: 1000 });
    const link = ${$}.shareState(opossum, {
      store: ${ns('@breakwater/circuit-breaker')}.memoryStore(),
      name: 'pack-check-opossum',
    });
    check((await opossum.fire()) === 'ok', 'shareState(opossum) then fire()');
    await link.close();
    opossum.shutdown();`,
  '@breakwater/rate-limit': ($) => `
    const limiter = ${$}.rateLimiter({ name: 'pack-check', limit: 10, intervalMs: 1000 });
    check((await limiter.limit('k')).allowed, 'rateLimiter().limit()');
    await limiter.close();`,
  '@breakwater/rate-limit/redis': ($) => `
    await ${$}.redisStore({ client: redis }).close();`,
  '@breakwater/rate-limit/dynamodb': ($) => `
    await ${$}.dynamoStore({ client: dynamo, tableName: TABLE }).close();`,
  '@breakwater/rate-limit/http': ($, ns) => `
    const httpLimiter = ${ns('@breakwater/rate-limit')}.rateLimiter({ name: 'pack-check-http', limit: 1, intervalMs: 60000 });
    const httpCheck = ${$}.fetchRateLimit({ limiters: httpLimiter, key: () => 'k' });
    check((await httpCheck(new Request('http://localhost/'))).allowed, 'fetchRateLimit() admits');
    check(!(await httpCheck(new Request('http://localhost/'))).allowed, 'fetchRateLimit() refuses');
    await httpLimiter.close();`,
  '@breakwater/bulkhead': ($) => `
    const bulkhead = ${$}.bulkhead({ name: 'pack-check', maxConcurrent: 2 });
    check((await bulkhead.execute(() => 'ok')) === 'ok', 'bulkhead().execute()');
    await bulkhead.close();`,
  '@breakwater/bulkhead/redis': ($) => `
    await ${$}.redisStore({ client: redis }).close();`,
  '@breakwater/bulkhead/dynamodb': ($) => `
    await ${$}.dynamoStore({ client: dynamo, tableName: TABLE }).close();`,
  '@breakwater/retry': ($) => `
    const retrying = ${$}.retry({ maxAttempts: 2 });
    check((await retrying.execute(() => 'ok')) === 'ok', 'retry().execute()');
    await retrying.close();
    await ${$}.memoryDeadLetters().close();`,
  '@breakwater/retry/redis': ($) => `
    await ${$}.redisBudgetStore({ client: redis }).close();
    await ${$}.redisDeadLetters({ client: redis, stream: 'pack-check' }).close();`,
  '@breakwater/retry/dynamodb': ($) => `
    await ${$}.dynamoBudgetStore({ client: dynamo, tableName: TABLE }).close();
    await ${$}.dynamoDeadLetters({ client: dynamo, tableName: TABLE }).close();`,
  '@breakwater/retry/testing': ($, ns) => `
    const checks = ${$}.deadLetterQueueContract(() => ${ns('@breakwater/retry')}.memoryDeadLetters());
    check(checks.length > 0 && typeof checks[0].run === 'function', 'deadLetterQueueContract()');`,
  '@breakwater/cache': ($) => `
    const cached = ${$}.cache({ name: 'pack-check' });
    check((await cached.getOrLoad('k', async () => 'v')) === 'v', 'cache().getOrLoad()');
    await cached.close();`,
  '@breakwater/cache/redis': ($) => `
    await ${$}.redisStore({ client: redis, subscriber: false }).close();
    await ${$}.redisWriteBehindQueue({ client: redis }).close();`,
  '@breakwater/cache/dynamodb': ($) => `
    await ${$}.dynamoStore({ client: dynamo, tableName: TABLE }).close();
    await ${$}.dynamoWriteBehindQueue({ client: dynamo, tableName: TABLE }).close();`,
};

function log(message) {
  console.log(`[pack-check ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
}

/** The commands running now, each the leader of its own process group (see `run`). */
const children = new Set();

/** Kills every running command with everything it started (npx → pnpm, npm → its scripts). */
function killChildren() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  children.clear();
}

/** Runs a command; rejects with its output when it fails or outlives `timeoutMs`. */
function run(command, args, { cwd, timeoutMs = 300_000, env } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a timeout or the deadline ends the grandchildren too.
      detached: true,
    });
    children.add(child);
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      reject(
        new Error(`${command} ${args.join(' ')} did not exit within ${timeoutMs} ms\n${output}`),
      );
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) return resolvePromise(output);
      const error = new Error(`${command} ${args.join(' ')} failed (${signal ?? code})\n${output}`);
      error.output = output;
      reject(error);
    });
  });
}

/** pnpm: the one running this script (`pnpm check:pack` puts it on PATH), else pnpm 10 by npx. */
function pnpm() {
  if (process.env.npm_config_user_agent?.startsWith('pnpm/')) return ['pnpm', []];
  return ['npx', ['--yes', 'pnpm@10']];
}

/** Every target of an exports map (`./dist/…`), whatever the nesting of conditions. */
function targets(value) {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(targets);
  return [];
}

/** The published packages: every packages/* manifest that is not private. */
function publishedPackages() {
  const packages = [];
  for (const dir of readdirSync(join(ROOT, 'packages'))) {
    const manifestPath = join(ROOT, 'packages', dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (manifest.private) continue;
    const files = [
      ...targets(manifest.exports),
      manifest.main,
      manifest.module,
      manifest.types,
      ...targets(manifest.typesVersions),
    ].filter((file) => typeof file === 'string');
    const missing = files.filter((file) => !existsSync(join(ROOT, 'packages', dir, file)));
    if (missing.length > 0) {
      throw new Error(
        `${manifest.name}: ${missing.join(', ')} missing — run \`npx --yes pnpm@10 build\` first`,
      );
    }
    packages.push({ manifest, files: [...new Set(files)] });
  }
  return packages;
}

/**
 * Optional peers left out of the install: `@breakwater/rate-limit/http` must import and type-check
 * (`skipLibCheck: false`) for a user who installed none of the frameworks it has middleware for.
 */
const NOT_INSTALLED_PEERS = new Set(['express', 'fastify', 'hono']);

/** The peer ranges users are told to install, from the manifests; TypeScript from the root's. */
function installSpecs(packages) {
  const ranges = new Map();
  for (const { manifest } of packages) {
    for (const [name, range] of Object.entries(manifest.peerDependencies ?? {})) {
      if (NOT_INSTALLED_PEERS.has(name)) continue;
      const known = ranges.get(name);
      if (known !== undefined && known !== range) {
        throw new Error(`${name}: peer ranges differ between packages (${known} / ${range})`);
      }
      ranges.set(name, range);
    }
  }
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  // What a TypeScript user adds: the compiler, Node's types and, for the opossum bridge, opossum's.
  ranges.set('typescript', root.devDependencies.typescript);
  for (const { manifest } of packages) {
    const opossumTypes = manifest.devDependencies?.['@types/opossum'];
    if (manifest.peerDependencies?.opossum && opossumTypes)
      ranges.set('@types/opossum', opossumTypes);
  }
  ranges.set('@types/node', root.devDependencies['@types/node']);
  return [...ranges].map(([name, range]) => `${name}@${range}`);
}

/** Checks a tarball's file list and its packed manifest. */
async function checkTarball(tarball, { manifest, files }) {
  const listing = (await run('tar', ['-tzf', tarball])).split('\n').filter(Boolean);
  const inside = new Set(listing.map((path) => path.replace(/^package\//, '')));
  const wanted = [
    'package.json',
    'README.md',
    'LICENSE',
    ...files.map((f) => f.replace(/^\.\//, '')),
  ];
  const missing = wanted.filter((file) => !inside.has(file));
  if (missing.length > 0)
    throw new Error(`${manifest.name}: the tarball lacks ${missing.join(', ')}`);
  const leaked = [...inside].filter((file) => /(^|\/)(src|__tests__)\//.test(file));
  if (leaked.length > 0)
    throw new Error(`${manifest.name}: the tarball holds ${leaked.join(', ')}`);
  const license = await run('tar', ['-xzOf', tarball, 'package/LICENSE']);
  if (license !== readFileSync(join(ROOT, 'LICENSE'), 'utf8')) {
    throw new Error(`${manifest.name}: the packed LICENSE differs from the repository's LICENSE`);
  }
  const packed = await run('tar', ['-xzOf', tarball, 'package/package.json']);
  if (packed.includes('workspace:')) {
    throw new Error(`${manifest.name}: the packed manifest still has a workspace: range`);
  }
}

/** The specifier of every entry point of every exports map. */
function entryPoints(packages) {
  return packages.flatMap(({ manifest }) =>
    Object.keys(manifest.exports).map((subpath) =>
      subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`,
    ),
  );
}

/** A valid identifier for a specifier: `@breakwater/rate-limit/redis` → `rateLimitRedisEntry`. */
function identifier(specifier) {
  return specifier
    .replace('@breakwater/', '')
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((part, i) => (i === 0 ? part : part[0].toUpperCase() + part.slice(1)))
    .join('')
    .concat('Entry');
}

/**
 * One source file that imports every entry point and calls a factory of each. `flavour`: 'esm'
 * (.mjs, .mts, .ts), 'cjs' (.cjs: require) or 'cts' (.cts: import, compiled to require).
 */
function source(specifiers, flavour, { typed }) {
  const code = specifiers.filter((s) => !s.endsWith('/package.json'));
  const manifests = specifiers.filter((s) => s.endsWith('/package.json'));
  const missing = code.filter((s) => !(s in TOUCH));
  if (missing.length > 0) {
    throw new Error(`scripts/pack-check.mjs: no factory to call for ${missing.join(', ')} (TOUCH)`);
  }
  const lines = [];
  const imports = [
    ...code.map((s) => [identifier(s), s]),
    ['ioredisModule', 'ioredis'],
    ['dynamodbModule', '@aws-sdk/client-dynamodb'],
  ];
  for (const [name, specifier] of imports) {
    lines.push(
      flavour === 'cjs'
        ? `const ${name} = require('${specifier}');`
        : `import * as ${name} from '${specifier}';`,
    );
  }
  lines.push(
    flavour === 'cjs'
      ? `const CircuitBreaker = require('opossum');`
      : `import CircuitBreaker from 'opossum';`,
  );
  if (flavour === 'esm' && !typed) lines.push(`import { createRequire } from 'node:module';`);
  const check = typed
    ? 'function check(ok: unknown, what: string): void {'
    : 'function check(ok, what) {';
  lines.push(
    '',
    `const TABLE = 'breakwater';`,
    check,
    `  if (!ok) throw new Error(\`pack-check: \${what} did not answer as expected\`);`,
    `  console.log(\`  ok \${what}\`);`,
    '}',
    '',
    'async function main() {',
    '  const redis = new ioredisModule.Redis({ lazyConnect: true });',
    '  const dynamo = new dynamodbModule.DynamoDBClient({',
    `    region: 'us-east-1',`,
    `    endpoint: 'http://127.0.0.1:9',`,
    `    credentials: { accessKeyId: 'pack-check', secretAccessKey: 'pack-check' },`,
    '  });',
    '  try {',
  );
  for (const specifier of code) {
    lines.push(`    // ${specifier}`);
    const body = TOUCH[specifier](identifier(specifier), identifier);
    lines.push(...body.split('\n').filter((line) => line.trim() !== ''));
    lines.push(`    check(Object.keys(${identifier(specifier)}).length > 0, '${specifier}');`);
  }
  if (!typed) {
    // The manifests are entry points too (tools read versions through them).
    if (flavour === 'esm') lines.push('    const require = createRequire(import.meta.url);');
    for (const specifier of manifests) {
      const name = specifier.slice(0, -'/package.json'.length);
      lines.push(`    check(require('${specifier}').name === '${name}', '${specifier}');`);
      if (flavour === 'esm') {
        lines.push(
          `    check((await import('${specifier}', { with: { type: 'json' } })).default.name === '${name}', 'import ${specifier}');`,
        );
      }
    }
  }
  lines.push(
    '  } finally {',
    '    redis.disconnect();',
    '    dynamo.destroy();',
    '  }',
    '}',
    '',
    'main().then(',
    `  () => console.log('pack-check: every entry point imported and used'),`,
    '  (error) => {',
    '    console.error(error);',
    '    process.exitCode = 1;',
    '  },',
    ');',
    '',
  );
  return lines.join('\n');
}

/**
 * `tsc -p config` with `skipLibCheck: false`, so that our declaration files are checked too. Errors
 * inside other packages' declarations (ioredis' refer to the untyped `redis-errors`) are not ours
 * to fix and are counted, not failed on; any other error fails.
 */
async function typecheck(project, tsc, config) {
  try {
    await run(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { cwd: project });
    return 0;
  } catch (error) {
    if (typeof error.output !== 'string') throw error;
    const errors = error.output.split('\n').filter((line) => /error TS\d+/.test(line));
    const theirs = errors.filter(
      (line) => line.startsWith('node_modules/') && !line.startsWith('node_modules/@breakwater/'),
    );
    if (errors.length === 0 || theirs.length < errors.length) {
      throw new Error(`tsc -p ${config}:\n${error.output}`);
    }
    return theirs.length;
  }
}

function tsconfig(options, files) {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: 'es2022',
        lib: ['es2022'],
        types: ['node'],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        esModuleInterop: true,
        ...options,
      },
      files,
    },
    null,
    2,
  )}\n`;
}

async function main() {
  const packages = publishedPackages();
  const specifiers = entryPoints(packages);
  const work = mkdtempSync(join(tmpdir(), 'breakwater-pack-check-'));
  if (`${work}${sep}`.startsWith(`${ROOT}${sep}`))
    throw new Error(`${work} is inside the workspace`);
  const cleanup = () => {
    killChildren();
    if (keep) console.log(`pack-check: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  };
  const interrupted = (signal) => {
    cleanup();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  // The whole check, not only each command, has a deadline: CI must not wait on a stuck registry.
  let deadlineTimer;
  const deadline = new Promise((_, reject) => {
    deadlineTimer = setTimeout(
      () => reject(new Error(`not finished within ${DEADLINE_MS} ms (PACK_CHECK_DEADLINE_MS)`)),
      DEADLINE_MS,
    );
  });
  try {
    await Promise.race([packAndCheck(packages, specifiers, work), deadline]);
  } finally {
    clearTimeout(deadlineTimer);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    cleanup();
  }
}

/** Packs, installs, runs and type-checks in `work`; rejects on the first failed step. */
async function packAndCheck(packages, specifiers, work) {
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  const [pnpmCommand, pnpmArgs] = pnpm();
  log(`packing ${packages.map((p) => p.manifest.name).join(', ')}`);
  const filters = packages.flatMap(({ manifest }) => ['--filter', manifest.name]);
  const packArgs = [...pnpmArgs, '-r', ...filters, 'pack', '--pack-destination', tarballs];
  await run(pnpmCommand, packArgs, { cwd: ROOT });
  const packed = readdirSync(tarballs).filter((file) => file.endsWith('.tgz'));
  if (packed.length !== packages.length) {
    throw new Error(`expected ${packages.length} tarballs, got ${packed.join(', ')}`);
  }
  for (const pkg of packages) {
    const name = `${pkg.manifest.name.replace('@', '').replace('/', '-')}-${pkg.manifest.version}.tgz`;
    if (!packed.includes(name)) throw new Error(`no tarball ${name} in ${packed.join(', ')}`);
    pkg.tarball = join(tarballs, name);
    await checkTarball(pkg.tarball, pkg);
  }
  log('tarballs hold LICENSE, README.md and every file their manifests point at');

  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'breakwater-pack-check', version: '0.0.0', private: true }, null, 2)}\n`,
  );
  const specs = [...packages.map((p) => p.tarball), ...installSpecs(packages)];
  log(
    `npm install ${specs.map((s) => (s.endsWith('.tgz') ? relative(project, s) : `'${s}'`)).join(' ')}`,
  );
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefer-offline', ...specs],
    { cwd: project, env: { npm_config_update_notifier: 'false' } },
  );

  log('installed');

  writeFileSync(join(project, 'check.mjs'), source(specifiers, 'esm', { typed: false }));
  writeFileSync(join(project, 'check.cjs'), source(specifiers, 'cjs', { typed: false }));
  writeFileSync(join(project, 'check.mts'), source(specifiers, 'esm', { typed: true }));
  writeFileSync(join(project, 'check.cts'), source(specifiers, 'cts', { typed: true }));
  writeFileSync(join(project, 'check.ts'), source(specifiers, 'esm', { typed: true }));
  const configs = {
    node16: tsconfig({ module: 'node16', moduleResolution: 'node16' }, ['check.mts', 'check.cts']),
    bundler: tsconfig({ module: 'esnext', moduleResolution: 'bundler' }, ['check.ts']),
    node10: tsconfig({ module: 'commonjs', moduleResolution: 'node10' }, ['check.ts']),
  };
  for (const [name, text] of Object.entries(configs)) {
    writeFileSync(join(project, `tsconfig.${name}.json`), text);
  }

  const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  // The files run and the compilers check side by side; each result is reported in order.
  const runs = ['check.mjs', 'check.cjs'].map(async (file) => {
    // Each must exit by itself: a handle left open by a closed policy or store fails the check.
    const output = await run(process.execPath, [file], { cwd: project, env, timeoutMs: 60_000 });
    return `node ${file} (${process.version}): ${specifiers.length} entry points\n${output.trimEnd()}`;
  });
  const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
  const checks = Object.keys(configs).map(async (name) => {
    const ignored = await typecheck(project, tsc, `tsconfig.${name}.json`);
    return (
      `tsc --noEmit, moduleResolution ${name}: clean` +
      (ignored > 0 ? ` (${ignored} errors inside other packages' declarations ignored)` : '')
    );
  });
  const results = await Promise.allSettled([...runs, ...checks]);
  for (const result of results) if (result.status === 'fulfilled') log(result.value);
  const failures = results.filter((result) => result.status === 'rejected');
  if (failures.length > 0) throw new Error(failures.map((f) => f.reason?.message).join('\n\n'));
  log(`passed: ${packages.length} packages, ${specifiers.length} entry points`);
}

main().catch((error) => {
  console.error(`pack-check failed: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
});
