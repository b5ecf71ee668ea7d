// Node module resolution hooks for child processes (see source-resolution.ts). Plain JavaScript:
// Node loads hooks modules on its own loader thread, where tsx does not compile TypeScript.

/** @type {Map<string, string>} */
let sources = new Map();

/**
 * Receives the specifier-to-source map from `module.register()`.
 * @param {{ sources: Record<string, string> }} data
 * @returns {Promise<void>}
 */
export async function initialize(data) {
  sources = new Map(Object.entries(data.sources));
}

/**
 * Rewrites the public entry points of the workspace packages to the file URLs of their TypeScript
 * source and hands every specifier on down the chain: tsx must still see the source file's URL
 * to load it as TypeScript, and Node reports a missing source file by its path.
 * @type {import('node:module').ResolveHook}
 */
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(sources.get(specifier) ?? specifier, context);
}
