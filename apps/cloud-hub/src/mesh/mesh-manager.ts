import { ConfigService } from '@nestjs/config';
import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { MeshGoawayReason, MeshRstReason } from '@nowconnect/frames';
import { cidrAllows, formatHostPort, type CloudConfig, type ListenerConfig } from '@nowconnect/ha-config';
import { EventLog, maskIp } from '@nowconnect/logging';
import {
  earliestNotAfter,
  type TlsMaterial,
  keepLink,
  LinkState,
  MESH_CERT_RELOADER,
  MESH_LINK_FACTORY,
  MESH_PEER_SET_FACTORY,
  MeshLink,
  type MeshCertReloader,
  type MeshLinkContext,
  type MeshLinkFactory,
  type PeerSet,
  type PeerSetFactory,
  ReconnectPolicy,
  shouldDial,
  verifyIngressClientCert,
  type LinkRole,
  type MeshLinkHandler,
  type MeshOpenRequest,
  type PeerTarget,
} from '@nowconnect/mesh';
import type { AgentOwner } from '@nowconnect/registry';
import { HaCoordinator } from '../ha/ha-coordinator';
import type { MeshStatus } from '../ha/mesh-status';
import { HubMetrics } from '../metrics/hub-metrics';
import { TunnelSessions } from '../tunnel/tunnel-sessions';
import type { HubTunnelSession } from '../tunnel/hub-tunnel-session';
import type { UpgradeVerdict } from '../tunnel/tunnel-sessions';
import { MeshFlowStream, type MeshEndpoint } from './mesh-flow-stream';
import { HolderChoice } from './holder-choice';
import { OriginFlow } from './origin-flow';
import { PromMeshMetrics, type MeshGaugeSample } from './prom-mesh-metrics';

/** Slack over max_frame_bytes for one WebSocket message (several small frames may share one). */
export const MESH_WS_PAYLOAD_SLACK = 64 * 1024;

interface LinkInfo {
  readonly link: MeshLink;
  readonly role: LinkRole;
  /** Dialer: the URL dialed. */
  readonly url: string | undefined;
  readonly endpoints: Map<number, MeshEndpoint>;
  wasUp: boolean;
}

interface Dialer {
  readonly url: string;
  readonly policy: ReconnectPolicy;
  target: PeerTarget;
  link: MeshLink | undefined;
  timer: NodeJS.Timeout | undefined;
  dials: number;
}

export type CrossReplicaResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };
/**
 * Resets that say the chosen holder's path failed (not the agent's target): a flow not yet acked moves
 * to another holder of the agent instead of resetting the client (issue 15, failover).
 */
const REROUTABLE: ReadonlySet<MeshRstReason> = new Set([
  MeshRstReason.LINK_LOST,
  MeshRstReason.STALE_EPOCH,
  MeshRstReason.NOT_OWNER,
  MeshRstReason.BACKPRESSURE,
  MeshRstReason.SHUTDOWN,
]);
/**
 * Of those, the ones that say the holder no longer serves the agent: the reroute skips that holder.
 * The others say only the link failed (lost, draining — e.g. the loser of two links that came up at
 * once, whose M_OPEN crossed the tie-break's GOAWAY — or full): the same holder is tried again over
 * another link that is up.
 */
const HOLDER_GONE: ReadonlySet<MeshRstReason> = new Set([MeshRstReason.STALE_EPOCH, MeshRstReason.NOT_OWNER]);

/** What a flow's reroutes have ruled out: holders that no longer serve the agent, links that failed. */
interface Tried {
  readonly holders: Set<string>;
  readonly links: Set<MeshLink>;
}

/** What openCrossReplicaAny did: the holder it chose (when one was usable) and the outcome. */
export type HolderRouteResult = CrossReplicaResult & { readonly owner?: AgentOwner };

/**
 * The hub's side of the hub-to-hub mesh (docs/mesh.md): links to every peer
 * (static `ha.mesh.peers` plus live registry replica records, refreshed every
 * heartbeat), inbound links from the `/mesh` gateway and the optional
 * `ha.mesh.listen` listener, the tie-break, reconnects, and the flows on the
 * links — origin flows for clients of this hub's listeners whose agent another
 * replica owns, owner flows into the tunnels of agents this hub holds.
 * Runs in shadow and active mode (shadow: links only, no flows); nothing at all with HA off.
 * Its collaborators (cert reloader, link factory, peer set factory) come from MeshModule by injection.
 */
