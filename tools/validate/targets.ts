/**
 * Per-target health of a connector as the hub exports it (nowconnect_target_up{connector,target},
 * reported by the agents): one line per target, and a verdict — every target up ok, some down warn
 * (flows go to the healthy ones), all down fail (clients are refused with no_healthy_target).
 */
import { select, type Sample } from '../common/prom';

export const TARGET_UP = 'nowconnect_target_up';
export const TARGET_FAILURES = 'nowconnect_target_connect_failures_total';

export interface TargetHealthVerdict {
  readonly status: 'ok' | 'warn' | 'fail' | 'note';
  readonly detail: string;
  readonly lines: readonly string[];
}

export function targetHealth(samples: readonly Sample[], connector: string): TargetHealthVerdict {
  const targets = select(samples, TARGET_UP, { connector })
    .map((s) => ({ target: s.labels['target'] ?? '?', up: s.value >= 1 }))
    .sort((a, b) => a.target.localeCompare(b.target));
  if (targets.length === 0) {
    return { status: 'note', detail: `no target health reported for "${connector}" (no agent sends it: an older agent)`, lines: [] };
  }
  const failures = select(samples, TARGET_FAILURES, { connector }).filter((s) => s.value > 0);
  const lines = [
    ...targets.map((t) => `${t.target}: ${t.up ? 'up' : 'DOWN'}`),
    ...failures.map((s) => `${TARGET_FAILURES}{connector="${connector}",reason="${s.labels['reason'] ?? '?'}"} ${s.value}`),
  ];
  const down = targets.filter((t) => !t.up).length;
  const summary = `${targets.length - down} of ${targets.length} target(s) of "${connector}" healthy`;
  if (down === 0) return { status: 'ok', detail: summary, lines };
  if (down < targets.length) return { status: 'warn', detail: `${summary}: flows go to the healthy ones`, lines };
  return { status: 'fail', detail: `${summary}: clients are refused (no_healthy_target)`, lines };
}
