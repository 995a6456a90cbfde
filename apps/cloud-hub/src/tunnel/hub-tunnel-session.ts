import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import {
  decodeHello,
  decodeReauth,
  decodeTargetHealth,
  encodeControl,
  encodeOpen,
  Frame,
  FrameError,
  FrameErrorCode,
  FrameType,
  RstReason,
  TARGET_FAILURE_REASONS,
  TARGET_HEALTH_VERSION,
  type ConnectorHealth,
} from '@nowconnect/frames';
import { DEFAULT_SLOW_CONSUMER_BYTES, Flow, MuxSession, WsTransport, type FlowMetrics } from '@nowconnect/flow';
import type { RoutableAgent } from '@nowconnect/registry';
import type { CloudConfig } from '@nowconnect/ha-config';
import type { EventLog } from '@nowconnect/logging';
import type { HubMetrics } from '../metrics/hub-metrics';
import { scopeAllows, type AuthResult, type ConnectorScope } from '../auth';
import { rstReasonLabel } from './rst-labels';
import { TokenExpiry } from './token-expiry';

export interface TunnelAuthContext {
  readonly agentId: string;
  readonly scope: ConnectorScope;
  /** Already masked per logging.mask_ips. */
  readonly client: string;
  /** The upgrade token's `exp`, epoch ms. */
  readonly expiresAt: number;
}

export interface HubSessionDeps {
  readonly config: CloudConfig;
  readonly log: EventLog;
  readonly metrics: HubMetrics;
  /**
   * HA: claims ownership of the agent during its HELLO; the epoch goes into HELLO_ACK
   * (undefined: HA off, or the registry cannot answer and the agent is served local-only).
   */
  readonly claim?: (session: HubTunnelSession) => Promise<number | undefined>;
  /** Called once the HELLO is accepted and HELLO_ACK sent. */
  readonly onReady: (session: HubTunnelSession) => void;
  readonly onClosed: (session: HubTunnelSession) => void;
  readonly nextCid: () => string;
  /** Verifies a token sent in-band (REAUTH), as the upgrade's was. */
  readonly verifyToken: (token: string) => Promise<AuthResult>;
  /** auth.clock_skew_sec: a tunnel is closed this long after its token's `exp` unless re-authenticated. */
  readonly clockSkewSec: number;
  /** Alive hub replicas this hub knows of (HELLO_ACK `replicas`): 1 with HA off. */
  readonly replicas?: () => number;
  /** The agent sent a new TARGET_HEALTH snapshot (recompute nowconnect_target_up). */
  readonly onTargetHealth?: (session: HubTunnelSession) => void;
  /** The link (an accepted tunnel of this hub) a HELLO `stripe_of` key names, if any. */
  readonly stripeHead?: (key: string) => HubTunnelSession | undefined;
}


interface FlowMeta {
  readonly cid: string;
  readonly connector: string;
  readonly listener: string;
  /** Opened by a peer hub over the mesh: the client connection (and its bytes) is counted there. */
  readonly viaMesh: boolean;
  /** limits.open_timeout_sec: resets the flow unless OPEN_ACK arrives first. */
  openTimer: NodeJS.Timeout | undefined;
}

/** Keep the tunnel's WebSocket queue under this before pausing client sockets. */
const TRANSPORT_HIGH_WATER_BYTES = 1024 * 1024;
const MAX_FLOW_ID = 0xffffffff;
/**
 * A HELLO whose `held_replicas` names this replica: the agent already holds a link here (it dialled a
 * load-balanced URL and landed on a replica it holds). Closed politely with this code; the agent's
 * existing tunnel on this hub is left alone and the agent re-dials elsewhere.
 */
export const CLOSE_DUPLICATE_LINK = 4009;
/**
 * A stripe HELLO this hub cannot attach: its key names no link here (the agent's load balancer sent
 * the stripe to another replica, or the link just closed or is draining), or the link has all the
 * stripes it may. Closed politely; the agent re-dials the stripe later (docs/flow-control.md).
 */
