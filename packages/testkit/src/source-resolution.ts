/**
 * Loaded with `--import` into the child processes of the fleet harness (after tsx): registers
 * resolution hooks that send every `@breakwater/*` entry point to its TypeScript source, so child
 * processes, like the tests themselves, never run a stale `dist` build.
 */
import { register } from 'node:module';
import { workspaceSources } from './workspace-sources.js';

register(new URL('./source-resolution-hooks.mjs', import.meta.url), {
  data: { sources: workspaceSources() },
});
