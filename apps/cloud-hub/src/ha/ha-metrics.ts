import { type DynamicModule, Injectable, Module, type Provider } from '@nestjs/common';
import { InjectMetric, makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

/** SPEC §7 names plus what operators need (names and labels fixed): the injection names. */
const N = {
  registryUp: 'nowconnect_registry_up',
  opSeconds: 'nowconnect_registry_op_seconds',
  opErrors: 'nowconnect_registry_op_errors_total',
  epochMismatch: 'nowconnect_owner_epoch_mismatch_total',
  shadowCrossReplica: 'nowconnect_shadow_cross_replica_total',
  crossReplicaRefused: 'nowconnect_cross_replica_refused_total',
  ownedAgents: 'nowconnect_registry_owned_agents',
  reasserts: 'nowconnect_registry_reasserts_total',
  ownershipLost: 'nowconnect_registry_ownership_lost_total',
  liveReplicas: 'nowconnect_registry_replicas',
  sweeps: 'nowconnect_registry_sweeps_total',
  sweptEntries: 'nowconnect_registry_swept_entries_total',
  mode: 'nowconnect_ha_mode',
  holderClaims: 'nowconnect_holder_claims_total',
  holderReleases: 'nowconnect_holder_releases_total',
  agentsByLinks: 'nowconnect_agents_by_links',
} as const;

/**
 * Provider declarations in the hub's usual `counter(name, help, labels)` shape (test/observability reads
 * the labels from these calls). makeXProvider is get-or-create on prom-client's default registry: several
 * apps in one process share the series.
 */
const counter = (name: string, help: string, labelNames: string[] = []): Provider => makeCounterProvider({ name, help, labelNames });
const gauge = (name: string, help: string, labelNames: string[] = []): Provider => makeGaugeProvider({ name, help, labelNames });
const histogram = (name: string, help: string, buckets: number[], labelNames: string[] = []): Provider =>
  makeHistogramProvider({ name, help, buckets, labelNames });

const METRIC_PROVIDERS: Provider[] = [
  gauge('nowconnect_registry_up', '1 while the ownership registry (Redis, or in-memory) answers'),
  histogram('nowconnect_registry_op_seconds', 'Registry operation latency', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], ['op']),
  counter('nowconnect_registry_op_errors_total', 'Registry operations that failed (Redis down, timeout)', ['op']),
  counter('nowconnect_owner_epoch_mismatch_total', 'Frames or claims refused because their ownership epoch is not the current one'),
  counter(
    'nowconnect_shadow_cross_replica_total',
    'Shadow mode: client connections that active mode would have sent over the mesh to another replica',
    ['connector'],
  ),
  counter(
    'nowconnect_cross_replica_refused_total',
    'Client connections closed because their agent is owned by another replica and cross-replica delivery is impossible',
    ['connector', 'reason'],
  ),
  gauge('nowconnect_registry_owned_agents', 'Agents this replica holds a tunnel for (claimed or awaiting a claim)'),
  counter('nowconnect_registry_reasserts_total', 'Ownership claims renewed with a fresh epoch', ['reason']),
  counter('nowconnect_registry_ownership_lost_total', 'Agents found owned by another replica while this one held their tunnel'),
  gauge('nowconnect_registry_replicas', 'Replica records with an unexpired lease, this replica included (as of the last heartbeat)'),
  counter('nowconnect_registry_sweeps_total', 'Registry sweeper runs', ['result']),
  counter('nowconnect_registry_swept_entries_total', 'Entries removed by the registry sweeper', ['kind']),
  gauge('nowconnect_ha_mode', 'HA mode of this hub (1 for the active label)', ['mode']),
];

/** Issue 15 (docs/registry.md "Holders"): provided with HaMetrics, HA on only. */
const HOLDER_METRIC_PROVIDERS: Provider[] = [
  counter('nowconnect_holder_claims_total', 'Holder entries claimed by this replica (HELLO, or a re-claim after a lease or registry loss)'),
  counter('nowconnect_holder_releases_total', 'Holder entries this replica dropped, by reason', ['reason']),
  gauge(
    'nowconnect_agents_by_links',
    'Agents by their number of live links (holder entries), counted by the holder replica whose id sorts first (sum over replicas = fleet)',
    ['links'],
  ),
];

/** Why a hub dropped its holder entry of an agent (closed set; primed at 0). */
export type HolderReleaseReason = 'tunnel_closed' | 'handoff' | 'stale_epoch' | 'shutdown';
export const HOLDER_RELEASE_REASONS: readonly HolderReleaseReason[] = ['tunnel_closed', 'handoff', 'stale_epoch', 'shutdown'];

/**
 * Holder metrics. `nowconnect_agents_by_links{links}` is computed at each heartbeat from what the registry
 * answers for the agents this replica holds; an agent is counted only by the holder replica whose id
 * sorts first, so `sum(nowconnect_agents_by_links)` over the fleet counts each agent once (no per-agent label).
 */
@Injectable()
export class HolderMetrics {
  constructor(
    @InjectMetric(N.holderClaims) readonly claims: Counter,
    @InjectMetric(N.holderReleases) readonly releases: Counter<'reason'>,
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

/** HA control-plane metrics, injected (see HaMetricsModule: provided only with HA on). */
@Injectable()
export class HaMetrics {
  constructor(
    @InjectMetric(N.registryUp) readonly registryUp: Gauge,
    @InjectMetric(N.opSeconds) readonly opSeconds: Histogram<'op'>,
    @InjectMetric(N.opErrors) readonly opErrors: Counter<'op'>,
    @InjectMetric(N.epochMismatch) readonly epochMismatch: Counter,
    @InjectMetric(N.shadowCrossReplica) readonly shadowCrossReplica: Counter<'connector'>,
    @InjectMetric(N.crossReplicaRefused) readonly crossReplicaRefused: Counter<'connector' | 'reason'>,
    @InjectMetric(N.ownedAgents) readonly ownedAgents: Gauge,
    @InjectMetric(N.reasserts) readonly reasserts: Counter<'reason'>,
    @InjectMetric(N.ownershipLost) readonly ownershipLost: Counter,
    @InjectMetric(N.liveReplicas) readonly liveReplicas: Gauge,
    @InjectMetric(N.sweeps) readonly sweeps: Counter<'result'>,
    @InjectMetric(N.sweptEntries) readonly sweptEntries: Counter<'kind'>,
    @InjectMetric(N.mode) readonly mode: Gauge<'mode'>,
  ) {
    this.sweeps.labels({ result: 'ok' }).inc(0);
    this.sweeps.labels({ result: 'error' }).inc(0);
    this.reasserts.labels({ reason: 'recovered' }).inc(0);
    this.reasserts.labels({ reason: 'lease_lost' }).inc(0);
  }
}

/**
 * Provides and exports `HaMetrics` and `HolderMetrics` with HA on. With `ha.mode: off` it provides nothing, so none of these
 * series exist and a `registry_up == 0` alert cannot fire on a single-replica hub (consumers inject
 * `HaMetrics` as optional).
 */
@Module({})
export class HaMetricsModule {
  static register(enabled: boolean): DynamicModule {
    const providers = enabled ? [...METRIC_PROVIDERS, HaMetrics, ...HOLDER_METRIC_PROVIDERS, HolderMetrics] : [];
    return { module: HaMetricsModule, providers, exports: enabled ? [HaMetrics, HolderMetrics] : [] };
  }
}