export const CLOSE_STRIPE_REFUSED = 4010;
/**
 * Connections per link (the link's own plus its stripes) this hub accepts, sent in HELLO_ACK
 * `stripes`. Each stripe is one more TCP connection with its own send buffer: flows spread over
 * them, so a link is no longer capped at one connection's tcp_wmem over a long round trip.
 */
export const MAX_LINK_STRIPES = 8;

/** The hub's end of one agent tunnel: HELLO, flow opening, limits, lifecycle logs. */
export class HubTunnelSession extends MuxSession implements RoutableAgent {
  agentId: string;
  connectors: readonly string[] = [];
  helloDone = false;
  draining = false;
  private pendingOpens = 0;
  private nextFlowId = 1;
  private readonly meta = new Map<number, FlowMeta>();
  /** Mesh-opened flows: tunnel FIN/RST counted as usual, payload bytes not (the origin hub counts them). */
  private readonly meshFlowMetrics: FlowMetrics;
  private helloTimer: NodeJS.Timeout | undefined;
  /** The token this tunnel runs on (upgrade or latest accepted REAUTH): closed 4003 past exp + skew. */
  private readonly expiry: TokenExpiry;
  private reauthPending = false;
  /** The agent's last TARGET_HEALTH, by connector (empty: no report, every connector counts as healthy). */
  readonly targetHealth = new Map<string, ConnectorHealth>();
  /** The ownership epoch sent in HELLO_ACK (HA), repeated to this link's stripes. */
  private epoch: number | undefined;
  /** A link's name for its stripes (HELLO_ACK `stripe_key`); undefined on a stripe itself. */
  stripeKey: string | undefined;
  /** On a stripe: the link it belongs to (its flows are opened through that link). */
  head: HubTunnelSession | undefined;
  /** On a link: its stripes that are up. */
  readonly stripes = new Set<HubTunnelSession>();

  constructor(
    private readonly ws: WebSocket,
    socket: Socket,
    readonly auth: TunnelAuthContext,
    private readonly deps: HubSessionDeps,
  ) {
    const limits = deps.config.limits;
    const highWater = Math.max(TRANSPORT_HIGH_WATER_BYTES, 4 * limits.flowWindowBytes);
    super(new WsTransport(ws, socket, highWater), {
      slowConsumerBytes: Math.max(DEFAULT_SLOW_CONSUMER_BYTES, 4 * highWater),
      maxFrameBytes: limits.maxFrameBytes,
      flowWindowBytes: limits.flowWindowBytes,
      maxFlowWindowBytes: limits.maxFlowWindowBytes,
      tunnelWindowBytes: limits.tunnelWindowBytes,
      processWindowBytes: limits.processWindowBytes,
      keepaliveMs: limits.keepaliveSec * 1000,
      metrics: deps.metrics.flow,
    });
    this.agentId = auth.agentId;
    this.expiry = new TokenExpiry(auth.expiresAt, deps.clockSkewSec * 1000, (exp) => this.onExpired(exp));
    this.meshFlowMetrics = { ...deps.metrics.flow, bytesOut: () => undefined, bytesIn: () => undefined };
    ws.on('message', (data, isBinary) => this.handleMessage(data as Buffer, isBinary));
    this.readFramesFrom(ws, socket, true);
    ws.on('close', (code, reason) => this.onWsClose(code, reason.toString('utf8')));
    ws.on('error', (err) => this.onWsError(err)); // 'close' follows
    this.handle(FrameType.HELLO, (f) => this.onHello(f));
    this.helloTimer = setTimeout(() => this.refuse('hello_timeout'), limits.helloTimeoutSec * 1000);
    this.helloTimer.unref();
  }

  // ---- handshake ----------------------------------------------------------

