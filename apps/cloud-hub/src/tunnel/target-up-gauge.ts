import type { HubMetrics } from '../metrics/hub-metrics';
import type { HubTunnelSession } from './hub-tunnel-session';

/**
 * nowconnect_target_up{connector,target} from the agents' TARGET_HEALTH reports: 1 when any agent
 * connected to this hub sees the target healthy, 0 when every reporting agent sees it down; the
 * series goes away when no connected agent reports the target any more. `target` is the name the
 * agent's config gives (host:port text), never a resolved address.
 */
export class TargetUpGauge {
  private readonly exported = new Map<string, Set<string>>();

  constructor(private readonly metrics: HubMetrics) {}

  /** Recomputes the connectors named (after a report, or after a session left). */
  update(agents: readonly HubTunnelSession[], connectors: Iterable<string>): void {
    for (const connector of [...connectors]) {
      const up = new Map<string, boolean>();
      for (const a of agents) {
        for (const t of a.targetHealth.get(connector)?.targets ?? []) up.set(t.target, (up.get(t.target) ?? false) || t.up);
      }
      const before = this.exported.get(connector) ?? new Set<string>();
      for (const target of before) if (!up.has(target)) this.metrics.targetUp.remove({ connector, target });
      for (const [target, isUp] of up) this.metrics.targetUp.labels({ connector, target }).set(isUp ? 1 : 0);
      if (up.size === 0) this.exported.delete(connector);
      else this.exported.set(connector, new Set(up.keys()));
    }
  }
}
