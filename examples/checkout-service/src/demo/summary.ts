/** The demo's closing report: a table per phase, the breaker's moves, and what they show. */
import { quantile, type ScenarioResult } from '../scenario/run.js';
import { count, fleetSum, percent, type Style, seconds, table } from './format.js';
import { fleetMoves } from './transitions.js';

export function summary(result: ScenarioResult, s: Style, maxLagMs: number): string[] {
  const lines: string[] = [];
  const rows: string[][] = [];
  let retriesBefore = 0;
  for (const p of result.phases) {
    const r = p.regular.outcomes;
    const k = p.spike.outcomes;
    const retries = fleetSum(p.stats, (x) => x.retries);
    rows.push([
      p.phase.name,
      seconds(p.endedAt - p.startedAt),
      count(r.paid + k.paid),
      count(r.queued + k.queued),
      count(r.failed + k.failed),
      `${count(r.shed + k.shed)} (${count(p.batch.outcomes.shed)})`,
      count(r.product + k.product),
      count(r.limited),
      count(k.limited),
      count(retries - retriesBefore),
      count(p.upstreamReceived),
      `${Math.round(quantile(p.orderLatenciesMs, 0.95))} ms`,
      p.stats.map((x) => x.breaker).join('/'),
    ]);
    retriesBefore = retries;
  }
  lines.push(
    ...table(
      [
        'phase',
        'time',
        'paid',
        'queued',
        'failed',
        'shed (batch)',
        'products',
        '429 others',
        '429 spike',
        'retries',
        'upstream calls',
        'order p95',
        'breaker at end',
      ],
      rows,
      [false, true, true, true, true, true, true, true, true, true, true, true, false],
    ),
  );

  const moves = fleetMoves(result.stats);
  const phaseAt = (at: number) =>
    result.phases.find((p) => at >= p.startedAt && at < p.endedAt + 1)?.phase.name ?? 'after';
  if (moves.length > 0) {
    lines.push('', s.bold('Breaker moves') + s.dim(' (time since start, phase)'));
    for (const m of moves) {
      const replicas =
        result.stats.length > 1
          ? `   ${m.replicas.map((r) => `r${r.replica} +${r.delayMs} ms`).join(', ')}`
          : '';
      lines.push(
        `  ${seconds(m.at - result.startedAt).padStart(7)}  ${phaseAt(m.at).padEnd(8)}  ${`${m.from} → ${m.to}`.padEnd(22)}${replicas}`.trimEnd(),
      );
    }
  }

  const stats = result.stats;
  const hits = fleetSum(stats, (x) => x.cache.hits);
  const misses = fleetSum(stats, (x) => x.cache.misses);
  const probes = fleetSum(stats, (x) => x.probes);
  lines.push(
    '',
    `Cache hit ratio ${percent(hits, hits + misses)} (${count(hits)} hits, ${count(misses)} loads from the catalog); ` +
      `retries ${count(fleetSum(stats, (x) => x.retries))}, refused by the budget ${count(fleetSum(stats, (x) => x.retriesRefused))}; ` +
      `half-open probes ${count(probes)}.`,
    `Orders: ${stats[0]?.orderStore ?? '?'}; write-behind backlog at end ${count(fleetSum(stats, (x) => x.orders.pending))}, max lag ${maxLagMs} ms.`,
  );
  const written = fleetSum(stats, (x) => x.deadLetters.written);
  const lost = fleetSum(stats, (x) => x.deadLetters.lost);
  const replay = result.phases.find((p) => p.deadLetterReplay !== undefined);
  // On Redis every replica sees the fleet's one queue; in memory each has its own.
  const sizes = stats.map((x) => x.deadLetters.pending).filter((n): n is number => n !== null);
  const pending =
    stats[0]?.stateStore === 'redis' ? Math.max(0, ...sizes) : sizes.reduce((a, b) => a + b, 0);
  const replayed = replay?.deadLetterReplay;
  lines.push(
    `Dead letters (${stats[0]?.stateStore ?? '?'}): ${count(written)} payments queued after their retries were spent` +
      (lost > 0 ? ` (${count(lost)} lost: the queue's store failed)` : '') +
      (replayed
        ? `; replayed after the ${replay!.phase.name} phase: ${count(replayed.replayed)} charged, ${count(replayed.failed)} failed again (kept), ${count(replayed.skipped)} left to another replica`
        : '; not replayed') +
      `; ${count(pending)} in the queue at end.`,
  );

  const [healthy, outage, recovery, spike] = result.phases;
  const checks: [boolean, string][] = [];
  if (healthy) {
    const o = healthy.regular.outcomes;
    checks.push([
      o.paid > 0 && o.queued === 0,
      `healthy: ${count(o.paid)} orders paid, none queued`,
    ]);
  }
  if (outage) {
    const o = outage.regular.outcomes;
    const opened = moves.find((m) => m.to === 'open' && phaseAt(m.at) === 'outage');
    checks.push([
      opened !== undefined && o.queued > 0,
      `outage: breaker opened ${opened ? `${seconds(opened.at - outage.startedAt)} in` : 'never'}; ` +
        `${count(o.queued)} orders answered "payment queued for later"; the upstream got ${count(outage.upstreamReceived)} calls for ${count(o.paid + o.queued + o.failed + o.shed)} orders`,
    ]);
  }
  if (recovery) {
    const o = recovery.regular.outcomes;
    const closed = moves.find((m) => m.to === 'closed' && phaseAt(m.at) === 'recovery');
    checks.push([
      closed !== undefined && o.paid > 0,
      `recovery: breaker closed ${closed ? `${seconds(closed.at - recovery.startedAt)} in` : 'never'}; ${count(o.paid)} orders paid`,
    ]);
  }
  if (outage) {
    checks.push([
      replayed !== undefined && replayed.replayed > 0,
      `dead letters: ${count(written)} payments given up on during the outage, ` +
        `${count(replayed?.replayed ?? 0)} charged by the replay once the upstream was back, each once`,
    ]);
  }
  if (spike) {
    const sample = spike.limitedSample;
    checks.push([
      spike.spike.outcomes.limited > 0 && spike.regular.outcomes.limited === 0,
      `spike: ${count(spike.spike.outcomes.limited)} × 429 for the spiking client, ${count(spike.regular.outcomes.limited)} for the others` +
        (sample ? ` (RateLimit: ${sample.rateLimit}; Retry-After: ${sample.retryAfter})` : ''),
    ]);
  }
  if (stats.length > 1) {
    const together = moves.every((m) => m.replicas.length === stats.length);
    checks.push([
      together,
      `fleet: ${stats.length} replicas made ${moves.length} breaker moves ${together ? 'together' : 'but not all together'}`,
    ]);
  }
  lines.push('');
  for (const [ok, text] of checks) lines.push(`${ok ? s.green('✓') : s.red('✗')} ${text}`);
  return lines;
}