  private onHello(frame: Frame): void {
    this.unhandle(FrameType.HELLO);
    clearTimeout(this.helloTimer);
    const hello = decodeHello(frame.payload);
    if (hello instanceof FrameError) {
      this.refuse('malformed');
      return;
    }
    if (hello.agent_id !== this.auth.agentId) {
      this.refuse('agent_mismatch', { hello_agent_id: hello.agent_id });
      return;
    }
    if (this.auth.scope.kind === 'unscoped' && this.deps.config.auth.requireConnectorScope) {
      this.refuse('scope', { detail: 'token scope has no connector: entries (auth.require_connector_scope)' });
      return;
    }
    const outside = hello.connectors.filter((c) => !scopeAllows(this.auth.scope, c));
    if (outside.length > 0) {
      const allowed = scopeList(this.auth.scope);
      this.refuse('scope', { connectors: outside, allowed }, `${outside.join(', ')} not in the token's scope (allowed: ${allowed.join(', ') || 'none'})`);
      return;
    }
    if (hello.stripe_of !== undefined) {
      this.onStripeHello(hello.stripe_of, hello.version);
      return;
    }
    const replicaId = this.deps.config.ha.replicaId;
    if (hello.held_replicas?.includes(replicaId) === true) {
      this.refuseDuplicate(replicaId);
      return;
    }
    this.connectors = hello.connectors;
    const claim = this.deps.claim;
    if (claim === undefined) {
      this.completeHello(hello.version, undefined);
      return;
    }
    // The agent sends nothing before HELLO_ACK, so no frame needs handling while the claim runs.
    void claim(this).then((epoch) => {
      if (!this.closed) this.completeHello(hello.version, epoch);
    });
  }

  /**
   * A stripe of one of this hub's links: same agent (its token was verified at the upgrade), key
   * from that link's HELLO_ACK. No registry claim, no router entry, not counted as a connected
   * agent: the link hands flows to it. The HELLO may name several of the agent's links (behind a
   * load balancer the agent cannot pick the replica): it joins the first one this hub holds that
   * takes it, and HELLO_ACK names that link's key.
   */
  private onStripeHello(keys: readonly string[], version: string): void {
    let full = false;
    for (const key of keys) {
      const head = this.deps.stripeHead?.(key);
      if (head === undefined || head.closed || head.draining || !head.helloDone) continue;
      if (head.agentId !== this.agentId) {
        this.refuse('agent_mismatch', { stripe_of_agent_id: head.agentId });
        return;
      }
      const outside = head.connectors.filter((c) => !scopeAllows(this.auth.scope, c));
      if (outside.length > 0) {
        this.refuse('scope', { connectors: outside, stripe: true });
        return;
      }
      if (head.stripes.size + 1 >= MAX_LINK_STRIPES) {
        full = true;
        continue;
      }
      this.head = head;
      this.connectors = head.connectors;
      head.stripes.add(this);
      this.completeHello(version, head.epoch);
      return;
    }
    this.refuseStripe(full ? 'stripe_limit' : 'stripe_unknown');
  }

  private refuseStripe(reason: 'stripe_unknown' | 'stripe_limit'): void {
    if (this.closed) return;
    this.deps.metrics.helloRefused.labels({ reason }).inc();
    this.deps.log.info('hello_refused', { reason, agent_id: this.auth.agentId, replica_id: this.deps.config.ha.replicaId, client: this.auth.client });
    this.teardown();
    this.ws.close(CLOSE_STRIPE_REFUSED, `stripe refused: ${reason}`);
  }

