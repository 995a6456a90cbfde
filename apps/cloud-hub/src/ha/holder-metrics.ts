import { Counter, Gauge } from 'prom-client';
import { counter, gauge } from '../metrics/hub-metrics';

/** Why a hub dropped its holder entry of an agent (closed set; primed at 0). */
export type HolderReleaseReason = 'tunnel_closed' | 'handoff' | 'stale_epoch' | 'shutdown';
export const HOLDER_RELEASE_REASONS: readonly HolderReleaseReason[] = ['tunnel_closed', 'handoff', 'stale_epoch', 'shutdown'];

/**
 * Holder metrics (issue 15, docs/registry.md "Holders"). Created only when HA is on, like HaMetrics.
 * `nowconnect_agents_by_links{links}` is computed at each heartbeat from what the registry answers for
 * the agents this replica holds; an agent is counted only by the holder replica whose id sorts first,
 * so `sum(nowconnect_agents_by_links)` over the fleet counts each agent once (no per-agent label).
 */
export class HolderMetrics {
  readonly claims: Counter;
  readonly releases: Counter<'reason'>;
  readonly agentsByLinks: Gauge<'links'>;

  constructor() {
    this.claims = counter('nowconnect_holder_claims_total', 'Holder entries claimed by this replica (HELLO, or a re-claim after a lease or registry loss)');
    this.releases = counter('nowconnect_holder_releases_total', 'Holder entries this replica dropped, by reason', ['reason']);
    this.agentsByLinks = gauge(
      'nowconnect_agents_by_links',
      'Agents by their number of live links (holder entries), counted by the holder replica whose id sorts first (sum over replicas = fleet)',
      ['links'],
    );
    for (const reason of HOLDER_RELEASE_REASONS) this.releases.labels({ reason }).inc(0);
  }

  /** Replace the gauge with this heartbeat's counts (links -> agents). */
  setAgentsByLinks(counts: ReadonlyMap<number, number>): void {
    this.agentsByLinks.reset();
    for (const links of [1, 2]) this.agentsByLinks.labels({ links: String(links) }).set(0);
    for (const [links, n] of counts) this.agentsByLinks.labels({ links: String(links) }).set(n);
  }
}
