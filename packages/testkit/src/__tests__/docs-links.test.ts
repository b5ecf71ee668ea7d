/**
 * The links of the docs lead somewhere: every relative link in the root README, ARCHITECTURE.md,
 * the package READMEs and the packages' docs/ names a file that exists and, with a `#fragment`, a
 * heading of that file. Moving a section from a README to docs/ cannot leave a dead link behind.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPOSITORY_DIR, snippetFiles } from '../readme-snippets.js';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a Markdown file offers: its headings' slugs (numbered when repeated) and `id`s. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of text.split('\n')) {
    if (/^(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading !== null) {
      const slug = headingSlug(heading[1]!);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
  }
  return anchors;
}

/** The targets of the Markdown links of a file, outside code fences and inline code. */
function linksOf(text: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  let inFence = false;
  text.split('\n').forEach((line, index) => {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) return;
    const prose = line.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      links.push({ target: match[1]!, line: index + 1 });
    }
  });
  return links;
}

const files = ['ARCHITECTURE.md', ...snippetFiles()];

describe('links of the docs', () => {
  it('finds the docs', () => {
    expect(files).toContain('README.md');
    expect(files).toContain('packages/cache/README.md');
  });

  it('the root README links ARCHITECTURE.md', () => {
    const targets = linksOf(readFileSync(join(REPOSITORY_DIR, 'README.md'), 'utf8'));
    expect(targets.map((link) => link.target)).toContain('ARCHITECTURE.md');
  });

  it.each(files)('%s has no dead relative link', (file) => {
    const text = readFileSync(join(REPOSITORY_DIR, file), 'utf8');
    const dead: string[] = [];
    for (const { target, line } of linksOf(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path, fragment] = target.split('#') as [string, string | undefined];
      const resolved = path === '' ? file : normalize(join(dirname(file), path));
      const absolute = join(REPOSITORY_DIR, resolved);
      if (!existsSync(absolute)) {
        dead.push(`${file}:${line} → ${target} (no ${relative(REPOSITORY_DIR, absolute)})`);
        continue;
      }
      if (fragment === undefined || !resolved.endsWith('.md') || statSync(absolute).isDirectory()) {
        continue;
      }
      if (!anchorsOf(readFileSync(absolute, 'utf8')).has(decodeURIComponent(fragment))) {
        dead.push(`${file}:${line} → ${target} (no heading #${fragment} in ${resolved})`);
      }
    }
    expect(dead).toEqual([]);
  });
});
