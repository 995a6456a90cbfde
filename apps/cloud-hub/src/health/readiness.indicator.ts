import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { HubState } from './hub-state';
import { TunnelSessions } from '../tunnel/tunnel-sessions';
import { HaCoordinator } from '../ha/ha-coordinator';
import { MESH_STATUS, type MeshStatus } from '../ha/mesh-status';

/**
 * Terminus indicators of /readyz (SPEC §6):
 * - `hub`: started and not draining (down => `not_ready`);
 * - `registry` (HA shadow/active): the ownership registry answers; down only counts in active mode;
 * - `mesh` (HA active): the mesh manager runs, and a link is up whenever a peer replica's lease is
 *   alive (a crashed peer stops counting when its lease runs out).
 * `registry` or `mesh` down (active mode) => `degraded`.
 */
@Injectable()
export class HubReadinessIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly state: HubState,
    private readonly sessions: TunnelSessions,
    private readonly ha: HaCoordinator,
    @Inject(MESH_STATUS) private readonly mesh: MeshStatus,
  ) {}

  /** The indicators that apply to this hub's HA mode. */
  indicators(): Array<() => HealthIndicatorResult> {
    const list = [() => this.hub()];
    if (this.ha.mode !== 'off') list.push(() => this.registry());
    if (this.ha.mode === 'active') list.push(() => this.meshCheck());
    return list;
  }

  hub(): HealthIndicatorResult {
    const session = this.indicator.check('hub');
    const details = { phase: this.state.phase, agents: this.sessions.router.size };
    return this.state.phase === 'ready' ? session.up(details) : session.down(details);
  }

  registry(): HealthIndicatorResult {
    const session = this.indicator.check('registry');
    const healthy = this.ha.registryHealthy();
    const details = { kind: this.ha.registryKind, healthy, mode: this.ha.mode };
    // Shadow mode observes only: an unhealthy registry is reported, not a reason to leave rotation.
    return healthy || this.ha.mode !== 'active' ? session.up(details) : session.down(details);
  }

  meshCheck(): HealthIndicatorResult {
    const session = this.indicator.check('mesh');
    const peers = this.ha.livePeers().map((r) => r.replicaId);
    const linksUp = this.mesh.linksUp();
    const details = { running: this.mesh.running, links_up: linksUp, live_peers: peers };
    if (!this.mesh.running) return session.down({ ...details, reason: 'mesh_not_running' });
    if (peers.length > 0 && linksUp === 0) return session.down({ ...details, reason: 'no_link_up' });
    return session.up(details);
  }
}
