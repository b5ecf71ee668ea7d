import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGES_DIR } from './workspace-sources.js';

/**
 * The marker that makes a README snippet runnable: an HTML comment (invisible on GitHub and npm)
 * on the line right before the code fence. A marked snippet must run as pasted — imports from the
 * published package names, every name it uses defined — and exit by itself with code 0.
 */
export const RUNNABLE_MARKER = '<!-- runnable -->';

/** The repository root (`packages/..`). */
export const REPOSITORY_DIR = join(PACKAGES_DIR, '..');

/** One TypeScript or JavaScript code block of a Markdown file. */
export interface Snippet {
  /** Repository-relative file and 1-based line of the opening fence: `packages/core/README.md:17`. */
  readonly where: string;
  /** Repository-relative path of the Markdown file. */
  readonly file: string;
  /** 1-based line of the opening fence: the snippet's line `n` is the file's line `line + n`. */
  readonly line: number;
  /** Whether the line before the fence is {@link RUNNABLE_MARKER}. */
  readonly runnable: boolean;
  /** The code between the fences. */
  readonly code: string;
}

const CODE_LANGUAGES = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);

function markdownUnder(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return markdownUnder(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/**
 * The Markdown files whose runnable snippets are run: the root README, every package README and
 * every file under a package's `docs/`. Repository-relative paths.
 */
export function snippetFiles(repository: string = REPOSITORY_DIR): string[] {
  const files = [join(repository, 'README.md')];
  const packages = join(repository, 'packages');
  for (const name of readdirSync(packages).sort()) {
    files.push(join(packages, name, 'README.md'), ...markdownUnder(join(packages, name, 'docs')));
  }
  return files.filter((file) => existsSync(file)).map((file) => relative(repository, file));
}

/** The TypeScript / JavaScript code blocks of a Markdown file, in order. */
export function codeSnippets(file: string, repository: string = REPOSITORY_DIR): Snippet[] {
  const lines = readFileSync(join(repository, file), 'utf8').split('\n');
  const snippets: Snippet[] = [];
  for (let index = 0; index < lines.length; index++) {
    const fence = /^(```+|~~~+)\s*(\S*)/.exec(lines[index]!);
    if (fence === null) continue;
    const [, marks, language] = fence;
    const start = index;
    const body: string[] = [];
    for (index++; index < lines.length && !lines[index]!.startsWith(marks!); index++) {
      body.push(lines[index]!);
    }
    if (!CODE_LANGUAGES.has(language!)) continue;
    snippets.push({
      where: `${file}:${start + 1}`,
      file,
      line: start + 1,
      runnable: (lines[start - 1] ?? '').trim() === RUNNABLE_MARKER,
      code: body.join('\n'),
    });
  }
  return snippets;
}

/**
 * Gives a snippet its own names, so that parallel runs (and runs after an earlier one left state in
 * Redis) never share a key: every `name: '…'` and `prefix: '…'` string literal gets `-<suffix>`
 * appended. Returns the rewritten code and how many literals were renamed.
 */
export function isolateNames(code: string, suffix: string): { code: string; renamed: number } {
  let renamed = 0;
  const rewritten = code.replace(
    /\b(name|prefix): (['"])([^'"\n]+)\2/g,
    (_match, option: string, quote: string, value: string) => {
      renamed++;
      return `${option}: ${quote}${value}-${suffix}${quote}`;
    },
  );
  return { code: rewritten, renamed };
}
