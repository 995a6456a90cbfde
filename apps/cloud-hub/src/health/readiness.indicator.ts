import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { HubState } from './hub-state';
import { TunnelSessions } from '../tunnel/tunnel-sessions';

/** Terminus indicator: the hub accepts traffic (started, not draining). HA indicators join later. */
@Injectable()
export class HubReadinessIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly state: HubState,
    private readonly sessions: TunnelSessions,
  ) {}

  check(): HealthIndicatorResult {
    const session = this.indicator.check('hub');
    const details = { phase: this.state.phase, agents: this.sessions.router.size };
    return this.state.phase === 'ready' ? session.up(details) : session.down(details);
  }
}
