import { DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { HaConfigModule, type CloudConfig } from '@nowconnect/ha-config';
import { FramesModule } from '@nowconnect/frames';
import { FlowModule } from '@nowconnect/flow';
import { RegistryModule } from '@nowconnect/registry';
import { AuthRateLimiter, TunnelAuthenticator } from './auth';
import { EventLog } from '@nowconnect/logging';
import { HubMetrics } from './metrics/hub-metrics';
import { TunnelSessions } from './tunnel/tunnel-sessions';
import { TunnelGateway } from './tunnel/tunnel.gateway';
import { ListenerManager } from './listeners/listener-manager';
import { HubState } from './health/hub-state';
import { HubReadinessIndicator } from './health/readiness.indicator';
import { HealthController } from './health/health.controller';
import { DrainService } from './drain/drain.service';
import { HaCoordinator } from './ha/ha-coordinator';
import { MESH_STATUS } from './ha/mesh-status';
import { MeshManager } from './mesh/mesh-manager';
import { MeshGateway } from './mesh/mesh.gateway';

/** The cloud hub: wiring only; the data plane is plain classes created by TunnelSessions. */
@Module({})
export class HubModule {
  static forRoot(config: CloudConfig, authenticator: TunnelAuthenticator, log: EventLog): DynamicModule {
    return {
      module: HubModule,
      imports: [
        HaConfigModule.forCloud(config),
        PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true } }),
        TerminusModule,
        FramesModule,
        FlowModule,
        RegistryModule,
      ],
      controllers: [HealthController],
      providers: [
        { provide: EventLog, useValue: log },
        { provide: TunnelAuthenticator, useValue: authenticator },
        { provide: AuthRateLimiter, useValue: new AuthRateLimiter() },
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
