import { Counter, Gauge, Histogram } from 'prom-client';
import { counter, gauge, histogram } from '../metrics/hub-metrics';

/**
 * HA control-plane metrics (SPEC §7 names plus what operators need). Created only when HA is on:
 * with `ha.mode: off` none of these series exist, so a `registry_up == 0` alert cannot fire on a
 * single-replica hub.
 */
export class HaMetrics {
  readonly registryUp: Gauge;
  readonly opSeconds: Histogram<'op'>;
  readonly opErrors: Counter<'op'>;
  readonly epochMismatch: Counter;
  readonly shadowCrossReplica: Counter<'connector'>;
  readonly crossReplicaRefused: Counter<'connector' | 'reason'>;
  readonly ownedAgents: Gauge;
  readonly reasserts: Counter<'reason'>;
  readonly ownershipLost: Counter;
  readonly liveReplicas: Gauge;
  readonly sweeps: Counter<'result'>;
  readonly sweptEntries: Counter<'kind'>;
  readonly mode: Gauge<'mode'>;

  constructor() {
    this.registryUp = gauge('nowconnect_registry_up', '1 while the ownership registry (Redis, or in-memory) answers');
    this.opSeconds = histogram('nowconnect_registry_op_seconds', 'Registry operation latency', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], ['op']);
    this.opErrors = counter('nowconnect_registry_op_errors_total', 'Registry operations that failed (Redis down, timeout)', ['op']);
    this.epochMismatch = counter('nowconnect_owner_epoch_mismatch_total', 'Frames or claims refused because their ownership epoch is not the current one');
    this.shadowCrossReplica = counter(
      'nowconnect_shadow_cross_replica_total',
      'Shadow mode: client connections that active mode would have sent over the mesh to another replica',
      ['connector'],
    );
    this.crossReplicaRefused = counter(
      'nowconnect_cross_replica_refused_total',
      'Client connections closed because their agent is owned by another replica and cross-replica delivery is impossible',
      ['connector', 'reason'],
    );
    this.ownedAgents = gauge('nowconnect_registry_owned_agents', 'Agents this replica holds a tunnel for (claimed or awaiting a claim)');
    this.reasserts = counter('nowconnect_registry_reasserts_total', 'Ownership claims renewed with a fresh epoch', ['reason']);
    this.ownershipLost = counter('nowconnect_registry_ownership_lost_total', 'Agents found owned by another replica while this one held their tunnel');
    this.liveReplicas = gauge('nowconnect_registry_replicas', 'Replica records with an unexpired lease, this replica included (as of the last heartbeat)');
    this.sweeps = counter('nowconnect_registry_sweeps_total', 'Registry sweeper runs', ['result']);
    this.sweptEntries = counter('nowconnect_registry_swept_entries_total', 'Entries removed by the registry sweeper', ['kind']);
    this.mode = gauge('nowconnect_ha_mode', 'HA mode of this hub (1 for the active label)', ['mode']);
    this.sweeps.labels({ result: 'ok' }).inc(0);
    this.sweeps.labels({ result: 'error' }).inc(0);
    this.reasserts.labels({ reason: 'recovered' }).inc(0);
    this.reasserts.labels({ reason: 'lease_lost' }).inc(0);
  }
}
