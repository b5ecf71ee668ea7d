#!/usr/bin/env node
/**
 * Lint: an async property must be awaited, or it asserts nothing.
 *
 * `fc.assert(fc.asyncProperty(…))` returns a promise. Left floating (a sync `it`, a missing
 * `await`), the test ends before a single run does and passes whatever the property says. This
 * check fails on `fc.assert(…)` / `fc.check(…)` of an async property (`fc.asyncProperty(…)`, or a
 * variable of the same file bound to one) that is not awaited, returned, or the body of an arrow
 * function; and on a call, not so handled, of a named function of the same file that returns or
 * awaits such a run (`const run = () => fc.assert(…)`), through any number of such functions.
 * (`fc.property()` with an async predicate needs no check: fast-check 4 fails it. Floating promises
 * of other kinds in tests are biome's `noFloatingPromises`, see biome.json.)
 *
 * It reads every TypeScript and JavaScript file of the repository that mentions fast-check
 * (node_modules, dist and .git excluded) with the TypeScript parser; no type information needed.
 *
 * Usage: node scripts/check-async-properties.mjs [file or directory …]   (default: the repository)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'coverage', '.changeset']);
const EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx']);

/** Every source file under `path` (a file or a directory). */
function* sourceFiles(path) {
  const stat = statSync(path);
  if (stat.isFile()) {
    if (EXTENSIONS.has(extname(path))) yield path;
    return;
  }
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) yield* sourceFiles(join(path, entry.name));
    } else if (
      entry.isFile() &&
      EXTENSIONS.has(extname(entry.name)) &&
      !entry.name.endsWith('.d.ts')
    ) {
      yield join(path, entry.name);
    }
  }
}

/** Strips what does not change the value: parentheses, `as`, `!`, `satisfies`. */
function unwrap(node) {
  let current = node;
  while (
    ts.isParenthesizedExpression(current) ||
    ts.isAsExpression(current) ||
    ts.isNonNullExpression(current) ||
    ts.isSatisfiesExpression(current) ||
    ts.isTypeAssertionExpression(current)
  ) {
    current = current.expression;
  }
  return current;
}

/** The nearest ancestor that is not a value-preserving wrapper, and the child below it. */
function consumer(node) {
  let child = node;
  let parent = node.parent;
  while (
    parent &&
    (ts.isParenthesizedExpression(parent) ||
      ts.isAsExpression(parent) ||
      ts.isNonNullExpression(parent) ||
      ts.isSatisfiesExpression(parent) ||
      ts.isTypeAssertionExpression(parent))
  ) {
    child = parent;
    parent = parent.parent;
  }
  return { parent, child };
}

/** The names this file gives fast-check: namespaces (`fc`) and named imports (local → imported). */
function fastCheckBindings(source) {
  const namespaces = new Set();
  const named = new Map();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement)) continue;
    const from = statement.moduleSpecifier;
    if (!ts.isStringLiteral(from) || from.text !== 'fast-check') continue;
    const clause = statement.importClause;
    if (!clause) continue;
    if (clause.name) namespaces.add(clause.name.text);
    const bindings = clause.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) namespaces.add(bindings.name.text);
    if (bindings && ts.isNamedImports(bindings)) {
      for (const element of bindings.elements) {
        const imported = (element.propertyName ?? element.name).text;
        if (imported === 'default') namespaces.add(element.name.text);
        else named.set(element.name.text, imported);
      }
    }
  }
  return { namespaces, named };
}

/**
 * Whether `callee` names fast-check's `name`: `<namespace>.name` or an imported `name`. `fc.name`
 * counts whatever the file imports (`fc` from a helper module, `require('fast-check')`).
 */
function isFastCheck(callee, name, bindings) {
  const node = unwrap(callee);
  if (ts.isPropertyAccessExpression(node)) {
    const object = unwrap(node.expression);
    return (
      node.name.text === name &&
      ts.isIdentifier(object) &&
      (bindings.namespaces.has(object.text) || object.text === 'fc')
    );
  }
  return ts.isIdentifier(node) && bindings.named.get(node.text) === name;
}