  private completeHello(version: string, epoch: number | undefined): void {
    this.helloDone = true;
    this.epoch = epoch;
    const { limits, ha } = this.deps.config;
    if (this.head === undefined && this.deps.stripeHead !== undefined) this.stripeKey = randomBytes(16).toString('hex');
    const linkKey = this.head === undefined ? this.stripeKey : this.head.stripeKey;
    this.transport.send(
      encodeControl(FrameType.HELLO_ACK, {
        replica_id: ha.replicaId,
        flow_window_bytes: limits.flowWindowBytes,
        max_flow_window_bytes: limits.maxFlowWindowBytes,
        max_frame_bytes: limits.maxFrameBytes,
        keepalive_sec: limits.keepaliveSec,
        reauth: true,
        ...(epoch === undefined ? {} : { epoch }),
        target_health: TARGET_HEALTH_VERSION,
        replicas: Math.max(1, this.deps.replicas?.() ?? 1),
        // A link: its own key (stripes name it by that). A stripe: the key of the link it joined.
        ...(linkKey === undefined ? {} : { stripe_key: linkKey, stripes: MAX_LINK_STRIPES }),
      }),
    );
    this.handle(FrameType.OPEN_ACK, (f) => this.onOpenAck(f));
    this.handle(FrameType.REAUTH, (f) => this.onReauth(f));
    this.handle(FrameType.TARGET_HEALTH, (f) => this.onTargetHealth(f));
    this.handle(FrameType.GOAWAY, () => this.onGoaway());
    this.startKeepalive();
    if (this.head !== undefined) {
      this.deps.log.info('stripe_connected', { agent_id: this.agentId, stripes: this.head.stripes.size + 1, client: this.auth.client });
      return;
    }
    this.deps.metrics.agentsConnected.inc();
    this.deps.log.info('agent_connected', {
      agent_id: this.agentId,
      connectors: this.connectors,
      version,
      client: this.auth.client,
      ...(epoch === undefined ? {} : { epoch }),
    });
    this.deps.onReady(this);
  }

  /**
   * A duplicate link (the agent already holds one to this replica): refused before any claim or
   * routing change, so the agent's running tunnel here keeps its flows. Counted as a HELLO refusal
   * (reason `duplicate_link`) but logged at info: it is the agent looking for another replica.
   */
  private refuseDuplicate(replicaId: string): void {
    if (this.closed) return;
    this.deps.metrics.helloRefused.labels({ reason: 'duplicate_link' }).inc();
    this.deps.log.info('hello_refused', { reason: 'duplicate_link', agent_id: this.auth.agentId, replica_id: replicaId, client: this.auth.client });
    this.teardown();
    this.ws.close(CLOSE_DUPLICATE_LINK, closeReason(`duplicate link: ${replicaId}`));
  }

  /** Close reason `hello refused: <reason>[: <detail>]`, cut to the 123 bytes a close frame carries. */
  private refuse(reason: string, extra: Record<string, unknown> = {}, detail?: string): void {
    if (this.closed) return;
    this.deps.metrics.helloRefused.labels({ reason }).inc();
    this.deps.log.warn('hello_refused', { reason, agent_id: this.auth.agentId, client: this.auth.client, ...extra });
    this.teardown();
    this.ws.close(1008, closeReason(`hello refused: ${reason}${detail === undefined ? '' : `: ${detail}`}`));
  }

  /** Active flows per connector (GET /status). */
  flowsByConnector(): Map<string, number> {
    const out = new Map<string, number>();
    for (const session of [this, ...this.stripes]) {
      for (const m of session.meta.values()) out.set(m.connector, (out.get(m.connector) ?? 0) + 1);
    }
    return out;
  }

  /** Flows on each connection of this link: its own, then each stripe's (GET /status). */
  flowsPerConnection(): number[] {
    return [this.flows.size, ...[...this.stripes].map((s) => s.flows.size)];
  }

  // ---- token lifetime -----------------------------------------------------

  /** The token is past `exp` + skew without an accepted REAUTH: close 4003, counted and logged. */
  private onExpired(exp: number): void {
    if (this.closed) return;
    this.deps.metrics.authExpired.inc();
    this.deps.log.warn('tunnel_auth_expired', {
      agent_id: this.agentId,
      exp: new Date(exp).toISOString(),
      skew_sec: this.deps.clockSkewSec,
      flows: this.flows.size,
      client: this.auth.client,
    });
    this.teardown();
    this.ws.close(4003, 'token expired');
  }