@Injectable()
export class MeshManager implements MeshStatus, OnApplicationShutdown {
  private started = false;
  private stopped = false;
  private draining = false;
  private readonly origins = new Set<OriginFlow>();
  private readonly links = new Map<MeshLink, LinkInfo>();
  private readonly dialers = new Map<string, Dialer>();
  private peers: PeerSet | undefined;
  private metrics: PromMeshMetrics | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private listenServer: http.Server | https.Server | undefined;
  private listenWss: WebSocketServer | undefined;
  private cidSeq = 0;
  /** Origin-side choice among an agent's holders (least flows in flight from this hub). */
  readonly holderChoice = new HolderChoice();

  /** The sections of the parsed config this component reads (through the typed ConfigService). */
  private readonly config: Pick<CloudConfig, 'ha' | 'logging' | 'limits'>;

  constructor(
    configService: ConfigService<CloudConfig, true>,
    private readonly log: EventLog,
    private readonly ha: HaCoordinator,
    private readonly sessions: TunnelSessions,
    private readonly hubMetrics: HubMetrics,
    /** Provided with HA on only (MeshMetricsModule). */
    @Optional() @Inject(PromMeshMetrics) private readonly promMetrics: PromMeshMetrics | null = null,
    /** MeshModule: the ha.mesh.tls reloader (null without TLS files or HA off; stopped by MeshModule). */
    @Optional() @Inject(MESH_CERT_RELOADER) private readonly reloader: MeshCertReloader | null = null,
    /** MeshModule: creates the links with the shared limits (null with HA off). */
    @Optional() @Inject(MESH_LINK_FACTORY) private readonly linkFactory: MeshLinkFactory | null = null,
    /** MeshModule: the peer set of ha.mesh.peers, once this replica's mesh URL is known (null with HA off). */
    @Optional() @Inject(MESH_PEER_SET_FACTORY) private readonly peerSetFactory: PeerSetFactory | null = null,
  ) {
    this.config = { ha: configService.get('ha', { infer: true }), logging: configService.get('logging', { infer: true }), limits: configService.get('limits', { infer: true }) };
  }

  // ---- MeshStatus -----------------------------------------------------------

  get running(): boolean {
    return this.started && !this.stopped;
  }

  linksUp(): number {
    return this.upPeers().size;
  }

  /** Replica ids with at least one link up. */
  upPeers(): Set<string> {
    const out = new Set<string>();
    for (const { link } of this.links.values()) if (link.state === LinkState.UP && link.peerId !== undefined) out.add(link.peerId);
    return out;
  }

  /** Every mesh link and dialer, for GET /status. */
  linkSnapshot(): { peer: string | null; role: string; url: string | null; state: string }[] {
    const out = [...this.links.values()].map((i) => ({ peer: i.link.peerId ?? null, role: i.role, url: i.url ?? null, state: String(i.link.state) }));
    for (const d of this.dialers.values()) {
      if (d.link === undefined || !this.links.has(d.link)) out.push({ peer: null, role: 'dialer', url: d.url, state: 'down' });
    }
    return out;
  }

  /** The dedicated ha.mesh.listen port once bound (tests, logs). */
  get listenPort(): number | undefined {
    const a = this.listenServer?.address();
    return typeof a === 'object' && a !== null ? a.port : undefined;
  }

  // ---- lifecycle ------------------------------------------------------------

  private exportCertExpiry(material: TlsMaterial): void {
    for (const [file, pem] of [['cert', material.cert], ['ca', material.ca]] as const) {
      const t = earliestNotAfter(pem);
      if (t !== undefined) this.metrics?.certExpiry.labels({ file }).set(t);
    }
  }

