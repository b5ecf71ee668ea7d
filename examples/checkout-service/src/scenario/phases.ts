/** The four phases the demo (and the end-to-end tests) drive the service through. */
import { HEALTHY_UPSTREAM, type UpstreamSettings } from '../payment-upstream.js';

export type PhaseName = 'healthy' | 'outage' | 'recovery' | 'spike';

export interface Phase {
  name: PhaseName;
  /** One line for humans. */
  title: string;
  durationMs: number;
  /** What the payment upstream does during the phase. */
  upstream: UpstreamSettings;
  /** Whether one client floods the service. */
  spike: boolean;
}

/** Phase lengths in ms; the tests shorten them. */
export type PhaseDurations = Record<PhaseName, number>;

export const DEMO_DURATIONS: Readonly<PhaseDurations> = {
  healthy: 5_000,
  outage: 6_000,
  recovery: 5_000,
  spike: 4_000,
};

export function phases(durations: PhaseDurations = DEMO_DURATIONS): Phase[] {
  return [
    {
      name: 'healthy',
      title: 'everything healthy',
      durationMs: durations.healthy,
      upstream: { ...HEALTHY_UPSTREAM },
      spike: false,
    },
    {
      name: 'outage',
      title: 'payment upstream down (every charge fails after 150 ms)',
      durationMs: durations.outage,
      upstream: { ...HEALTHY_UPSTREAM, outage: true },
      spike: false,
    },
    {
      name: 'recovery',
      title: 'payment upstream back',
      durationMs: durations.recovery,
      upstream: { ...HEALTHY_UPSTREAM },
      spike: false,
    },
    {
      name: 'spike',
      title: 'traffic spike from one client',
      durationMs: durations.spike,
      upstream: { ...HEALTHY_UPSTREAM },
      spike: true,
    },
  ];
}
