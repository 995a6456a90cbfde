import { ConfigService } from '@nestjs/config';
import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { type CloudConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { HubMetrics } from '../metrics/hub-metrics';
import { HubState } from '../health/hub-state';
import { ListenerManager } from '../listeners/listener-manager';
import { TunnelSessions } from '../tunnel/tunnel-sessions';
import { MeshManager } from '../mesh/mesh-manager';

/**
 * SIGTERM drain (SPEC §9): /readyz 503 at once, listeners closed, agents told
 * GOAWAY, running flows continue up to server.drain_timeout_sec, the rest reset.
 * First step of the shutdown: `app.close(signal)` runs it as a beforeApplicationShutdown hook, while the
 * HTTP server (the agents' and peers' WebSockets) is still up; an app closed without a signal (tests)
 * is not drained.
 */
@Injectable()
export class DrainService implements BeforeApplicationShutdown {
  private draining: Promise<void> | undefined;

  /** The sections of the parsed config this component reads (through the typed ConfigService). */
  private readonly config: Pick<CloudConfig, 'server'>;

  constructor(
    configService: ConfigService<CloudConfig, true>,
    private readonly log: EventLog,
    private readonly metrics: HubMetrics,
    private readonly state: HubState,
    private readonly listeners: ListenerManager,
    private readonly sessions: TunnelSessions,
    private readonly mesh: MeshManager,
  ) {
    this.config = { server: configService.get('server', { infer: true }) };
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    if (signal !== undefined) await this.drain(signal);
  }

  drain(signal: string): Promise<void> {
    this.draining ??= this.run(signal);
    return this.draining;
  }

  private async run(signal: string): Promise<void> {
    const started = Date.now();
    this.state.phase = 'draining';
    this.metrics.draining.set(1);
    const timeoutSec = this.config.server.drainTimeoutSec;
    const activeFlows = (): number => this.sessions.totalFlows() + this.mesh.originFlowCount();
    this.log.info('drain_started', { signal, active_flows: activeFlows(), drain_timeout_sec: timeoutSec });
    await this.listeners.stopAccepting();
    this.sessions.startDrain();
    this.mesh.startDrain();
    await this.waitForFlows(activeFlows, timeoutSec * 1000);
    const reset = this.sessions.resetAll() + this.mesh.resetOrigins();
    this.sessions.closeAll();
    this.log.info('drain_complete', { reset_flows: reset, duration_ms: Date.now() - started });
  }

  /** Resolves when no flow is left (tunnel flows and cross-replica origin flows), or after timeoutMs. */
  private waitForFlows(active: () => number, timeoutMs: number): Promise<void> {
    if (active() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const poll = setInterval(() => active() === 0 && done(), 100);
      function done(): void {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      }
    });
  }
}
