import { ConfigService } from '@nestjs/config';
import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { hostname } from 'node:os';
import { formatHostPort, type CloudConfig, type HaMode } from '@nowconnect/ha-config';
import {
  DistributedRegistry,
  OWNERSHIP_REGISTRY,
  REGISTRY_SWEEPER,
  RegistrySweeper,
  type AgentOwner,
  type HaRegistry,
  type ReplicaRecord,
} from '@nowconnect/registry';
import { EventLog } from '@nowconnect/logging';
import { MeshKeyPair, parseMeshKey, type MeshIdentity, type PeerKeyLookup } from '@nowconnect/mesh';
import { HaMetrics, HolderMetrics, type HolderReleaseReason } from './ha-metrics';

/** What the coordinator needs of an agent tunnel it holds. */
export interface HeldTunnel {
  readonly agentId: string;
  readonly connectors: readonly string[];
  /** The hub is draining this tunnel (GOAWAY sent): its running flows finish here, new ones go elsewhere. */
  readonly draining: boolean;
  close(code: number, reason: string): void;
}

/** Where a connector's agent is, when no local agent serves it. */
export type OwnerLookup =
  | { readonly kind: 'none' }
  /**
   * `candidates`: every (agent, holder replica, holder epoch) of the connector on another replica
   * (issue 15: an agent with several links appears once per holder); `owner` is one of them in turn
   * (what shadow mode reports). The mesh picks among the candidates (least active flows).
   */
  | { readonly kind: 'remote'; readonly owner: AgentOwner; readonly candidates: readonly AgentOwner[] }
  /** The registry cannot answer (Redis down): cross-replica work is refused. */
  | { readonly kind: 'unavailable' };

interface Holding {
  readonly tunnel: HeldTunnel;
  epoch: number | undefined;
  gone: boolean;
}

type Registry = HaRegistry;

const START_WAIT_MS = 2000;
const STOP_WAIT_MS = 1000;
/**
 * Close code for a tunnel whose holder entry on this replica carries a newer epoch than the one this
 * tunnel holds (active mode): a stale holder. Another replica holding the same agent no longer fences
 * this one (issue 15: holders, not one owner).
 */
export const CLOSE_OWNERSHIP_MOVED = 4001;

/**
 * The hub's side of the HA control plane (seed: "Control plane – DistributedRegistry", "Ownership
 * and epoch fencing", "Failure modes"):
 * - claims ownership of an agent during its HELLO (epoch-fenced), indexes its connectors;
 * - registers this replica `{replica_id, mesh_url, started_at}` with a lease, heartbeats every
 *   lease/3 (owner entries of the agents it holds, and its replica record), runs the sweeper;
 * - Redis down: logs `registry_degraded` once, keeps serving the agents it holds (local-only),
 *   answers cross-replica lookups with `unavailable`; Redis back: `registry_recovered` and
 *   re-claims every agent it still holds with a fresh epoch (never below the one it held).
 * With `ha.mode: off` (or `ha.enabled: false`) nothing here runs: no registry, no timer, no socket.
 *
 * The registry, its sweeper and the HA metrics are injected (RegistryModule, HaMetricsModule: all absent
 * with HA off); they are taken into use by start(), after the HTTP server listens, as before. The Redis
 * registry's connection is closed by RegistryModule after this class released its holdings.
 */
@Injectable()
export class HaCoordinator implements OnApplicationShutdown {
  readonly mode: HaMode;
  readonly replicaId: string;
  private registry: Registry | undefined;
  private metrics: HaMetrics | undefined;
  private sweeper: RegistrySweeper | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly holdings = new Map<HeldTunnel, Holding>();
  private replicas: readonly ReplicaRecord[] = [];
  private syncing: Promise<number> | undefined;
  private degradedSince: number | undefined;
  private meshUrl = '';
  private readonly startedAt = Date.now();
  /** This run's mesh identity key (docs/mesh.md "Identity"): the public half goes into the replica record. */
  private readonly meshKeys = MeshKeyPair.generate();
  private cursor = 0;
  private stopped = false;
  /** The Redis registry reported an outage before start(): start logs it (once, as then). */
  private degradedBeforeStart = false;

  /** The sections of the parsed config this component reads (through the typed ConfigService). */
  private readonly config: Pick<CloudConfig, 'ha' | 'server'>;