  /**
   * In-band re-authentication: a fresh token for the same agent id whose scope still covers the
   * registered connectors moves the tunnel's expiry. An invalid one is counted and logged like a
   * refused upgrade (the tunnel keeps its current expiry); another agent id or a narrower scope
   * closes the tunnel like a refused HELLO. One verification at a time; REAUTHs sent meanwhile
   * are ignored.
   */
  private onReauth(frame: Frame): void {
    if (this.reauthPending) return;
    const body = decodeReauth(frame.payload);
    if (body instanceof FrameError) {
      this.protocolError(body);
      return;
    }
    this.reauthPending = true;
    void this.deps.verifyToken(body.token).then((result) => {
      this.reauthPending = false;
      if (this.closed) return;
      if (!result.ok) {
        this.deps.metrics.authFailures.labels({ reason: result.reason }).inc();
        this.deps.log.warn('tunnel_auth_failed', { reason: result.reason, in_band: true, agent_id: this.agentId, client: this.auth.client });
        return;
      }
      if (result.agentId !== this.agentId) {
        this.refuse('agent_mismatch', { in_band: true, token_agent_id: result.agentId });
        return;
      }
      const outside = this.connectors.filter((c) => !scopeAllows(result.scope, c));
      if (outside.length > 0 || (result.scope.kind === 'unscoped' && this.deps.config.auth.requireConnectorScope)) {
        this.refuse('scope', { in_band: true, connectors: outside });
        return;
      }
      this.expiry.extend(result.expiresAt);
      this.deps.log.info('tunnel_reauthenticated', { agent_id: this.agentId, exp: new Date(this.expiry.exp).toISOString(), client: this.auth.client });
    });
  }

  // ---- target health ------------------------------------------------------

  /**
   * A snapshot of the agent's targets. A body we cannot use (garbage, a newer version, a connector
   * this agent did not HELLO) is ignored, counted and logged; the link stays up and the last good
   * report stands. Failure counts are cumulative per tunnel: their growth is added to
   * nowconnect_target_connect_failures_total.
   */
  private onTargetHealth(frame: Frame): void {
    const body = decodeTargetHealth(frame.payload);
    const ignore = (reason: string, detail: string): void => {
      this.deps.metrics.targetHealthIgnored.labels({ reason }).inc();
      this.deps.log.warn('target_health_ignored', { agent_id: this.agentId, reason, detail });
    };
    if (body instanceof FrameError) {
      ignore(body.code === FrameErrorCode.UNSUPPORTED_VERSION ? 'version' : 'malformed', body.message);
      return;
    }
    const unknown = body.connectors.find((c) => !this.connectors.includes(c.name));
    if (unknown !== undefined) {
      ignore('unknown_connector', `connector ${unknown.name} not in HELLO`);
      return;
    }
    for (const c of body.connectors) {
      const before = this.targetHealth.get(c.name)?.failures ?? {};
      for (const reason of TARGET_FAILURE_REASONS) {
        const grown = (c.failures[reason] ?? 0) - (before[reason] ?? 0);
        if (grown > 0) this.deps.metrics.targetConnectFailures.labels({ connector: c.name, reason }).inc(grown);
      }
      this.targetHealth.set(c.name, c);
    }
    this.deps.onTargetHealth?.(this);
  }

  hasHealthyTarget(connector: string): boolean {
    const report = this.targetHealth.get(connector);
    return report === undefined || report.targets.some((t) => t.up);
  }

  // ---- flows --------------------------------------------------------------

  /** Flows and pending opens of this link, its stripes included (the per-agent limits count them all). */
  private linkLoad(): { flows: number; pending: number } {
    let flows = this.flows.size;
    let pending = this.pendingOpens;
    for (const s of this.stripes) {
      flows += s.flows.size;
      pending += s.pendingOpens;
    }
    return { flows, pending };
  }

  canAcceptFlow(): boolean {
    const limits = this.deps.config.limits;
    if (!this.helloDone || this.draining || this.closed) return false;
    const load = this.linkLoad();
    return load.flows < limits.maxFlowsPerAgent && load.pending < limits.maxPendingOpensPerAgent;
  }

  /** Why canAcceptFlow() is false, as an open_failed reason label. */
  refusalReason(): string {
    if (this.draining || this.closed) return 'draining';
    if (this.linkLoad().flows >= this.deps.config.limits.maxFlowsPerAgent) return 'max_flows';
    return 'max_pending_opens';
  }

  /** The connection of this link that carries the next flow: the one with the fewest flows (each flow stays on one). */
  private carrier(): HubTunnelSession {
    let best: HubTunnelSession = this;
    for (const s of this.stripes) {
      if (s.helloDone && !s.draining && !s.closed && s.flows.size < best.flows.size) best = s;
    }
    return best;
  }

