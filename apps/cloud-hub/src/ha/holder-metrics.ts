import { Injectable, type Provider } from '@nestjs/common';
import { InjectMetric, makeCounterProvider, makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge } from 'prom-client';

/** Why a hub dropped its holder entry of an agent (closed set; primed at 0). */
export type HolderReleaseReason = 'tunnel_closed' | 'handoff' | 'stale_epoch' | 'shutdown';
export const HOLDER_RELEASE_REASONS: readonly HolderReleaseReason[] = ['tunnel_closed', 'handoff', 'stale_epoch', 'shutdown'];

const N = {
  claims: 'nowconnect_holder_claims_total',
  releases: 'nowconnect_holder_releases_total',
  agentsByLinks: 'nowconnect_agents_by_links',
} as const;

/** Provided with HaMetrics by HaMetricsModule (HA on only). */
export const HOLDER_METRIC_PROVIDERS: Provider[] = [
  makeCounterProvider({ name: N.claims, help: 'Holder entries claimed by this replica (HELLO, or a re-claim after a lease or registry loss)', labelNames: [] }),
  makeCounterProvider({ name: N.releases, help: 'Holder entries this replica dropped, by reason', labelNames: ['reason'] }),
  makeGaugeProvider({
    name: N.agentsByLinks,
    help: 'Agents by their number of live links (holder entries), counted by the holder replica whose id sorts first (sum over replicas = fleet)',
    labelNames: ['links'],
  }),
];

/**
 * Holder metrics (issue 15, docs/registry.md "Holders"), HA on only, like HaMetrics.
 * `nowconnect_agents_by_links{links}` is computed at each heartbeat from what the registry answers for
 * the agents this replica holds; an agent is counted only by the holder replica whose id sorts first,
 * so `sum(nowconnect_agents_by_links)` over the fleet counts each agent once (no per-agent label).
 */
@Injectable()
export class HolderMetrics {
  constructor(
    @InjectMetric(N.claims) readonly claims: Counter,
    @InjectMetric(N.releases) readonly releases: Counter<'reason'>,
    @InjectMetric(N.agentsByLinks) readonly agentsByLinks: Gauge<'links'>,
  ) {
    this.claims.inc(0);
    for (const reason of HOLDER_RELEASE_REASONS) this.releases.labels({ reason }).inc(0);
  }

  /** Replace the gauge with this heartbeat's counts (links -> agents). */
  setAgentsByLinks(counts: ReadonlyMap<number, number>): void {
    this.agentsByLinks.reset();
    for (const links of [1, 2]) this.agentsByLinks.labels({ links: String(links) }).set(0);
    for (const [links, n] of counts) this.agentsByLinks.labels({ links: String(links) }).set(n);
  }
}
