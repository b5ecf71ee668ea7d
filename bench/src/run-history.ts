/**
 * The record of every full run, kept in `bench/results/runs/` (not committed), so that
 * `bench/RESULTS.md` can say how each target fared over the last consecutive full runs rather than
 * in one (issue #18: a target is met only if it holds in every one of three).
 */
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import type { RunRecord } from './run-record.js';

/** How many run records the directory keeps; older ones are deleted. */
export const RUNS_KEPT = 10;

/** `2026-12-06T21:55:24.109Z` → `2026-12-06T21-55-24-109Z.json`: sortable, and a valid file name. */
export function runFileName(record: Pick<RunRecord, 'environment'>): string {
  return `${record.environment.date.replaceAll(/[:.]/g, '-')}.json`;
}

/** Whether two runs were made on the same machine and Node.js, so their ratios may be compared. */
export function sameMachine(a: RunRecord, b: RunRecord): boolean {
  return (
    a.environment.cpu === b.environment.cpu &&
    a.environment.cores === b.environment.cores &&
    a.environment.node === b.environment.node
  );
}

/**
 * The runs to fold into the page, oldest first: the last `count` full runs (no filter) made on
 * the newest run's machine and Node.js, stopping at the first run from another one (a run on
 * another machine breaks the sequence). Failed runs are kept: the targets they did not meet count
 * against "met in every run".
 */
export function selectRuns(records: readonly RunRecord[], count: number): RunRecord[] {
  const full = [...records]
    .filter((record) => record.filters.length === 0)
    .sort((a, b) => (a.environment.date < b.environment.date ? -1 : 1));
  const newest = full[full.length - 1];
  if (newest === undefined) return [];
  const selected: RunRecord[] = [];
  for (let i = full.length - 1; i >= 0 && selected.length < count; i--) {
    const record = full[i]!;
    if (!sameMachine(record, newest)) break;
    selected.unshift(record);
  }
  return selected;
}

/** Saves a full run's record in `dir` and deletes all but the newest {@link RUNS_KEPT}. */
export async function saveRun(dir: URL, record: RunRecord): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(new URL(runFileName(record), dir), `${JSON.stringify(record)}\n`);
  const files = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  for (const name of files.slice(0, Math.max(0, files.length - RUNS_KEPT))) {
    await unlink(new URL(name, dir));
  }
}

/** Every run record in `dir`, oldest first; none when the directory does not exist. */
export async function loadRuns(dir: URL): Promise<RunRecord[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return Promise.all(
    files.map(async (name) => JSON.parse(await readFile(new URL(name, dir), 'utf8')) as RunRecord),
  );
}
