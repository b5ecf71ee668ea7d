/**
 * `bench/results/ratios.svg`: a horizontal bar chart of the speed-up of Breakwater over each
 * competitor (competitor's mean time ÷ Breakwater's), one bar per row of the tables in
 * `bench/RESULTS.md`, grouped by pattern.
 *
 * Written by hand, no chart library: a log scale (the ratios span 0.5× to thousands ×), bars that
 * start at the 1× line and grow right when Breakwater is faster and left when it is slower, the
 * value at the end of each bar. Transparent background and mid-tone colours, so it reads on light
 * and dark pages alike. Deterministic: the same input gives
 * the same bytes (no dates, random ids or locale-dependent formatting beyond the input).
 */
import type { PatternComparison } from './comparison.js';
import { formatRatio } from './report.js';

/** What the chart shows. */
export interface RatioChartInput {
  readonly patterns: readonly PatternComparison[];
  /** One line under the title, e.g. the machine and the date of the run. */
  readonly subtitle?: string;
}

const WIDTH = 960;
const PADDING = 16;
const FONT_SIZE = 12;
/** Average advance of a 12 px sans-serif character, a little generous so labels fit. */
const CHAR_WIDTH = 6.4;
const BAR_HEIGHT = 16;
const ROW_HEIGHT = 24;
const GROUP_HEADING_HEIGHT = 26;
const TITLE_HEIGHT = 46;
const AXIS_HEIGHT = 34;
const VALUE_LABEL_WIDTH = 64;
/** Length of the arrow tip of a bar that runs past the axis. */
const TIP = 8;
/**
 * The axis stops at these ratios: one bar of 30,000× (bottleneck as a bulkhead) would otherwise
 * squeeze every ratio that matters, between 0.5× and 5×, into a few pixels. Longer bars end in
 * an arrow and carry their value.
 */
export const AXIS_MIN = 0.01;
export const AXIS_MAX = 1000;

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/** Coordinates with at most one decimal, so the output is stable and compact. */
function n(value: number): string {
  return String(Math.round(value * 10) / 10);
}

interface Bar {
  readonly label: string;
  readonly value: number | undefined;
}

interface Group {
  readonly title: string;
  readonly bars: readonly Bar[];
}

/** One bar per comparison row; the Breakwater case is named when its suite has several. */
export function chartGroups(patterns: readonly PatternComparison[]): Group[] {
  return patterns
    .filter((pattern) => pattern.rows.length > 0)
    .map((pattern) => {
      const oursPerSuite = new Map<string, Set<string>>();
      for (const row of pattern.rows) {
        const names = oursPerSuite.get(row.suiteId) ?? new Set<string>();
        names.add(row.ours.name);
        oursPerSuite.set(row.suiteId, names);
      }
      return {
        title: pattern.title,
        bars: pattern.rows.map((row) => {
          const several = (oursPerSuite.get(row.suiteId)?.size ?? 0) > 1;
          const subject = several ? `${row.scenario}, ${row.ours.name}` : row.scenario;
          return { label: `${subject} vs ${row.competitor.name}`, value: row.speedup?.value };
        }),
      };
    });
}

/** The largest 1, 2 or 5 × 10ⁿ that is at most `value`. */
function niceBelow(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [5, 2, 1].find((candidate) => candidate * power <= value) ?? 1;
  return Number((step * power).toPrecision(6));
}

/**
 * The axis: from a 1-2-5 step below the smallest value (with some room left of 1×) to the power
 * of ten above the largest, within {@link AXIS_MIN}–{@link AXIS_MAX}.
 */
export function logDomain(values: readonly number[]): { min: number; max: number } {
  const positive = values.filter((value) => value > 0 && Number.isFinite(value));
  const low = Math.max(AXIS_MIN, Math.min(1, ...positive) / 1.1);
  const high = Math.min(AXIS_MAX, Math.max(1, ...positive));
  const max = Math.max(10, Number((10 ** Math.ceil(Math.log10(high))).toPrecision(6)));
  return { min: niceBelow(low), max };
}

/** Tick values: both ends and every power of ten, plus 2× and 5× steps when the range is narrow. */
export function ticks(min: number, max: number): number[] {
  const steps = Math.log10(max / min) <= 2.01 ? [1, 2, 5] : [1];
  const values = new Set<number>([min]);
  for (let exponent = Math.floor(Math.log10(min)); exponent <= Math.log10(max); exponent++) {
    for (const step of steps) {
      const value = Number((step * 10 ** exponent).toPrecision(6));
      if (value >= min && value <= max) values.add(value);
    }
  }
  values.add(max);
  return [...values].sort((a, b) => a - b);
}

function tickLabel(value: number): string {
  if (value >= 1000) return `${new Intl.NumberFormat('en-US').format(value)}×`;
  return `${value}×`;
}

// One palette for light and dark pages, no media query: GitHub shows an SVG through <img>, where
// `prefers-color-scheme` follows the operating system, not the page's theme, so theme-switched
// colours can end up dark on dark. These mid tones keep a contrast of about 4:1 or better on
// both white and GitHub's dark background (#0d1117).
const STYLE = `
  .title { font: 600 15px sans-serif; }
  .subtitle, .tick, .legend { font: 11px sans-serif; }
  .group { font: 600 13px sans-serif; }
  .label, .value { font: ${FONT_SIZE}px sans-serif; }
  text { fill: #6e7781; }
  .grid { stroke: #8c959f; stroke-opacity: 0.35; stroke-width: 1; }
  .one { stroke: #6e7781; stroke-width: 1.5; }
  .faster { fill: #2da44e; }
  .slower { fill: #e5534b; }
`;

