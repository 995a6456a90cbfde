import { DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { register } from 'prom-client';
import { ConfigService } from '@nestjs/config';
import { HaConfigModule, type CloudConfig } from '@nowconnect/ha-config';
import { FramesModule } from '@nowconnect/frames';
import { FlowModule } from '@nowconnect/flow';
import { RegistryModule, type RegistryModuleOptions, type SweepResult } from '@nowconnect/registry';
import { MeshModule, type MeshModuleOptions } from '@nowconnect/mesh';
import { AuthRateLimiter, TunnelAuthenticator } from './auth';
import { EventLog } from '@nowconnect/logging';
import { HubMetrics } from './metrics/hub-metrics';
import { HUB_METRIC_PROVIDERS } from './metrics/hub-metric-providers';
import { TunnelSessions } from './tunnel/tunnel-sessions';
import { TunnelGateway } from './tunnel/tunnel.gateway';
import { ListenerManager } from './listeners/listener-manager';
import { HubState } from './health/hub-state';
import { HubReadinessIndicator } from './health/readiness.indicator';
import { HealthController } from './health/health.controller';
import { DrainService } from './drain/drain.service';
import { HaCoordinator } from './ha/ha-coordinator';
import { HaMetrics, HaMetricsModule } from './ha/ha-metrics';
import { MESH_STATUS } from './ha/mesh-status';
import { MESH_WS_PAYLOAD_SLACK, MeshManager } from './mesh/mesh-manager';
import { MeshGateway } from './mesh/mesh.gateway';
import { MeshMetricsModule } from './mesh/prom-mesh-metrics';

/**
 * The registry for `ha.*` (RegistryModule's factory): none with HA off, Redis for `ha.redis_url`, else
 * memory. Operation latencies and sweeps are counted in the HA metrics, a sweep that removed entries is logged.
 */
export function registryOptions(config: ConfigService<CloudConfig, true>, metrics: HaMetrics | undefined, log: EventLog): RegistryModuleOptions | null {
  const ha = config.get('ha', { infer: true });
  if (!ha.enabled || ha.mode === 'off') return null;
  return {
    redisUrl: ha.redisUrl,
    leaseMs: ha.leaseSec * 1000,
    sweepIntervalMs: ha.sweepIntervalSec * 1000,
    onOp: (op, seconds, ok) => {
      if (ok) metrics?.opSeconds.labels({ op }).observe(seconds);
      else metrics?.opErrors.labels({ op }).inc();
    },
    onSweep: (result: SweepResult | undefined) => {
      metrics?.sweeps.labels({ result: result ? 'ok' : 'error' }).inc();
      if (result === undefined) return;
      metrics?.sweptEntries.labels({ kind: 'connector_index' }).inc(result.removedIndexEntries);
      metrics?.sweptEntries.labels({ kind: 'replica' }).inc(result.removedReplicas);
      if (result.removedIndexEntries + result.removedReplicas > 0) {
        log.info('registry_swept', { index_entries: result.removedIndexEntries, replicas: result.removedReplicas });
      }
    },
  };
}

/**
 * The mesh's collaborators for `ha.*` (MeshModule's factory): none with HA off; the cert reloader when
 * `ha.mesh.tls` names a certificate or CA bundle; the link limits MeshManager used to set itself.
 */
export function meshOptions(config: ConfigService<CloudConfig, true>): MeshModuleOptions | null {
  const ha = config.get('ha', { infer: true });
  const limits = config.get('limits', { infer: true });
  if (!ha.enabled || ha.mode === 'off') return null;
  const tls = ha.mesh.tls;
  return {
    ...(tls.certFile !== undefined || tls.caBundle !== undefined ? { tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caBundle } } : {}),
    staticPeers: ha.mesh.peers,
    maxPayloadBytes: limits.maxFrameBytes + MESH_WS_PAYLOAD_SLACK,
    link: {
      localReplicaId: ha.replicaId,
      maxFrameBytes: limits.maxFrameBytes,
      sendQueueDepth: ha.mesh.sendQueueDepth,
      perLinkMaxInflightBytes: ha.mesh.perLinkMaxInflightBytes,
      keepaliveMs: limits.keepaliveSec * 1000,
      helloTimeoutMs: limits.helloTimeoutSec * 1000,
      flowWindowBytes: limits.flowWindowBytes,
      maxFlowWindowBytes: limits.maxFlowWindowBytes,
      linkWindowBytes: limits.tunnelWindowBytes,
    },
  };
}

/**
 * The cloud hub: wiring only; the data plane is plain classes created by TunnelSessions.
 * FramesModule and FlowModule are kept as (empty) markers of the dependency: both libraries are pure
 * code with no state or I/O of their own, so they provide nothing.
 * Shutdown (app.close(signal) from bootstrap): DrainService.beforeApplicationShutdown drains (listeners,
 * agent and mesh GOAWAY, flows), while the HTTP server still runs; then this module's
 * onApplicationShutdown hooks (MeshManager closes links and the mesh listener, HaCoordinator releases
 * its holdings), then the imported modules' (MeshModule: cert reloader stopped; RegistryModule: sweeper
 * stopped, Redis closed).
 */
@Module({})
export class HubModule {
  static forRoot(config: CloudConfig, authenticator: TunnelAuthenticator, log: EventLog): DynamicModule {
    const haOn = config.ha.enabled && config.ha.mode !== 'off';
    const haMetrics = HaMetricsModule.register(haOn);
    return {
      module: HubModule,
      imports: [
        HaConfigModule.forCloud(config),
        // Default (process) metrics once per process: several hub apps in one test process share them.
        PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: register.getSingleMetric('process_cpu_user_seconds_total') === undefined } }),
        TerminusModule,
        FramesModule,
        FlowModule,
        haMetrics,
        MeshMetricsModule.register(haOn),
        RegistryModule.forRootAsync({
          imports: [haMetrics],
          inject: [ConfigService, { token: HaMetrics, optional: true }],
          useFactory: (cs: ConfigService<CloudConfig, true>, metrics: HaMetrics | undefined) => registryOptions(cs, metrics, log),
        }),
        MeshModule.forRootAsync({ inject: [ConfigService], useFactory: (cs: ConfigService<CloudConfig, true>) => meshOptions(cs) }),
      ],
      controllers: [HealthController],
      providers: [
        { provide: EventLog, useValue: log },
        { provide: TunnelAuthenticator, useValue: authenticator },
        { provide: AuthRateLimiter, useValue: new AuthRateLimiter() },
        ...HUB_METRIC_PROVIDERS,
        HubMetrics,
        HubState,
        TunnelSessions,
        TunnelGateway,
        ListenerManager,
        HubReadinessIndicator,
        DrainService,
        HaCoordinator,
        MeshManager,
        MeshGateway,
        // HA off: the manager never starts (running false), and readiness does not ask.
        { provide: MESH_STATUS, useExisting: MeshManager },
      ],
    };
  }
}
