import { ConfigService } from '@nestjs/config';
import { Inject, Injectable } from '@nestjs/common';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { cidrAllows, formatHostPort, type CloudConfig, type ListenerConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { maskIp } from '@nowconnect/logging';
import { HubMetrics } from '../metrics/hub-metrics';
import { TunnelSessions } from '../tunnel/tunnel-sessions';
import { HaCoordinator } from '../ha/ha-coordinator';
import { MeshManager } from '../mesh/mesh-manager';
import { ListenerAdmission, RateLimitedLog } from './listener-admission';

/** Shadow-mode registry lookups in flight at most (they only count; beyond this they are skipped). */
const MAX_SHADOW_LOOKUPS = 64;

interface RunningListener {
  readonly config: ListenerConfig;
  readonly server: Server;
}

/** Refusal reasons decided at the listener (before or instead of routing), primed at 0 when configured. */
type ListenerRefusal = 'limit_active' | 'limit_client_ip' | 'limit_rate' | 'idle_timeout' | 'no_healthy_target';

/**
 * The hub's TCP listeners (one per `listeners[]` entry). Every accepted client
 * is checked against allow_cidrs, routed to an agent of the listener's
 * connector, and becomes one flow; a refusal closes the client at once.
 */
@Injectable()
export class ListenerManager {
  private readonly running: RunningListener[] = [];
  private shadowLookups = 0;
  private readonly localFlows: { inc(): void };
  private readonly crossReplicaFlows: { inc(): void };
  private readonly admissions = new Map<string, ListenerAdmission>();
  private readonly refusalLog = new RateLimitedLog();

  /** The sections of the parsed config this component reads (through the typed ConfigService). */
  private readonly config: Pick<CloudConfig, 'listeners' | 'logging'>;

  constructor(
    configService: ConfigService<CloudConfig, true>,
    private readonly log: EventLog,
    private readonly metrics: HubMetrics,
    private readonly sessions: TunnelSessions,
    private readonly ha: HaCoordinator,
    private readonly mesh: MeshManager,
  ) {
    this.config = { listeners: configService.get('listeners', { infer: true }), logging: configService.get('logging', { infer: true }) };
    this.localFlows = metrics.flowsTotal.labels({ path: 'local' });
    this.crossReplicaFlows = metrics.flowsTotal.labels({ path: 'cross_replica' });
  }

  async start(): Promise<void> {
    for (const l of this.config.listeners) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (sock) => this.onClient(l, sock));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.bind.port, l.bind.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.log.error('listener_error', { listener: l.name, error: err.message }));
      this.running.push({ config: l, server });
      this.metrics.primeConnector(l.connector);
      this.metrics.cidrBlocked.labels({ listener: l.name }).inc(0);
      this.admissions.set(l.name, new ListenerAdmission(l));
      this.primeRefusals(l);
      const port = (server.address() as AddressInfo).port;
      this.log.info('listener_started', { listener: l.name, bind: formatHostPort({ host: l.bind.host, port }), connector: l.connector });
    }
  }

  private onClient(l: ListenerConfig, sock: Socket): void {
    const remote = sock.remoteAddress;
    const client = maskIp(remote, this.config.logging.maskIps);
    sock.on('error', () => undefined); // a client reset before routing is not an error of ours
    if (!cidrAllows(l.allowCidrs, remote ?? '')) {
      this.metrics.cidrBlocked.labels({ listener: l.name }).inc();
      this.log.warn('cidr_blocked', { listener: l.name, client });
      sock.destroy();
      return;
    }
    if (!this.admit(l, sock, remote ?? '', client)) return;
    const agent = this.sessions.router.pick(l.connector);
    if (agent !== undefined) {
      this.localFlows.inc();
      agent.openFlow(sock, l.connector, l.name, client);
      return;
    }
    if (this.sessions.router.onlyUnhealthy(l.connector)) {
      this.refuse(l, sock, 'no_healthy_target', client);
      return;
    }
    const full = this.sessions.router.agents().find((a) => a.connectors.includes(l.connector));
    if (full !== undefined) {
      const reason = full.refusalReason();
      this.metrics.openFailed.labels({ connector: l.connector, reason }).inc();
      this.log.warn('open_refused', { listener: l.name, connector: l.connector, reason, client });
      sock.destroy();
      return;
    }
    if (this.ha.mode === 'active') {
      void this.routeCrossReplica(l, sock, client);
      return;
    }
    if (this.ha.mode === 'shadow') this.shadowLookup(l);
    this.refuseNoAgent(l, sock, client);
  }

  /**
   * Admission limits and the idle timeout (listeners[].max_active_flows, max_new_flows_per_sec,
   * max_flows_per_client_ip, idle_timeout_sec), counted on this replica. Over a limit the client is
   * reset at once; an admitted client holds its place until its socket closes.
   */
  private admit(l: ListenerConfig, sock: Socket, ip: string, client: string): boolean {
    const admission = this.admissions.get(l.name);
    if (admission !== undefined && admission.limited) {
      const refusal = admission.admit(ip);
      if (refusal !== undefined) {
        this.refuse(l, sock, refusal, client);
        return false;
      }
      sock.once('close', () => admission.release(ip));
    }
    if (l.idleTimeoutSec > 0) {
      sock.setTimeout(l.idleTimeoutSec * 1000, () => this.refuse(l, sock, 'idle_timeout', client));
    }
    return true;
  }

  /** Resets the client (RST), counts nowconnect_open_failed_total{reason}, logs at most one line a second per reason. */
  private refuse(l: ListenerConfig, sock: Socket, reason: ListenerRefusal, client: string): void {
    this.metrics.openFailed.labels({ connector: l.connector, reason }).inc();
    this.refusalLog.maybe(`${l.name}:${reason}`, (suppressed) => {
      const event = reason === 'idle_timeout' ? 'idle_timeout' : 'open_refused';
      this.log.warn(event, {
        listener: l.name,
        connector: l.connector,
        reason,
        client,
        ...(reason === 'idle_timeout' ? { idle_timeout_sec: l.idleTimeoutSec } : {}),
        ...(suppressed > 0 ? { suppressed } : {}),
      });
    });
    if (!sock.destroyed) sock.resetAndDestroy();
  }

  private primeRefusals(l: ListenerConfig): void {
    const reasons: ListenerRefusal[] = ['no_healthy_target'];
    if (l.maxActiveFlows !== undefined) reasons.push('limit_active');
    if (l.maxNewFlowsPerSec !== undefined) reasons.push('limit_rate');
    if (l.maxFlowsPerClientIp > 0) reasons.push('limit_client_ip');
    if (l.idleTimeoutSec > 0) reasons.push('idle_timeout');
    for (const reason of reasons) this.metrics.openFailed.labels({ connector: l.connector, reason }).inc(0);
  }

  private refuseNoAgent(l: ListenerConfig, sock: Socket, client: string): void {
    this.metrics.noAgent.labels({ connector: l.connector }).inc();
    this.log.warn('no_agent_for_connector', { listener: l.name, connector: l.connector, client });
    sock.destroy();
  }

  /**
   * Shadow mode: traffic stays local (the client was refused as with HA off); count what active
   * mode would have done — open the flow through the mesh to the replica owning an agent.
   */
  private shadowLookup(l: ListenerConfig): void {
    if (this.shadowLookups >= MAX_SHADOW_LOOKUPS) return;
    this.shadowLookups++;
    void this.ha
      .lookupOwner(l.connector)
      .then((r) => {
        if (r.kind !== 'remote') return;
        this.ha.haMetrics?.shadowCrossReplica.labels({ connector: l.connector }).inc();
        this.log.info('shadow_cross_replica', {
          listener: l.name,
          connector: l.connector,
          agent_id: r.owner.agentId,
          owner_replica: r.owner.replicaId,
          epoch: r.owner.epoch,
        });
      })
      .finally(() => this.shadowLookups--);
  }

  /**
   * Active mode without a local agent: find the owning replica and open the flow through the mesh
   * link to it. Refused at once (client closed, `cross_replica_refused` with the reason) when the
   * registry is down (`registry_unavailable`, no lookup attempted), no link to the owner is up
   * (`mesh_unavailable`), or the link's writer is at a cap (`queue_full` / `inflight_cap`, also in
   * nowconnect_mesh_backpressure_drops_total{peer,reason}).
   */
  private async routeCrossReplica(l: ListenerConfig, sock: Socket, client: string): Promise<void> {
    const r = await this.ha.lookupOwner(l.connector);
    if (r.kind === 'none') {
      this.refuseNoAgent(l, sock, client);
      return;
    }
    if (sock.destroyed) return;
    let reason = 'registry_unavailable';
    let owner = r.kind === 'remote' ? r.owner : undefined;
    if (r.kind === 'remote') {
      // Several holders (issue 15): the mesh picks a usable one with the fewest flows in flight.
      const opened = this.mesh.openCrossReplicaAny(r.candidates, l, sock, client);
      if (opened.ok) {
        this.crossReplicaFlows.inc();
        return;
      }
      reason = opened.reason;
      owner = opened.owner ?? owner;
    }
    this.ha.haMetrics?.crossReplicaRefused.labels({ connector: l.connector, reason }).inc();
    this.log.warn('cross_replica_refused', {
      listener: l.name,
      connector: l.connector,
      reason,
      client,
      ...(owner !== undefined ? { agent_id: owner.agentId, owner_replica: owner.replicaId } : {}),
    });
    sock.destroy();
  }

  /** Drain: stop accepting (the listening sockets close); running flows continue. */
  async stopAccepting(): Promise<void> {
    const closing = this.running.map(
      (r) => new Promise<void>((resolve) => r.server.close(() => resolve())),
    );
    this.running.length = 0;
    // server.close resolves only after every connection ended; do not wait for that here.
    void Promise.all(closing);
  }

  /** Actual bound addresses (port 0 in config means ephemeral). */
  addresses(): { listener: string; port: number }[] {
    return this.running.map((r) => ({ listener: r.config.name, port: (r.server.address() as AddressInfo).port }));
  }
}
