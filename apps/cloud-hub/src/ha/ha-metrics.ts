import { type DynamicModule, Injectable, Module, type Provider } from '@nestjs/common';
import { InjectMetric, makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

/** SPEC §7 names plus what operators need (names and labels fixed). */
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
} as const;

/** The metric providers (prom-client's default registry, get-or-create: several apps in one process share them). */
const METRIC_PROVIDERS: Provider[] = [
  makeGaugeProvider({ name: N.registryUp, help: '1 while the ownership registry (Redis, or in-memory) answers' }),
  makeHistogramProvider({
    name: N.opSeconds,
    help: 'Registry operation latency',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    labelNames: ['op'],
  }),
  makeCounterProvider({ name: N.opErrors, help: 'Registry operations that failed (Redis down, timeout)', labelNames: ['op'] }),
  makeCounterProvider({ name: N.epochMismatch, help: 'Frames or claims refused because their ownership epoch is not the current one' }),
  makeCounterProvider({
    name: N.shadowCrossReplica,
    help: 'Shadow mode: client connections that active mode would have sent over the mesh to another replica',
    labelNames: ['connector'],
  }),
  makeCounterProvider({
    name: N.crossReplicaRefused,
    help: 'Client connections closed because their agent is owned by another replica and cross-replica delivery is impossible',
    labelNames: ['connector', 'reason'],
  }),
  makeGaugeProvider({ name: N.ownedAgents, help: 'Agents this replica holds a tunnel for (claimed or awaiting a claim)' }),
  makeCounterProvider({ name: N.reasserts, help: 'Ownership claims renewed with a fresh epoch', labelNames: ['reason'] }),
  makeCounterProvider({ name: N.ownershipLost, help: 'Agents found owned by another replica while this one held their tunnel' }),
  makeGaugeProvider({ name: N.liveReplicas, help: 'Replica records with an unexpired lease, this replica included (as of the last heartbeat)' }),
  makeCounterProvider({ name: N.sweeps, help: 'Registry sweeper runs', labelNames: ['result'] }),
  makeCounterProvider({ name: N.sweptEntries, help: 'Entries removed by the registry sweeper', labelNames: ['kind'] }),
  makeGaugeProvider({ name: N.mode, help: 'HA mode of this hub (1 for the active label)', labelNames: ['mode'] }),
];

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
 * Provides and exports `HaMetrics` with HA on. With `ha.mode: off` it provides nothing, so none of these
 * series exist and a `registry_up == 0` alert cannot fire on a single-replica hub (consumers inject
 * `HaMetrics` as optional).
 */
@Module({})
export class HaMetricsModule {
  static register(enabled: boolean): DynamicModule {
    const providers = enabled ? [...METRIC_PROVIDERS, HaMetrics] : [];
    return { module: HaMetricsModule, providers, exports: enabled ? [HaMetrics] : [] };
  }
}