  /**
   * Carries an accepted client socket as a new flow to this agent. A flow a peer hub opened over the
   * mesh (`viaMesh`) is not a client connection of this hub: the origin hub counts the connection and
   * its bytes in nowconnect_tcp_*, so they are not counted twice across the replicas.
   */
  openFlow(client: Socket, connector: string, listener: string, clientAddr: string, viaMesh = false): Flow {
    const carrier = this.carrier();
    if (carrier !== this) return carrier.openFlow(client, connector, listener, clientAddr, viaMesh);
    const id = this.allocateFlowId();
    const cid = this.deps.nextCid();
    const meta: FlowMeta = { cid, connector, listener, viaMesh, openTimer: undefined };
    this.meta.set(id, meta);
    this.pendingOpens++;
    this.transport.send(encodeOpen(id, connector));
    const flow = this.addFlow(id, connector, client, viaMesh ? this.meshFlowMetrics : undefined);
    meta.openTimer = setTimeout(() => this.openTimedOut(flow), this.deps.config.limits.openTimeoutSec * 1000);
    meta.openTimer.unref();
    if (!viaMesh) {
      this.deps.metrics.tcpConnections.labels({ connector }).inc();
      this.deps.metrics.tcpActive.labels({ connector }).inc();
    }
    this.deps.log.info('connection_open', { cid, connector, listener, agent_id: this.agentId, client: clientAddr });
    return flow;
  }

  private allocateFlowId(): number {
    for (;;) {
      const id = this.nextFlowId;
      this.nextFlowId = id >= MAX_FLOW_ID ? 1 : id + 1;
      if (!this.flows.has(id)) return id;
    }
  }

  private onOpenAck(frame: Frame): void {
    const flow = this.flows.get(frame.flowId);
    if (flow === undefined || flow.acked) return;
    flow.acked = true;
    this.pendingOpens--;
    clearTimeout(this.meta.get(flow.id)?.openTimer);
  }

  /** No OPEN_ACK within limits.open_timeout_sec: reset the flow (both ends), counted and logged. */
  private openTimedOut(flow: Flow): void {
    if (this.closed || flow.acked || this.flows.get(flow.id) !== flow) return;
    const timeoutSec = this.deps.config.limits.openTimeoutSec;
    this.deps.metrics.openFailed.labels({ connector: flow.connector, reason: 'timeout' }).inc();
    this.deps.log.warn('open_failed', { cid: this.meta.get(flow.id)?.cid, connector: flow.connector, agent_id: this.agentId, reason: 'timeout', timeout_sec: timeoutSec });
    flow.reset(RstReason.CONNECT_TIMEOUT);
  }

  protected override onFlowRst(flow: Flow, reason: RstReason): void {
    if (!flow.acked) {
      const label = rstReasonLabel(reason);
      this.deps.metrics.openFailed.labels({ connector: flow.connector, reason: label }).inc();
      this.deps.log.warn('open_failed', { cid: this.meta.get(flow.id)?.cid, connector: flow.connector, agent_id: this.agentId, reason: label });
    }
    super.onFlowRst(flow, reason);
  }

  socketFailed(): RstReason {
    return RstReason.PEER_RESET;
  }

  protected override onFlowClosed(flow: Flow): void {
    if (!flow.acked) this.pendingOpens--;
    const meta = this.meta.get(flow.id);
    clearTimeout(meta?.openTimer);
    this.meta.delete(flow.id);
    if (meta?.viaMesh !== true) this.deps.metrics.tcpActive.labels({ connector: flow.connector }).dec();
    this.deps.log.info('connection_closed', {
      cid: meta?.cid,
      connector: flow.connector,
      listener: meta?.listener,
      agent_id: this.agentId,
      bytes_c2a: flow.bytesOut,
      bytes_a2c: flow.bytesIn,
      duration_ms: Date.now() - flow.startedAt,
      end: flow.end ?? 'unknown',
    });
  }

