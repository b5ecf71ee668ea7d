/**
 * The demo's live view. On a terminal it redraws one block in place a few times a second; when
 * stdout is not a terminal (CI logs, a pipe) it prints one line per phase and per breaker move
 * instead, so the log reads top to bottom.
 */
import type { Phase } from '../scenario/phases.js';
import type { PhaseResult, Progress } from '../scenario/run.js';
import type { ReplicaStats } from '../stats.js';
import { bar, breakerLabel, count, fleetSum, percent, type Style, seconds } from './format.js';
import { fleetMoves } from './transitions.js';

export interface LiveView {
  phaseStart(phase: Phase, index: number, total: number): void;
  tick(progress: Progress): void;
  phaseEnd(result: PhaseResult, index: number): void;
  /** Leaves the screen in a normal state (cursor shown, block kept). */
  stop(): void;
  /** The highest write-behind lag any replica reported, in ms. */
  readonly maxLagMs: number;
}

function requestLine(progress: Progress, s: Style): string {
  const r = progress.regular.outcomes;
  const k = progress.spike.outcomes;
  return [
    `paid ${s.green(count(r.paid + k.paid))}`,
    `queued ${s.yellow(count(r.queued + k.queued))}`,
    `failed ${s.red(count(r.failed + k.failed))}`,
    `shed ${count(r.shed + k.shed)}`,
    `products ${count(r.product + k.product)}`,
    `errors ${count(r.error + k.error)}`,
  ].join('  ');
}

function breakerLine(stats: ReplicaStats[], s: Style): string {
  if (stats.length === 1) return breakerLabel(stats[0]!.breaker, s);
  return stats.map((r) => `r${r.replica} ${breakerLabel(r.breaker, s)}`).join('   ');
}

function block(progress: Progress, s: Style, maxLagMs: number): string[] {
  const { stats } = progress;
  const hits = fleetSum(stats, (r) => r.cache.hits);
  const misses = fleetSum(stats, (r) => r.cache.misses);
  const pending = fleetSum(stats, (r) => r.orders.pending);
  const lag = Math.max(0, ...stats.map((r) => r.orders.lagMs));
  const phase = `phase ${progress.phaseIndex + 1}/${progress.phaseCount} ${s.bold(progress.phase.name)}: ${progress.phase.title}`;
  const label = (text: string) => s.dim(text.padEnd(13));
  const lastMove = stats.length > 1 ? fleetMoves(stats).at(-1) : undefined;
  const moveLine = lastMove
    ? `${label('last move')}${lastMove.from} → ${lastMove.to} ${seconds(Date.now() - lastMove.at)} ago: ${lastMove.replicas.map((r) => `r${r.replica} +${r.delayMs} ms`).join(', ')}`
    : undefined;
  return [
    `${bar(progress.fraction, 36)} ${String(Math.round(progress.fraction * 100)).padStart(3)} %  ${seconds(progress.elapsedMs)}`,
    phase,
    '',
    `${label('breaker')}${breakerLine(stats, s)}`,
    ...(stats.length > 1 ? [moveLine ?? `${label('last move')}none yet`] : []),
    `${label('requests')}${requestLine(progress, s)}`,
    `${label('429s')}spike client ${count(progress.spike.outcomes.limited)}  others ${count(progress.regular.outcomes.limited)}`,
    `${label('retries')}${count(fleetSum(stats, (r) => r.retries))} (budget refused ${count(fleetSum(stats, (r) => r.retriesRefused))})  upstream calls ${count(fleetSum(stats, (r) => r.upstreamCalls))}`,
    `${label('bulkhead')}${fleetSum(stats, (r) => r.bulkhead.active)}/${stats[0]?.bulkhead.limit ?? 0} running, ${fleetSum(stats, (r) => r.bulkhead.queued)} queued`,
    `${label('cache')}hit ratio ${percent(hits, hits + misses)} (${count(hits)} hits, ${count(misses)} misses)`,
    `${label('write-behind')}${count(pending)} pending, lag ${lag} ms (max ${maxLagMs} ms)`,
  ];
}

export function liveView(stream: NodeJS.WriteStream, s: Style): LiveView {
  const interactive = stream.isTTY === true;
  let drawn = 0;
  let maxLagMs = 0;
  let seenTransitions = 0;
  let startedAt = Date.now();
  const write = (text: string) => stream.write(text);

  return {
    get maxLagMs() {
      return maxLagMs;
    },
    phaseStart(phase, index, total) {
      if (index === 0) startedAt = Date.now();
      if (!interactive) {
        write(
          `[${seconds(Date.now() - startedAt).padStart(7)}] phase ${index + 1}/${total} ${phase.name}: ${phase.title}\n`,
        );
      }
    },
    tick(progress) {
      maxLagMs = Math.max(maxLagMs, ...progress.stats.map((r) => r.orders.lagMs));
      if (interactive) {
        const lines = block(progress, s, maxLagMs);
        let out = drawn > 0 ? `\x1b[${drawn}A` : '\x1b[?25l';
        for (const line of lines) out += `\x1b[2K${line}\n`;
        write(out);
        drawn = lines.length;
        return;
      }
      // Plain output: report each replica's breaker changes as they happen.
      const all = progress.stats
        .flatMap((r) => r.transitions.map((t) => ({ ...t, replica: r.replica })))
        .sort((a, b) => a.at - b.at);
      for (const t of all.slice(seenTransitions)) {
        const who = progress.stats.length > 1 ? ` (replica ${t.replica})` : '';
        write(`[${seconds(t.at - startedAt).padStart(7)}]   breaker ${t.from} → ${t.to}${who}\n`);
      }
      seenTransitions = Math.max(seenTransitions, all.length);
    },
    phaseEnd(result) {
      if (interactive) return;
      const r = result.regular.outcomes;
      const k = result.spike.outcomes;
      write(
        `[${seconds(result.endedAt - startedAt).padStart(7)}]   done: paid ${r.paid + k.paid}, queued ${r.queued + k.queued}, failed ${r.failed + k.failed}, shed ${r.shed + k.shed}, 429s ${r.limited + k.limited}, products ${r.product + k.product}; breaker ${result.stats.map((x) => x.breaker).join('/')}\n`,
      );
    },
    stop() {
      if (interactive) write('\x1b[?25h');
    },
  };
}
