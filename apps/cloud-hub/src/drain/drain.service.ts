import { Inject, Injectable } from '@nestjs/common';
import { CLOUD_CONFIG, type CloudConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { HubMetrics } from '../metrics/hub-metrics';
import { HubState } from '../health/hub-state';
import { ListenerManager } from '../listeners/listener-manager';
import { TunnelSessions } from '../tunnel/tunnel-sessions';

/**
 * SIGTERM drain (SPEC §9): /readyz 503 at once, listeners closed, agents told
 * GOAWAY, running flows continue up to server.drain_timeout_sec, the rest reset.
 */
@Injectable()
export class DrainService {
  private draining: Promise<void> | undefined;

  constructor(
    @Inject(CLOUD_CONFIG) private readonly config: CloudConfig,
    private readonly log: EventLog,
    private readonly metrics: HubMetrics,
    private readonly state: HubState,
    private readonly listeners: ListenerManager,
    private readonly sessions: TunnelSessions,
  ) {}

  drain(signal: string): Promise<void> {
    this.draining ??= this.run(signal);
    return this.draining;
  }

  private async run(signal: string): Promise<void> {
    const started = Date.now();
    this.state.phase = 'draining';
    this.metrics.draining.set(1);
    const timeoutSec = this.config.server.drainTimeoutSec;
    this.log.info('drain_started', { signal, active_flows: this.sessions.totalFlows(), drain_timeout_sec: timeoutSec });
    await this.listeners.stopAccepting();
    this.sessions.startDrain();
    await this.sessions.waitForFlows(timeoutSec * 1000);
    const reset = this.sessions.resetAll();
    this.sessions.closeAll();
    this.log.info('drain_complete', { reset_flows: reset, duration_ms: Date.now() - started });
  }
}