  constructor(
    configService: ConfigService<CloudConfig, true>,
    private readonly log: EventLog,
    @Optional() @Inject(OWNERSHIP_REGISTRY) private readonly injectedRegistry: Registry | null = null,
    @Optional() @Inject(REGISTRY_SWEEPER) private readonly injectedSweeper: RegistrySweeper | null = null,
    @Optional() @Inject(HaMetrics) private readonly injectedMetrics: HaMetrics | null = null,
    /** Holder metrics (HA on: provided by HaMetricsModule; a wiring test without them records nothing). */
    @Optional() @Inject(HolderMetrics) private readonly holderMetrics: HolderMetrics | null = null,
  ) {
    this.config = { ha: configService.get('ha', { infer: true }), server: configService.get('server', { infer: true }) };
    this.mode = this.config.ha.enabled ? this.config.ha.mode : 'off';
    this.replicaId = this.config.ha.replicaId;
    // The client connects from module creation on: outage events before start() are remembered, not logged.
    if (injectedRegistry instanceof DistributedRegistry) {
      injectedRegistry.on('degraded', () => (this.registry === undefined ? (this.degradedBeforeStart = true) : this.onDegraded()));
      injectedRegistry.on('recovered', () => (this.registry === undefined ? (this.degradedBeforeStart = false) : this.onRecovered()));
    }
  }

  /** The mesh URL this replica registers (set by start). */
  get ownMeshUrl(): string {
    return this.meshUrl;
  }

  get enabled(): boolean {
    return this.mode !== 'off';
  }

  /**
   * What mesh links prove this replica with and check peers against: the peer's key is read fresh from
   * the registry for each handshake; when the registry cannot be asked the lookup fails (new links are
   * refused, established ones stay).
   */
  readonly meshIdentity: MeshIdentity = {
    sign: (transcript) => this.meshKeys.sign(transcript),
    peerKey: (replicaId) => this.peerMeshKey(replicaId),
  };

  private async peerMeshKey(replicaId: string): Promise<PeerKeyLookup> {
    const registry = this.registry;
    if (registry === undefined || !registry.isHealthy()) return { key: undefined, why: 'registry_unavailable' };
    let records: readonly ReplicaRecord[];
    try {
      records = await registry.listReplicas();
    } catch {
      return { key: undefined, why: 'registry_unavailable' };
    }
    const key = parseMeshKey(records.find((r) => r.replicaId === replicaId && r.replicaId !== this.replicaId)?.meshKey);
    return key === undefined ? { key: undefined, why: 'unknown_replica' } : { key };
  }

  private replicaInfo(): { replicaId: string; meshUrl: string; startedAt: number; meshKey: string } {
    return { replicaId: this.replicaId, meshUrl: this.meshUrl, startedAt: this.startedAt, meshKey: this.meshKeys.publicKeyText };
  }