  private onGoaway(): void {
    this.draining = true;
    this.deps.log.info('agent_goaway', { agent_id: this.agentId });
  }

  // ---- lifecycle ----------------------------------------------------------

  /** Hub drain: no new flows; tell the agent. */
  goaway(reason: string): void {
    if (this.closed) return;
    this.draining = true;
    if (this.helloDone) this.transport.send(encodeControl(FrameType.GOAWAY, { reason }));
  }

  resetAllFlows(reason: RstReason): number {
    const flows = [...this.flows.values()];
    for (const flow of flows) flow.reset(reason);
    return flows.length;
  }

  close(code: number, reason: string): void {
    this.expiry.stop();
    this.teardown();
    this.ws.close(code, reason);
  }

  protected protocolError(err: FrameError): void {
    this.deps.metrics.protocolErrors.labels({ code: err.code }).inc();
    this.deps.log.warn('tunnel_protocol_error', { agent_id: this.agentId, code: err.code, detail: err.message, client: this.auth.client });
    this.teardown();
    this.ws.close(1002, err.code);
  }

  /**
   * ws itself refuses a message above maxPayload (close 1009) and other WebSocket-level
   * violations before any frame reaches the decoder: still a protocol error of this link.
   */
  private onWsError(err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (this.closed || typeof code !== 'string' || !code.startsWith('WS_ERR_')) return;
    const label = code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? FrameErrorCode.FRAME_TOO_LARGE : code;
    this.deps.metrics.protocolErrors.labels({ code: label }).inc();
    this.deps.log.warn('tunnel_protocol_error', { agent_id: this.agentId, code: label, detail: err.message, client: this.auth.client });
    this.teardown();
  }

  protected deadPeer(): void {
    this.deps.log.warn('agent_dead', { agent_id: this.agentId, keepalive_sec: this.deps.config.limits.keepaliveSec });
    this.teardown();
    this.ws.terminate();
  }

  /** The agent leaves replies unread (a PING or ws-ping flood that never reads): close at once. */
  protected slowConsumer(queuedBytes: number, capBytes: number): void {
    this.deps.metrics.slowConsumers.inc();
    this.deps.log.warn('tunnel_slow_consumer', { agent_id: this.agentId, reason: 'slow_consumer', queued_bytes: queuedBytes, cap_bytes: capBytes, client: this.auth.client });
    this.teardown();
    // A close frame would queue behind what the agent does not read: drop the connection.
    this.ws.terminate();
  }

  protected override onRtt(seconds: number): void {
    this.deps.metrics.tunnelRtt.observe(seconds);
  }

  private onWsClose(code: number, reason: string): void {
    clearTimeout(this.helloTimer);
    this.expiry.stop();
    this.teardown();
    const head = this.head;
    if (head !== undefined) {
      head.stripes.delete(this);
      if (this.helloDone) this.deps.log.info('stripe_disconnected', { agent_id: this.agentId, code, reason, stripes: head.stripes.size + 1, client: this.auth.client });
      this.deps.onClosed(this);
      return;
    }
    // The link is gone: its stripes take no new flow; the agent closes each once its flows are done.
    for (const s of this.stripes) s.goaway('link closed');
    this.stripes.clear();
    if (this.helloDone) {
      this.deps.metrics.agentsConnected.dec();
      this.deps.log.info('agent_disconnected', { agent_id: this.agentId, code, reason, client: this.auth.client });
    }
    this.deps.onClosed(this);
  }

  get flowCount(): number {
    return this.flows.size;
  }
}

/** The connector names a scope allows, `*` for all. */
function scopeList(scope: ConnectorScope): string[] {
  if (scope.kind === 'all') return ['*'];
  if (scope.kind === 'unscoped') return [];
  return [...scope.connectors].sort();
}

const MAX_CLOSE_REASON_BYTES = 123;

function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_CLOSE_REASON_BYTES) return text;
  let cut = text.slice(0, MAX_CLOSE_REASON_BYTES - 3);
  while (Buffer.byteLength(`${cut}...`) > MAX_CLOSE_REASON_BYTES) cut = cut.slice(0, -1);
  return `${cut}...`;
}
