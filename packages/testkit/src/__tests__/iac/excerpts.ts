/**
 * The IaC snippets of the docs are excerpts of the files in `infra/`: a fenced block right after
 * a marker line `<!-- infra excerpt: infra/… -->` must be a run of whole lines of that file
 * (indentation removed evenly), and a block that declares DynamoDB tables or IAM policies must
 * carry such a marker, so no hand-written copy can drift from what the test checks.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPOSITORY } from './model.js';

/** One fenced code block of a Markdown file. */
export interface FencedBlock {
  /** `packages/cache/README.md:812`, for messages. */
  readonly where: string;
  /** The file named by the marker line before the fence, if any. */
  readonly excerptOf: string | undefined;
  readonly text: string;
}

const MARKER = /^<!-- infra excerpt: (\S+) -->$/;

/** Text that only IaC declares: a table, an IAM resource, a DynamoDB action. */
export const DECLARES_IAC =
  /AWS::DynamoDB::Table|AWS::IAM::|"aws_dynamodb_table"|"aws_iam_policy(_document)?"|dynamodb:[A-Z]/;

function markdownUnder(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(path).isDirectory()) return markdownUnder(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/** The docs that may hold IaC snippets: the READMEs, each package's docs/, and infra/. */
export function documentationFiles(): string[] {
  const packages = join(REPOSITORY, 'packages');
  const files = [join(REPOSITORY, 'README.md'), ...markdownUnder(join(REPOSITORY, 'infra'))];
  files.push(...markdownUnder(join(REPOSITORY, 'docs')));
  for (const name of readdirSync(packages)) {
    files.push(join(packages, name, 'README.md'), ...markdownUnder(join(packages, name, 'docs')));
  }
  return files.filter((file) => existsSync(file)).map((file) => relative(REPOSITORY, file));
}

/** The fenced blocks of a Markdown file (repository-relative path). */
export function fencedBlocks(file: string): FencedBlock[] {
  const lines = readFileSync(join(REPOSITORY, file), 'utf8').split('\n');
  const blocks: FencedBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const fence = /^(\s*)(```+|~~~+)/.exec(lines[index]!);
    if (fence === null) continue;
    const [, indent, marks] = fence;
    const start = index;
    const body: string[] = [];
    for (index++; index < lines.length && !lines[index]!.startsWith(`${indent}${marks}`); index++) {
      body.push(lines[index]!.slice(indent!.length));
    }
    const marker = MARKER.exec((lines[start - 1] ?? '').trim());
    blocks.push({ where: `${file}:${start + 1}`, excerptOf: marker?.[1], text: body.join('\n') });
  }
  return blocks;
}

/** Whether `excerpt` is a run of whole lines of `source`, with one indentation removed from all. */
export function isExcerpt(excerpt: string, source: string): boolean {
  const wanted = excerpt.split('\n');
  const lines = source.split('\n');
  if (wanted.length === 0 || wanted.every((line) => line.trim() === '')) return false;
  for (let start = 0; start + wanted.length <= lines.length; start++) {
    const first = lines[start]!;
    const indent = first.length - first.trimStart().length;
    const matches = wanted.every((line, offset) => {
      const original = lines[start + offset]!;
      if (line === '' && original.trim() === '') return true;
      return original.slice(0, indent).trim() === '' && original.slice(indent) === line;
    });
    if (matches) return true;
  }
  return false;
}
