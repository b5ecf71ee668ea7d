/** Small text helpers for the demo's terminal output. */
import type { BreakerState } from '@breakwater/circuit-breaker';
import type { ReplicaStats } from '../stats.js';

export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
}

const ansi = (open: number, close: number) => (text: string) =>
  `\x1b[${open}m${text}\x1b[${close}m`;

export function style(color: boolean): Style {
  if (!color) {
    const plain = (text: string) => text;
    return { bold: plain, dim: plain, green: plain, yellow: plain, red: plain };
  }
  return {
    bold: ansi(1, 22),
    dim: ansi(2, 22),
    green: ansi(32, 39),
    yellow: ansi(33, 39),
    red: ansi(31, 39),
  };
}

export function breakerLabel(state: BreakerState, s: Style): string {
  if (state === 'closed') return s.green('closed');
  if (state === 'half-open') return s.yellow('half-open');
  return s.red(state);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? '–' : `${((100 * part) / whole).toFixed(1)} %`;
}

export function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** Visible length of a string that may hold ANSI colour codes. */
function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

export function pad(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, width - visibleLength(text)));
  return align === 'left' ? text + fill : fill + text;
}

/** A table with a header row, right-aligned numbers and left-aligned text. */
export function table(header: string[], rows: string[][], numeric: boolean[]): string[] {
  const widths = header.map((h, i) =>
    Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => pad(c, widths[i]!, numeric[i] ? 'right' : 'left'))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
}

/** Sums one numeric field over every replica. */
export function fleetSum(stats: ReplicaStats[], pick: (s: ReplicaStats) => number): number {
  return stats.reduce((sum, s) => sum + pick(s), 0);
}