  /** Called once the HTTP server listens (`httpPort` is the bound port, for the mesh URL). */
  async start(httpPort: number): Promise<void> {
    const registry = this.injectedRegistry;
    if (!this.enabled || this.registry !== undefined || registry === null) return;
    const leaseMs = this.config.ha.leaseSec * 1000;
    this.meshUrl = this.advertisedMeshUrl(httpPort);
    const metrics = (this.metrics = this.injectedMetrics ?? undefined);
    metrics?.mode.labels({ mode: this.mode }).set(1);
    this.registry = registry;
    if (registry instanceof DistributedRegistry) {
      this.log.info('ha_started', this.startFields('redis', leaseMs));
      if (this.degradedBeforeStart) this.onDegraded();
      try {
        await registry.waitReady(START_WAIT_MS);
      } catch {
        // Redis unreachable at start: the hub serves local-only; 'degraded' was logged.
      }
    } else {
      this.log.info('ha_started', this.startFields('memory', leaseMs));
    }
    metrics?.registryUp.set(registry.isHealthy() ? 1 : 0);
    await this.sync().catch(() => undefined);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(100, Math.floor(leaseMs / 3)));
    this.heartbeatTimer.unref();
    // Sweep results are counted and logged by the sweeper's reporter (hub.module.ts).
    this.sweeper = this.injectedSweeper ?? undefined;
    this.sweeper?.start();
  }

  private startFields(registry: string, leaseMs: number): Record<string, unknown> {
    return { mode: this.mode, replica_id: this.replicaId, registry, mesh_url: this.meshUrl, lease_ms: leaseMs };
  }

  private advertisedMeshUrl(httpPort: number): string {
    const { ha, server } = this.config;
    if (ha.mesh.advertiseUrl !== undefined) return ha.mesh.advertiseUrl;
    const listen = ha.mesh.listen;
    const tls = listen !== undefined ? ha.mesh.tls.certFile !== undefined : server.tls !== undefined;
    const host = listen?.host ?? server.bind.host;
    const wildcard = host === '0.0.0.0' || host === '::' || host === '';
    return `${tls ? 'wss' : 'ws'}://${formatHostPort({ host: wildcard ? hostname() : host, port: listen?.port ?? httpPort })}/mesh`;
  }

  // ---- agents ---------------------------------------------------------------

  /**
   * Claims ownership of a tunnel's agent (during its HELLO): the epoch, or undefined when the
   * registry cannot answer (the agent is then served local-only and claimed on recovery).
   * Claim and connector index go out together: one round trip of latency, two commands.
   */
  async claim(tunnel: HeldTunnel): Promise<number | undefined> {
    const registry = this.registry;
    if (registry === undefined) return undefined;
    const holding: Holding = { tunnel, epoch: undefined, gone: false };
    const minEpoch = this.heldEpoch(tunnel.agentId);
    this.holdings.set(tunnel, holding);
    this.metrics?.ownedAgents.set(this.holdings.size);
    try {
      const [epoch] = await Promise.all([
        registry.claimHolder(tunnel.agentId, this.replicaId, { minEpoch }),
        registry.setConnectors(tunnel.agentId, tunnel.connectors),
      ]);
      this.holderClaimed(tunnel.agentId, epoch, 'hello');
      if (holding.gone) {
        this.releaseHolder(tunnel.agentId, epoch, 'tunnel_closed');
        return undefined;
      }
      holding.epoch = epoch;
      // The single-owner event name stays (dashboards, runbooks); holder_claimed is logged with it.
      this.log.info('ownership_claimed', { agent_id: tunnel.agentId, epoch, replica_id: this.replicaId });
      return epoch;
    } catch {
      return undefined;
    }
  }

  /** The tunnel closed: release its holder entry (refused, harmlessly, if a newer claim exists). */
  released(tunnel: HeldTunnel, reason: HolderReleaseReason = 'tunnel_closed'): void {
    const holding = this.holdings.get(tunnel);
    if (holding === undefined) return;
    holding.gone = true;
    this.holdings.delete(tunnel);
    this.metrics?.ownedAgents.set(this.holdings.size);
    if (holding.epoch !== undefined) this.releaseHolder(tunnel.agentId, holding.epoch, reason);
  }

  private holderClaimed(agentId: string, epoch: number, why: 'hello' | 'reasserted'): void {
    this.holderMetrics?.claims.inc();
    this.log.info('holder_claimed', { agent_id: agentId, replica: this.replicaId, epoch, why });
  }

  /** Drop this replica's holder entry of `agentId` at `epoch` (best effort; Redis down: the lease runs out). */
  private releaseHolder(agentId: string, epoch: number, reason: HolderReleaseReason): void {
    const registry = this.registry;
    if (registry === undefined || !registry.isHealthy()) return;
    void registry.releaseHolder(agentId, this.replicaId, epoch).then(
      (ok) => {
        if (!ok) return;
        this.holderMetrics?.releases.labels({ reason }).inc();
        this.log.info('holder_released', { agent_id: agentId, replica: this.replicaId, epoch, reason });
      },
      () => undefined,
    );
  }

  /** The epoch held for a tunnel (undefined: HA off, not claimed yet, or lost). */
  epochOf(tunnel: HeldTunnel): number | undefined {
    return this.holdings.get(tunnel)?.epoch;
  }

  private heldEpoch(agentId: string): number {
    let max = 0;
    for (const h of this.holdings.values()) if (h.tunnel.agentId === agentId && (h.epoch ?? 0) > max) max = h.epoch ?? 0;
    return max;
  }

  /**
   * Listener selection when no local agent serves `connector`: which other replicas hold a link to
   * one (every holder of every agent). Round trips: 2 (listHolders). With the registry unhealthy the
   * answer is `unavailable` at once.
   */
  async lookupOwner(connector: string): Promise<OwnerLookup> {
    const registry = this.registry;
    if (registry === undefined || !registry.isHealthy()) return { kind: 'unavailable' };
    try {
      const remote: AgentOwner[] = [];
      for (const a of await registry.listHolders(connector)) {
        for (const h of a.holders) if (h.replicaId !== this.replicaId) remote.push({ agentId: a.agentId, replicaId: h.replicaId, epoch: h.epoch });
      }
      if (remote.length === 0) return { kind: 'none' };
      const owner = remote[this.cursor++ % remote.length]!;
      return { kind: 'remote', owner, candidates: remote };
    } catch {
      return { kind: 'unavailable' };
    }
  }

  // ---- health ---------------------------------------------------------------

  registryHealthy(): boolean {
    return this.registry?.isHealthy() ?? false;
  }

  /** Other replicas whose lease had not run out at the last heartbeat. */
  livePeers(now = Date.now()): ReplicaRecord[] {
    return this.replicas.filter((r) => r.replicaId !== this.replicaId && r.expiresAt > now);
  }

  /** HA metrics (undefined until start, and always with HA off). */
  get haMetrics(): HaMetrics | undefined {
    return this.metrics;
  }

  get registryKind(): 'redis' | 'memory' | 'none' {
    if (this.registry === undefined) return 'none';
    return this.registry instanceof DistributedRegistry ? 'redis' : 'memory';
  }

  // ---- lease upkeep -----------------------------------------------------------

  private onDegraded(): void {
    if (this.stopped) return;
    this.degradedSince = Date.now();
    this.metrics?.registryUp.set(0);
    this.log.warn('registry_degraded', { registry: 'redis', replica_id: this.replicaId, owned_agents: this.holdings.size, mode: this.mode });
  }

  private onRecovered(): void {
    if (this.stopped) return;
    this.metrics?.registryUp.set(1);
    const since = this.degradedSince;
    this.degradedSince = undefined;
    void this.sync().then(
      (reasserted) => {
        this.metrics?.reasserts.labels({ reason: 'recovered' }).inc(reasserted);
        this.log.info('registry_recovered', {
          registry: 'redis',
          replica_id: this.replicaId,
          reasserted,
          degraded_ms: since === undefined ? undefined : Date.now() - since,
        });
      },
      () => undefined, // down again: the next 'recovered' retries
    );
  }

  /** Register this replica and (re-)claim every agent still held, with epochs above the held ones. */
  private sync(): Promise<number> {
    this.syncing ??= (async () => {
      const registry = this.registry;
      if (registry === undefined) return 0;
      await registry.registerReplica(this.replicaInfo());
      let n = 0;
      for (const h of [...this.holdings.values()]) {
        if (await this.reclaim(registry, h)) n++;
      }
      this.replicas = await registry.listReplicas();
      this.metrics?.liveReplicas.set(this.replicas.length);
      return n;
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async reclaim(registry: Registry, h: Holding): Promise<boolean> {
    if (h.gone) return false;
    const [epoch] = await Promise.all([
      registry.claimHolder(h.tunnel.agentId, this.replicaId, { minEpoch: h.epoch ?? 0 }),
      registry.setConnectors(h.tunnel.agentId, h.tunnel.connectors),
    ]);
    this.holderClaimed(h.tunnel.agentId, epoch, 'reasserted');
    if (h.gone) {
      await registry.releaseHolder(h.tunnel.agentId, this.replicaId, epoch).catch(() => undefined);
      return false;
    }
    const previous = h.epoch;
    h.epoch = epoch;
    this.log.info('ownership_reasserted', { agent_id: h.tunnel.agentId, epoch, previous_epoch: previous });
    return true;
  }

  private async heartbeat(): Promise<void> {
    const registry = this.registry;
    if (registry === undefined || this.stopped || this.syncing !== undefined) return;
    const held = [...this.holdings.values()].filter((h) => h.epoch !== undefined);
    const byAgent = new Map(held.map((h) => [h.tunnel.agentId, h]));
    try {
      const res = await registry.heartbeatHolders(
        this.replicaId,
        [...byAgent.values()].map((h) => ({ agentId: h.tunnel.agentId, epoch: h.epoch! })),
      );
      this.countLinks(res.refreshed);
      // A draining tunnel whose agent holds another link now: hand off (new flows go to the other link).
      for (const r of res.refreshed) {
        const h = byAgent.get(r.agentId);
        if (h !== undefined && h.tunnel.draining && r.links >= 2) this.handOff(h);
      }
      for (const agentId of res.lost) this.lost(byAgent.get(agentId));
      // Lease ran out (a long pause) or Redis lost its data: claim again, above the held epoch.
      for (const agentId of res.missing) {
        const h = byAgent.get(agentId);
        if (h !== undefined && (await this.reclaim(registry, h))) this.metrics?.reasserts.labels({ reason: 'lease_lost' }).inc();
      }
      // Tunnels whose claim failed (Redis blip without an outage event): claim them now.
      for (const h of [...this.holdings.values()]) {
        if (h.epoch === undefined && !h.gone && !byAgent.has(h.tunnel.agentId)) await this.reclaim(registry, h);
      }
      this.replicas = await registry.listReplicas();
      if (!this.replicas.some((r) => r.replicaId === this.replicaId)) {
        // Our record's lease ran out (a long pause): register again.
        await registry.registerReplica(this.replicaInfo());
        this.replicas = await registry.listReplicas();
      }
      this.metrics?.liveReplicas.set(this.replicas.length);
    } catch {
      // Redis down: the store logs the outage once; leases run out if it lasts.
    }
  }

  /** `nowconnect_agents_by_links{links}`: the agents this replica sorts first among their holders. */
  private countLinks(refreshed: readonly { links: number; first: boolean }[]): void {
    const counts = new Map<number, number>();
    for (const r of refreshed) if (r.first) counts.set(r.links, (counts.get(r.links) ?? 0) + 1);
    this.holderMetrics?.setAgentsByLinks(counts);
  }

  /**
   * Drain handoff: the agent was told GOAWAY and holds a link to another replica now. That is the
   * expected move, not a fault: drop this holder entry (no new mesh flows come here for it), and let
   * the running flows finish on this tunnel.
   */
  private handOff(h: Holding): void {
    if (h.gone || h.epoch === undefined) return;
    this.log.info('ownership_handed_off', { agent_id: h.tunnel.agentId, epoch: h.epoch });
    this.released(h.tunnel, 'handoff');
  }

  /**
   * This replica's holder entry of the agent carries a newer epoch than this tunnel's: the tunnel is a
   * stale holder (another tunnel of the agent, or a process with this replica id, claimed since).
   * Active mode closes it, unless this hub is draining it (its running flows finish here).
   * Other replicas holding the same agent never make a tunnel stale.
   */
  private lost(h: Holding | undefined): void {
    if (h === undefined || h.gone) return;
    if (h.tunnel.draining) {
      this.log.info('ownership_handed_off', { agent_id: h.tunnel.agentId, epoch: h.epoch });
      h.epoch = undefined;
      this.released(h.tunnel, 'handoff');
      return;
    }
    this.metrics?.ownershipLost.inc();
    this.log.warn('ownership_lost', { agent_id: h.tunnel.agentId, epoch: h.epoch, mode: this.mode });
    this.holderMetrics?.releases.labels({ reason: 'stale_epoch' }).inc();
    this.log.info('holder_released', { agent_id: h.tunnel.agentId, replica: this.replicaId, epoch: h.epoch, reason: 'stale_epoch' });
    h.epoch = undefined;
    if (this.mode === 'active') {
      this.released(h.tunnel, 'stale_epoch');
      h.tunnel.close(CLOSE_OWNERSHIP_MOVED, 'stale holder epoch on this replica');
    }
  }

  // ---- shutdown ---------------------------------------------------------------

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /**
   * Release held epochs and this replica's record (best effort, bounded). The connection is closed by
   * RegistryModule's shutdown hook, which Nest calls after this one (the hub's module before its imports).
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    this.sweeper?.stop();
    const registry = this.registry;
    if (registry === undefined) return;
    if (registry.isHealthy()) {
      const held = [...this.holdings.values()].filter((h) => h.epoch !== undefined);
      const work = Promise.allSettled([
        registry.removeReplica(this.replicaId),
        ...held.map((h) =>
          registry.releaseHolder(h.tunnel.agentId, this.replicaId, h.epoch!).then((ok) => {
            if (!ok) return;
            this.holderMetrics?.releases.labels({ reason: 'shutdown' }).inc();
            this.log.info('holder_released', { agent_id: h.tunnel.agentId, replica: this.replicaId, epoch: h.epoch, reason: 'shutdown' });
          }),
        ),
      ]);
      await Promise.race([work, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
    }
    this.holdings.clear();
  }

  /** Alive replica records (this one included, at least 1) at the last heartbeat: HELLO_ACK `replicas`. */
  aliveReplicaCount(now = Date.now()): number {
    return Math.max(1, this.replicas.filter((r) => r.expiresAt > now).length);
  }
}