/** The SVG document. */
export function renderRatioChart({ patterns, subtitle }: RatioChartInput): string {
  const groups = chartGroups(patterns);
  const bars = groups.flatMap((group) => group.bars);
  const labelChars = Math.max(10, ...bars.map((bar) => bar.label.length));
  const labelWidth = Math.ceil(labelChars * CHAR_WIDTH);
  const plotLeft = PADDING + labelWidth + 12;
  const plotRight = WIDTH - PADDING - VALUE_LABEL_WIDTH;
  const { min, max } = logDomain(
    bars.flatMap((bar) => (bar.value === undefined ? [] : [bar.value])),
  );
  const x = (value: number) =>
    plotLeft +
    ((Math.log10(value) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) *
      (plotRight - plotLeft);
  const plotTop = PADDING + TITLE_HEIGHT;
  const plotHeight = groups.reduce(
    (sum, group) => sum + GROUP_HEADING_HEIGHT + group.bars.length * ROW_HEIGHT,
    0,
  );
  const plotBottom = plotTop + plotHeight;
  const height = plotBottom + AXIS_HEIGHT + PADDING;

  const title = 'Breakwater speed-up over each competitor (competitor time ÷ Breakwater time)';
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${n(height)}" viewBox="0 0 ${WIDTH} ${n(height)}" role="img" aria-labelledby="chart-title chart-desc">`,
    `<title id="chart-title">${escapeXml(title)}</title>`,
    `<desc id="chart-desc">${escapeXml(
      'Horizontal bars on a log scale starting at 1×. Bars to the right: Breakwater does that ' +
        'many times as many operations per second; bars to the left: fewer. ' +
        bars
          .map((bar) => `${bar.label}: ${bar.value === undefined ? 'n/a' : formatRatio(bar.value)}`)
          .join('; '),
    )}</desc>`,
    `<style>${STYLE}</style>`,
    `<text class="title" x="${PADDING}" y="${PADDING + 14}">${escapeXml(title)}</text>`,
    `<text class="subtitle" x="${PADDING}" y="${PADDING + 32}">${escapeXml(
      `Log scale. Right of 1×: Breakwater is faster; left: slower.${subtitle ? ` ${subtitle}` : ''}`,
    )}</text>`,
  ];

  // Grid and tick labels first, so the bars draw over them.
  for (const tick of ticks(min, max)) {
    const tx = n(x(tick));
    out.push(
      `<line class="${tick === 1 ? 'one' : 'grid'}" x1="${tx}" y1="${n(plotTop)}" x2="${tx}" y2="${n(plotBottom)}"/>`,
      `<text class="tick" x="${tx}" y="${n(plotBottom + 16)}" text-anchor="middle">${escapeXml(tickLabel(tick))}</text>`,
    );
  }
  if (!ticks(min, max).includes(1)) {
    out.push(
      `<line class="one" x1="${n(x(1))}" y1="${n(plotTop)}" x2="${n(x(1))}" y2="${n(plotBottom)}"/>`,
    );
  }

  let y = plotTop;
  for (const group of groups) {
    out.push(
      `<text class="group" x="${PADDING}" y="${n(y + GROUP_HEADING_HEIGHT - 8)}">${escapeXml(group.title)}</text>`,
    );
    y += GROUP_HEADING_HEIGHT;
    for (const bar of group.bars) {
      const middle = y + ROW_HEIGHT / 2;
      out.push(
        `<text class="label" x="${PADDING + labelWidth}" y="${n(middle + 4)}" text-anchor="end">${escapeXml(bar.label)}</text>`,
      );
      if (bar.value === undefined || !(bar.value > 0)) {
        out.push(`<text class="value" x="${n(x(1) + 6)}" y="${n(middle + 4)}">n/a (failed)</text>`);
      } else {
        const clamped = Math.min(max, Math.max(min, bar.value));
        const from = Math.min(x(1), x(clamped));
        const to = Math.max(x(1), x(clamped));
        const faster = bar.value >= 1;
        const kind = faster ? 'faster' : 'slower';
        const tooltip = `<title>${escapeXml(`${bar.label}: ${formatRatio(bar.value)}`)}</title>`;
        const top = middle - BAR_HEIGHT / 2;
        const bottom = middle + BAR_HEIGHT / 2;
        if (bar.value > max) {
          out.push(
            `<path class="${kind}" d="M${n(from)} ${n(top)}H${n(to - TIP)}L${n(to)} ${n(middle)}L${n(to - TIP)} ${n(bottom)}H${n(from)}Z">${tooltip}</path>`,
          );
        } else if (bar.value < min) {
          out.push(
            `<path class="${kind}" d="M${n(to)} ${n(top)}H${n(from + TIP)}L${n(from)} ${n(middle)}L${n(from + TIP)} ${n(bottom)}H${n(to)}Z">${tooltip}</path>`,
          );
        } else {
          out.push(
            `<rect class="${kind}" x="${n(from)}" y="${n(top)}" width="${n(Math.max(1, to - from))}" height="${BAR_HEIGHT}" rx="2">${tooltip}</rect>`,
          );
        }
        out.push(
          faster
            ? `<text class="value" x="${n(to + 6)}" y="${n(middle + 4)}">${escapeXml(formatRatio(bar.value))}</text>`
            : `<text class="value" x="${n(x(1) + 6)}" y="${n(middle + 4)}">${escapeXml(formatRatio(bar.value))}</text>`,
        );
      }
      y += ROW_HEIGHT;
    }
  }
  out.push(
    `<text class="legend" x="${n(plotRight)}" y="${n(plotBottom + 32)}" text-anchor="end">${escapeXml(
      `competitor time ÷ Breakwater time (higher is better)${
        bars.some((bar) => bar.value !== undefined && (bar.value > max || bar.value < min))
          ? '; an arrow: the bar runs past the axis'
          : ''
      }`,
    )}</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