  /** After HaCoordinator.start (its replica records and advertised URL are known). */
  async start(): Promise<void> {
    if (!this.ha.enabled || this.started) return;
    if (this.linkFactory === null || this.peerSetFactory === null) throw new Error('MeshManager: HA on but MeshModule provided no link or peer set factory');
    this.started = true;
    const mesh = this.config.ha.mesh;
    this.metrics = this.promMetrics ?? undefined;
    this.metrics?.bind(() => this.gaugeSamples());
    if (this.reloader !== null) {
      this.reloader.setHandlers({
        onReload: (material, generation) => {
          this.log.info('mesh_cert_reloaded', { generation });
          this.exportCertExpiry(material);
          const server = this.listenServer;
          if (server instanceof https.Server) server.setSecureContext(this.serverTlsOptions());
        },
        onError: (err) => {
          this.metrics?.linkError();
          this.log.warn('mesh_cert_reload_failed', { error: err.message });
        },
      });
      this.reloader.start();
      this.exportCertExpiry(this.reloader.material);
    }
    this.peers = this.peerSetFactory({ replicaId: this.ha.replicaId, meshUrls: [this.ha.ownMeshUrl] });
    if (mesh.listen !== undefined) await this.listen();
    this.log.info('mesh_started', {
      replica_id: this.ha.replicaId,
      mode: this.ha.mode,
      advertise_url: this.ha.ownMeshUrl,
      static_peers: mesh.peers.length,
      ...(this.listenPort === undefined ? {} : { listen: formatHostPort({ host: mesh.listen!.host, port: this.listenPort }) }),
    });
    this.refresh();
    const every = Math.max(100, Math.min(1000, Math.floor((this.config.ha.leaseSec * 1000) / 3)));
    this.refreshTimer = setInterval(() => this.refresh(), every);
    this.refreshTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stop();
  }

  /**
   * Hub drain (SIGTERM): GOAWAY on every link (no new flows either way, running ones finish, each
   * link closes after its last flow), no new links in or out.
   */
  startDrain(): void {
    if (!this.running || this.draining) return;
    this.draining = true;
    for (const d of this.dialers.values()) clearTimeout(d.timer);
    for (const { link } of this.links.values()) link.drain(MeshGoawayReason.SHUTDOWN);
  }

  /** Cross-replica flows of this hub's clients still running (the drain waits for them). */
  originFlowCount(): number {
    return this.origins.size;
  }