/** Problems in one file: `{ line, column, message }`. */
export function checkSource(fileName, text) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const bindings = fastCheckBindings(source);
  const asyncPropertyVariables = new Set();
  const problems = [];
  const report = (node, message) => {
    const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
    problems.push({ line: line + 1, column: character + 1, message });
  };

  const isAsyncPropertyCall = (node) =>
    ts.isCallExpression(node) && isFastCheck(node.expression, 'asyncProperty', bindings);

  // First pass: `const prop = fc.asyncProperty(…)`.
  const collect = (node) => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer &&
      isAsyncPropertyCall(unwrap(node.initializer))
    ) {
      asyncPropertyVariables.add(node.name.text);
    }
    ts.forEachChild(node, collect);
  };
  collect(source);

  const isAsyncProperty = (node) => {
    const value = unwrap(node);
    return (
      isAsyncPropertyCall(value) ||
      (ts.isIdentifier(value) && asyncPropertyVariables.has(value.text))
    );
  };

  /** Whether the promise `node` evaluates to is awaited, returned, or an arrow function's body. */
  const handled = (node) => {
    const { parent, child } = consumer(node);
    return (
      parent !== undefined &&
      (ts.isAwaitExpression(parent) ||
        ts.isReturnStatement(parent) ||
        (ts.isArrowFunction(parent) && parent.body === child))
    );
  };

  // Named functions of this file whose promise holds an async property run (`return fc.assert(…)`,
  // `() => fc.assert(…)`, an async function that awaits one), directly or through one another:
  // their calls must be awaited too.
  const helpers = new Set();
  const runs = [];
  const findRuns = (node) => {
    if (ts.isCallExpression(node)) {
      const runner = ['assert', 'check'].find((name) =>
        isFastCheck(node.expression, name, bindings),
      );
      if (runner && node.arguments.length > 0 && isAsyncProperty(node.arguments[0])) {
        runs.push({ node, what: `fc.${runner}() of an async property` });
      }
    }
    ts.forEachChild(node, findRuns);
  };
  findRuns(source);
  const helperCalls = (node, found) => {
    if (ts.isCallExpression(node)) {
      const callee = unwrap(node.expression);
      if (ts.isIdentifier(callee) && helpers.has(callee.text)) {
        found.push({ node, what: `${callee.text}(), which returns an async property run,` });
      }
    }
    ts.forEachChild(node, (child) => helperCalls(child, found));
  };
  let calls = [];
  for (let size = -1; size !== helpers.size; ) {
    size = helpers.size;
    calls = [];
    helperCalls(source, calls);
    for (const { node } of [...runs, ...calls]) {
      const name = handled(node) ? functionName(enclosingFunction(node)) : undefined;
      if (name) helpers.add(name);
    }
  }

  for (const { node, what } of [...runs, ...calls]) {
    if (!handled(node)) {
      report(
        node,
        `${what} is not awaited: it returns a promise, and the test ends before the property ` +
          'runs. Await it in an async test.',
      );
    }
  }
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** The innermost function `node` is in. */
function enclosingFunction(node) {
  let current = node.parent;
  while (current && !ts.isFunctionLike(current)) current = current.parent;
  return current;
}

/** The name a function is called by in its file: `function name`, `const name = () => …`. */
function functionName(fn) {
  if (!fn) return undefined;
  if (ts.isFunctionDeclaration(fn) && fn.name) return fn.name.text;
  const { parent } = consumer(fn);
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) {
    return parent.name.text;
  }
  return undefined;
}

function main(argv) {
  const targets = argv.length > 0 ? argv.map((path) => resolve(path)) : [ROOT];
  let files = 0;
  let failures = 0;
  for (const target of targets) {
    for (const file of sourceFiles(target)) {
      const text = readFileSync(file, 'utf8');
      if (!text.includes('fast-check')) continue;
      files++;
      for (const { line, column, message } of checkSource(file, text)) {
        failures++;
        console.error(`${relative(process.cwd(), file)}:${line}:${column} ${message}`);
      }
    }
  }
  if (failures > 0) {
    console.error(
      `\ncheck-async-properties: ${failures} un-awaited async propert${failures === 1 ? 'y' : 'ies'}.`,
    );
    process.exit(1);
  }
  console.log(
    `check-async-properties: ${files} files using fast-check, every async property awaited.`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