  /** Drain timeout: reset the origin flows still running. */
  resetOrigins(): number {
    const flows = [...this.origins];
    for (const f of flows) f.resetFlow(MeshRstReason.SHUTDOWN);
    return flows.length;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.refreshTimer);
    for (const d of this.dialers.values()) clearTimeout(d.timer);
    for (const { link } of [...this.links.values()]) link.close('shutdown');
    this.listenWss?.close();
    this.listenServer?.close();
  }

  // ---- inbound ----------------------------------------------------------------

  /**
   * `/mesh` on server.bind (or a plain ha.mesh.listen): HA on, and with require_mtls the ingress's
   * verified-client headers — honoured only from `ha.mesh.ingress.trusted_proxies` (issue 13 finding 1).
   * Without that key such a `/mesh` does not exist (404); from any other source it is refused (403).
   */
  verifyUpgrade(req: IncomingMessage): Promise<UpgradeVerdict> {
    if (!this.running) return Promise.resolve({ ok: false, status: 404, message: 'Not Found' });
    if (this.draining) return Promise.resolve({ ok: false, status: 503, message: 'Service Unavailable' });
    const mesh = this.config.ha.mesh;
    if (!mesh.requireMtls) return Promise.resolve({ ok: true });
    const source = req.socket.remoteAddress;
    const proxies = mesh.ingress.trustedProxies;
    if (proxies === undefined) return Promise.resolve(this.refuseUpgrade(req, 'no_trusted_proxies', 404, 'Not Found'));
    if (!cidrAllows(proxies, source)) return Promise.resolve(this.refuseUpgrade(req, 'untrusted_source', 403, 'Forbidden'));
    const verdict = verifyIngressClientCert(req.headers, { requireMtls: true });
    if (!verdict.ok) return Promise.resolve(this.refuseUpgrade(req, verdict.reason, 403, 'Forbidden'));
    return Promise.resolve({ ok: true });
  }

  private refuseUpgrade(req: IncomingMessage, reason: string, status: number, message: string): UpgradeVerdict {
    this.metrics?.linkError();
    this.metrics?.upgradeRefused(reason);
    this.log.warn('mesh_upgrade_refused', { reason, status, client: maskIp(req.socket.remoteAddress, this.config.logging.maskIps) });
    return { ok: false, status, message };
  }

  /** A WebSocket upgraded on `/mesh` (verified): an acceptor link. */
  accept(ws: WebSocket): void {
    if (!this.running || this.draining) {
      ws.close(1008, 'mesh not running');
      return;
    }
    this.track(this.linkFactory!.accept(ws, this.linkContext(), this.handler), 'acceptor', undefined);
  }

  private async listen(): Promise<void> {
    const mesh = this.config.ha.mesh;
    const bind = mesh.listen!;
    const server =
      this.reloader !== null && mesh.tls.certFile !== undefined
        ? https.createServer({ ...this.serverTlsOptions(), requestCert: true, rejectUnauthorized: true })
        : http.createServer();
    server.on('request', (_req, res) => {
      res.writeHead(404).end();
    });
    const tlsHere = server instanceof https.Server;
    // Why a raw `ws` server here and not MeshGateway through the adapter (issue 17): Nest's platform
    // adapter binds gateways to the one HTTP server the app listens on (server.bind); a gateway on another
    // port would need the adapter to create that server, which cannot take the hot-reloaded mTLS context
    // (CertReloader -> setSecureContext), the TLS-here verify (client certificate already checked in the
    // handshake) or this listener's stop order (closed with the links, not with the app's HTTP server).
    // Both entry points end in the same accept(): MeshGateway.handleConnection and the listener below.
    const wss = new WebSocketServer({
      server,
      path: '/mesh',
      perMessageDeflate: false,
      maxPayload: this.maxPayload(),
      clientTracking: false,
      // With TLS here the handshake already required a client certificate from ca_bundle; a plain
      // listener with require_mtls sits behind an ingress, like /mesh on server.bind.
      verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, message?: string) => void) => {
        if (tlsHere) {
          cb(!this.draining, 503, 'Service Unavailable');
          return;
        }
        void this.verifyUpgrade(info.req).then((v) => (v.ok ? cb(true) : cb(false, v.status, v.message)));
      },
    });
    wss.on('connection', (ws) => this.accept(ws));
    wss.on('error', () => undefined);
    server.on('tlsClientError', () => this.metrics?.linkError());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bind.port, bind.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error('mesh_listener_error', { error: err.message }));
    this.listenServer = server;
    this.listenWss = wss;
  }

  private serverTlsOptions(): { cert?: Buffer; key?: Buffer; ca?: Buffer } {
    const m = this.reloader!.material;
    return { cert: m.cert, key: m.key, ca: m.ca };
  }

  // ---- outbound ---------------------------------------------------------------

  /** Every heartbeat: the registry's live replicas plus static peers; dial what needs a link. */
  private refresh(): void {
    const peers = this.peers;
    if (peers === undefined || this.stopped) return;
    peers.updateReplicas(this.ha.livePeers());
    const targets = peers.targets();
    const wanted = new Set(targets.map((t) => t.url));
    for (const t of targets) {
      let d = this.dialers.get(t.url);
      if (d === undefined) {
        d = {
          url: t.url,
          target: t,
          policy: new ReconnectPolicy({ maxDelayMs: this.config.ha.mesh.connectBackoffMaxSec * 1000 }),
          link: undefined,
          timer: undefined,
          dials: 0,
        };
        this.dialers.set(t.url, d);
      }
      d.target = t;
      this.maybeDial(d);
    }
    for (const d of [...this.dialers.values()]) {
      if (wanted.has(d.url)) continue;
      clearTimeout(d.timer);
      d.timer = undefined;
      if (d.link === undefined) this.dialers.delete(d.url);
      else if (d.link.state !== LinkState.UP) d.link.close('peer_gone');
    }
  }

  private inboundUpFrom(): Set<string> {
    const out = new Set<string>();
    for (const i of this.links.values()) {
      if (i.role === 'acceptor' && i.link.state === LinkState.UP && i.link.peerId !== undefined) out.add(i.link.peerId);
    }
    return out;
  }

  private maybeDial(d: Dialer): void {
    if (this.stopped || this.draining || d.link !== undefined || d.timer !== undefined) return;
    if (!shouldDial(this.ha.replicaId, d.target, this.inboundUpFrom())) return;
    if (!d.policy.tryAttempt()) return;
    if (d.dials++ > 0) this.metrics?.linkReconnect();
    const link = this.linkFactory!.dial(d.url, d.target.replicaId, this.linkContext(), this.handler);
    d.link = link;
    this.track(link, 'dialer', d.url);
  }

  private track(link: MeshLink, role: LinkRole, url: string | undefined): void {
    this.links.set(link, { link, role, url, endpoints: new Map(), wasUp: false });
  }

  /** What the link factory needs from this hub per link (the limits are MeshModule's, from the same config). */
  private linkContext(): MeshLinkContext {
    const sessions = this.sessions;
    const haCo = this.ha;
    return {
      identity: haCo.meshIdentity,
      metrics: this.metrics,
      ownerEpoch: (agentId) => {
        let epoch: number | undefined;
        for (const s of sessions.router.byAgentId(agentId)) {
          const e = haCo.epochOf(s);
          if (e !== undefined && (epoch === undefined || e > epoch)) epoch = e;
        }
        return epoch;
      },
    };
  }

  private maxPayload(): number {
    return this.config.limits.maxFrameBytes + MESH_WS_PAYLOAD_SLACK;
  }

  // ---- link events ------------------------------------------------------------

  private readonly handler: MeshLinkHandler = {
    up: (link) => this.onUp(link),
    open: (link, req) => this.onOpen(link, req),
    openAck: (link, cid) => this.endpoint(link, cid)?.openAck(),
    data: (link, cid, payload) => this.endpoint(link, cid)?.data(payload),
    fin: (link, cid) => this.endpoint(link, cid)?.fin(),
    reset: (link, cid, reason) => {
      const ep = this.endpoint(link, cid);
      this.links.get(link)?.endpoints.delete(cid);
      ep?.reset(reason);
    },
    writable: (link, cid) => this.endpoint(link, cid)?.writable(),
    down: (link, reason) => this.onDown(link, reason),
  };

  private endpoint(link: MeshLink, cid: number): MeshEndpoint | undefined {
    return this.links.get(link)?.endpoints.get(cid);
  }

  private onUp(link: MeshLink): void {
    const info = this.links.get(link);
    const peer = link.peerId!;
    if (info === undefined) return;
    info.wasUp = true;
    if (info.url !== undefined) {
      this.peers?.learn(info.url, peer);
      this.dialers.get(info.url)?.policy.recordSuccess();
    }
    this.log.info('mesh_link_up', { peer, role: info.role, ...(info.url === undefined ? {} : { url: info.url }) });
    // Tie-break: one link per pair, the one dialed by the replica id sorting first.
    const self = this.ha.replicaId;
    const dialedBy = (i: LinkInfo): string => (i.role === 'dialer' ? self : peer);
    for (const other of this.links.values()) {
      if (other === info || other.link.peerId !== peer || other.link.state !== LinkState.UP) continue;
      const loser: LinkInfo = keepLink(dialedBy(info), self, peer) ? other : info;
      this.log.info('mesh_link_duplicate', { peer, closing_role: loser.role });
      loser.link.drain(MeshGoawayReason.DUPLICATE_LINK);
      if (loser === info) break;
    }
  }

  private onDown(link: MeshLink, reason: string): void {
    const info = this.links.get(link);
    if (info === undefined) return;
    this.links.delete(link);
    for (const ep of info.endpoints.values()) ep.reset(MeshRstReason.LINK_LOST);
    info.endpoints.clear();
    if (info.wasUp) this.log.warn('mesh_link_down', { peer: link.peerId, role: info.role, reason });
    if (reason === 'identity' || reason === 'slow_consumer') {
      // Issue 13: a peer that did not prove its replica id, or did not read; one line either way.
      this.log.warn('mesh_link_failed', {
        role: info.role,
        reason,
        ...(link.failureDetail === undefined ? {} : { detail: link.failureDetail }),
        // `peer` only once proven; an unproven claim is `claimed_peer` (never taken for the replica itself)
        ...(link.peerId !== undefined ? { peer: link.peerId } : link.claimedPeerId === undefined ? {} : { claimed_peer: link.claimedPeerId }),
        ...(info.url === undefined ? {} : { url: info.url }),
      });
    } else if (!info.wasUp && info.url === undefined) {
      this.log.warn('mesh_link_failed', { role: info.role, reason, ...(link.peerId === undefined ? {} : { peer: link.peerId }) });
    }
    if (info.url === undefined) return;
    const d = this.dialers.get(info.url);
    if (d === undefined || d.link !== link) return;
    d.link = undefined;
    if (this.stopped) return;
    if (info.wasUp && reason === 'drained') {
      // A duplicate closed by the tie-break (or a peer's GOAWAY): the next refresh decides.
      return;
    }
    const delay = d.policy.recordFailure();
    if (!info.wasUp) this.log.warn('mesh_dial_failed', { url: info.url, reason, retry_ms: delay, failures: d.policy.consecutiveFailures });
    d.timer = setTimeout(() => {
      d.timer = undefined;
      if (this.dialers.get(d.url) === d) this.maybeDial(d);
    }, delay);
    d.timer.unref();
  }

  // ---- flows: owner side ----------------------------------------------------------

  /** The peer opens a flow to an agent this hub holds (epoch already fenced by the link). */
  private onOpen(link: MeshLink, req: MeshOpenRequest): void {
    const info = this.links.get(link);
    if (info === undefined) return;
    const session = this.pickSession(req);
    if (session === undefined || this.ha.mode !== 'active') {
      this.log.warn('mesh_open_refused', { peer: link.peerId, agent_id: req.agentId, connector: req.connector, reason: session === undefined ? 'no_agent' : 'not_active' });
      link.resetFlow(req.cid, session === undefined ? MeshRstReason.NOT_OWNER : MeshRstReason.SHUTDOWN);
      return;
    }
    if (!session.canAcceptFlow() || !session.hasHealthyTarget(req.connector)) {
      const reason = session.canAcceptFlow() ? 'no_healthy_target' : session.refusalReason();
      this.hubMetrics.openFailed.labels({ connector: req.connector, reason }).inc();
      this.log.warn('open_refused', { connector: req.connector, reason, agent_id: req.agentId, peer: link.peerId, path: 'cross_replica' });
      link.resetFlow(req.cid, MeshRstReason.LIMIT);
      return;
    }
    const stream = new MeshFlowStream(link, req.cid, () => info.endpoints.delete(req.cid));
    info.endpoints.set(req.cid, stream.endpoint);
    link.acceptFlow(req.cid);
    const origin = `mesh:${link.peerId ?? 'unknown'}`;
    session.openFlow(stream as unknown as Socket, req.connector, origin, origin, true);
    stream.trackConsumption();
  }

  private pickSession(req: MeshOpenRequest): HubTunnelSession | undefined {
    for (const s of this.sessions.router.byAgentId(req.agentId)) {
      if (s.connectors.includes(req.connector) && this.ha.epochOf(s) === req.epoch) return s;
    }
    return undefined;
  }

  // ---- flows: origin side -----------------------------------------------------------

  /** An up link to `replicaId` (the kept one when two are up), other than those in `except`. */
  linkTo(replicaId: string, except?: ReadonlySet<MeshLink>): MeshLink | undefined {
    let found: MeshLink | undefined;
    for (const { link } of this.links.values()) {
      if (link.peerId === replicaId && link.state === LinkState.UP && except?.has(link) !== true) {
        if (found === undefined || !link.congested) found = link;
      }
    }
    return found;
  }

  /**
   * Active mode, no local agent, several holders possible (issue 15): open through the usable holder
   * (its replica's lease alive, a mesh link to it up) with the fewest flows in flight from this hub.
   * No usable holder: `mesh_unavailable`.
   */
  openCrossReplicaAny(
    candidates: readonly AgentOwner[],
    l: ListenerConfig,
    sock: Socket,
    client: string,
    tried: Tried = { holders: new Set(), links: new Set() },
  ): HolderRouteResult {
    // A holder is usable when a mesh link to its replica is up: the link's peer proved its identity against
    // the registry, and a crashed replica's link drops. (Not the replica list of the last heartbeat: a hub
    // that started a moment ago has not seen a peer's record there yet, and would refuse for up to lease/3.)
    const owner = this.holderChoice.pick(candidates, (c) => !tried.holders.has(c.replicaId) && this.linkTo(c.replicaId, tried.links) !== undefined);
    if (owner === undefined) return { ok: false, reason: 'mesh_unavailable' };
    const link = this.linkTo(owner.replicaId, tried.links)!;
    const first = tried.holders.size === 0 && tried.links.size === 0;
    const done = this.holderChoice.opened(owner);
    const reroute = (reason: MeshRstReason): boolean => {
      if (!REROUTABLE.has(reason)) return false;
      // Each reroute rules out one holder or one link: the retries end.
      if (HOLDER_GONE.has(reason)) tried.holders.add(owner.replicaId);
      else tried.links.add(link);
      const next = this.openCrossReplicaAny(candidates, l, sock, client, tried);
      if (!next.ok) return false;
      this.log.info('flow_rerouted', {
        connector: l.connector,
        agent_id: next.owner?.agentId,
        from_replica: owner.replicaId,
        to_replica: next.owner?.replicaId,
        reason: MeshRstReason[reason]?.toLowerCase() ?? String(reason),
      });
      return true;
    };
    const res = this.openCrossReplica(owner, link, l, sock, client, done, reroute, !first);
    if (!res.ok) done();
    return { ...res, owner };
  }

  /**
   * Carries the client over `link` to the holder `owner`. Refused at once when the link is gone
   * (`mesh_unavailable`) or its writer is at a cap (`queue_full`, `inflight_cap`, counted in
   * nowconnect_mesh_backpressure_drops_total).
   */
  private openCrossReplica(
    owner: AgentOwner,
    link: MeshLink,
    l: ListenerConfig,
    sock: Socket,
    client: string,
    onClosed?: () => void,
    reroute?: (reason: MeshRstReason) => boolean,
    rerouted = false,
  ): CrossReplicaResult {
    if (!this.running || sock.destroyed) return { ok: false, reason: 'mesh_unavailable' };
    const info = this.links.get(link);
    if (info === undefined) return { ok: false, reason: 'mesh_unavailable' };
    let opened: ReturnType<MeshLink['openFlow']>;
    try {
      opened = link.openFlow(owner.agentId, l.connector, owner.epoch);
    } catch {
      return { ok: false, reason: 'invalid_owner' };
    }
    if ('refused' in opened) return { ok: false, reason: opened.refused === 'not_up' ? 'mesh_unavailable' : opened.refused };
    const m = this.hubMetrics;
    const connector = l.connector;
    const cid = `m${(++this.cidSeq).toString(36)}-${opened.cid}`;
    const flow = new OriginFlow(link, opened.cid, sock, {
      bytesOut: (n) => m.flow.bytesOut(connector, n),
      bytesIn: (n) => m.flow.bytesIn(connector, n),
      finSent: () => m.flow.finSent(),
      finRecv: () => m.flow.finRecv(),
      rstSent: () => m.flow.rstSent(),
      rstRecv: () => m.flow.rstRecv(),
      reroute,
      closed: (f, end) => {
        onClosed?.();
        info.endpoints.delete(opened.cid);
        this.origins.delete(f);
        m.tcpActive.labels({ connector }).dec();
        if (end === 'rerouted') return; // the same client connection goes on through another holder
        this.log.info('connection_closed', {
          cid,
          connector,
          listener: l.name,
          agent_id: owner.agentId,
          owner_replica: owner.replicaId,
          path: 'cross_replica',
          bytes_c2a: f.bytesOut,
          bytes_a2c: f.bytesIn,
          duration_ms: Date.now() - f.startedAt,
          end,
        });
      },
    });
    info.endpoints.set(opened.cid, flow);
    this.origins.add(flow);
    // A rerouted flow is the same client connection: counted once (connection_open was logged for it).
    if (!rerouted) m.tcpConnections.labels({ connector }).inc();
    m.tcpActive.labels({ connector }).inc();
    if (!rerouted) this.log.info('connection_open', { cid, connector, listener: l.name, agent_id: owner.agentId, owner_replica: owner.replicaId, path: 'cross_replica', client });
    flow.start();
    return { ok: true };
  }

  // ---- metrics ----------------------------------------------------------------------

  private gaugeSamples(): MeshGaugeSample[] {
    const rank = { up: 3, draining: 2, connecting: 1, down: 0 } as Record<string, number>;
    const byPeer = new Map<string, { state: string; queueDepth: number; inflightBytes: number }>();
    for (const { link, url } of this.links.values()) {
      const peer = link.peerId ?? url;
      if (peer === undefined) continue;
      const cur = byPeer.get(peer) ?? { state: 'down', queueDepth: 0, inflightBytes: 0 };
      if ((rank[link.state] ?? 0) > (rank[cur.state] ?? 0)) cur.state = link.state;
      cur.queueDepth += link.queueDepth;
      cur.inflightBytes += link.inflightBytes;
      byPeer.set(peer, cur);
    }
    for (const d of this.dialers.values()) {
      const peer = d.target.replicaId ?? d.url;
      if (!byPeer.has(peer)) byPeer.set(peer, { state: 'down', queueDepth: 0, inflightBytes: 0 });
    }
    return [...byPeer].map(([peer, s]) => ({ peer, ...s }));
  }
}
