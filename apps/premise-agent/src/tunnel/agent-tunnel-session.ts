import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import {
  decodeGoaway,
  decodeHelloAck,
  decodeOpen,
  encodeControl,
  encodeOpenAck,
  encodeRst,
  Frame,
  FrameError,
  FrameErrorCode,
  FrameType,
  RstReason,
  type HelloAckBody,
  type TargetFailureReason,
} from '@nowconnect/frames';
import { Flow, INITIAL_FLOW_WINDOW_BYTES, MuxSession, NOOP_FLOW_METRICS, WsTransport } from '@nowconnect/flow';
import type { AgentLimitsConfig } from '@nowconnect/ha-config';
import type { EventLog } from '@nowconnect/logging';
import { dialTargets, type DialOutcome, type TargetDial } from '../targets/target-dialer';
import type { TargetPool, TargetPools, TargetSlot } from '../targets/target-pool';
import { TargetHealthReporter } from '../targets/target-health-reporter';
import { TokenRefresher, tokenExpiry } from './token-refresher';

export interface AgentSessionOptions {
  readonly agentId: string;
  readonly hubUrl: string;
  readonly pools: TargetPools;
  readonly version: string;
  readonly log: EventLog;
  /** Until HELLO_ACK says otherwise. */
  readonly maxFrameBytes: number;
  readonly helloTimeoutMs: number;
  /** premise.yaml limits: over them an OPEN is answered RST AGENT_BUSY. */
  readonly limits: AgentLimitsConfig;
  /** The agent process's counters (kept across tunnels; no /metrics on the agent: each goes into its log line). */
  readonly counters: { busy: number; slowConsumer: number };
  /** The token this tunnel was opened with, and where a fresh one comes from (in-band re-authentication). */
  readonly token: string;
  readonly readToken: () => Promise<string>;
  /** Replicas this agent already holds links to (HELLO `held_replicas`; omitted when empty). */
  readonly heldReplicas?: readonly string[];
  /**
   * A stripe (HELLO `stripe_of`): the keys of the links it may join (HELLO_ACK names the one it
   * did), and where its dial failures go (that link's health report).
   */
  readonly stripe?: {
    readonly keys: readonly string[];
    readonly recordTargetFailure: (connector: string, reason: TargetFailureReason) => void;
  };
  /** The other connections of this connection's link (the agent's limits count a link as a whole). */
  readonly siblings?: () => Iterable<AgentTunnelSession>;
}

/** An OPEN whose target is being dialled: frames the hub sends meanwhile wait here (bounded by the window). */
interface PendingOpen {
  readonly dial: TargetDial;
  readonly held: Buffer[];
  heldBytes: number;
  fin: boolean;
}

export type SessionEnd = { readonly established: boolean; readonly dead: boolean; readonly code: number; readonly reason: string };

const TRANSPORT_HIGH_WATER_BYTES = 1024 * 1024;
const DEFAULT_WINDOW = 256 * 1024;

/** The agent's end of the tunnel: HELLO, then OPEN -> dial the target, one flow per OPEN. */
export class AgentTunnelSession extends MuxSession {
  established = false;
  private dead = false;
  private goingAway = false;
  private readonly helloTimer: NodeJS.Timeout;
  private readonly connected = new WeakSet<Socket>();
  private readonly pending = new Map<number, PendingOpen>();
  /** The target each open flow went to (least_flows counts). */
  private readonly flowSlots = new Map<number, TargetSlot>();
  private health: TargetHealthReporter | undefined;
  readonly ended: Promise<SessionEnd>;
  /** Resolves with the hub's HELLO_ACK once the tunnel is established (never, if it ends before). */
  readonly ready: Promise<HelloAckBody>;
  private readyResolve: (ack: HelloAckBody) => void = () => undefined;
  /** Resolves with the hub's reason when the hub sends GOAWAY (it is draining): time to dial another hub. */
  readonly goaway: Promise<string>;
  private goawayReceived: (reason: string) => void = () => undefined;
  private refresher: TokenRefresher | undefined;

  constructor(
    private readonly ws: WebSocket,
    socket: Socket,
    private readonly opts: AgentSessionOptions,
  ) {
    super(new WsTransport(ws, socket, TRANSPORT_HIGH_WATER_BYTES), {
      maxFrameBytes: opts.maxFrameBytes,
      flowWindowBytes: DEFAULT_WINDOW,
      keepaliveMs: 15_000,
      metrics: NOOP_FLOW_METRICS,
    });
    this.ended = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        clearTimeout(this.helloTimer);
        this.refresher?.stop();
        this.teardown();
        resolve({ established: this.established, dead: this.dead, code, reason: reason.toString('utf8') });
      });
    });
    this.goaway = new Promise((resolve) => (this.goawayReceived = resolve));
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    ws.on('message', (data, isBinary) => this.handleMessage(data as Buffer, isBinary));
    this.readFramesFrom(ws, socket, false);
    ws.on('error', () => undefined); // 'close' follows
    this.handle(FrameType.HELLO_ACK, (f) => this.onHelloAck(f));
    this.helloTimer = setTimeout(() => {
      opts.log.warn('hello_timeout', { hub: opts.hubUrl });
      this.dead = true;
      this.ws.terminate();
    }, opts.helloTimeoutMs);
    this.helloTimer.unref();
    this.transport.send(
      encodeControl(FrameType.HELLO, {
        agent_id: opts.agentId,
        connectors: opts.pools.names,
        version: opts.version,
        ...(opts.heldReplicas === undefined || opts.heldReplicas.length === 0 ? {} : { held_replicas: opts.heldReplicas }),
        ...(opts.stripe === undefined ? {} : { stripe_of: opts.stripe.keys }),
      }),
    );
  }

  private onHelloAck(frame: Frame): void {
    this.unhandle(FrameType.HELLO_ACK);
    clearTimeout(this.helloTimer);
    const ack = decodeHelloAck(frame.payload);
    if (ack instanceof FrameError) {
      this.protocolError(ack);
      return;
    }
    this.configure({
      flowWindowBytes: ack.flow_window_bytes,
      maxFrameBytes: ack.max_frame_bytes,
      keepaliveMs: ack.keepalive_sec * 1000,
      ...(ack.max_flow_window_bytes === undefined ? {} : { maxFlowWindowBytes: ack.max_flow_window_bytes }),
    });
    this.established = true;
    this.handle(FrameType.OPEN, (f) => this.onOpen(f));
    this.handle(FrameType.GOAWAY, (f) => this.onGoaway(f));
    this.startKeepalive();
    if (ack.reauth === true) {
      this.refresher = new TokenRefresher(
        tokenExpiry(this.opts.token),
        this.opts.readToken,
        (token) => {
          if (!this.closed) this.transport.send(encodeControl(FrameType.REAUTH, { token }));
        },
        this.opts.log,
        this.opts.hubUrl,
      );
      this.refresher.start();
    }
    this.readyResolve(ack);
    if (this.opts.stripe !== undefined) return; // the link reports target health; StripeSet logs agent_stripe_up
    this.opts.log.info('tunnel_established', {
      hub: this.opts.hubUrl,
      replica_id: ack.replica_id,
      ...(ack.replicas === undefined ? {} : { replicas: ack.replicas }),
      ...(ack.epoch === undefined ? {} : { epoch: ack.epoch }),
      connectors: this.opts.pools.names,
      flow_window_bytes: ack.flow_window_bytes,
    });
    if ((ack.target_health ?? 0) >= 1) {
      this.health = new TargetHealthReporter(this.opts.pools, (frame) => this.transport.send(frame));
    }
  }

  /** A dial failure for the link's TARGET_HEALTH report (a stripe's go to its link). */
  recordTargetFailure(connector: string, reason: TargetFailureReason): void {
    if (this.opts.stripe !== undefined) this.opts.stripe.recordTargetFailure(connector, reason);
    else this.health?.recordFailure(connector, reason);
  }

  /** Open flows plus targets being dialled on this connection. */
  get load(): number {
    return this.flows.size + this.pending.size;
  }

  get pendingConnects(): number {
    return this.pending.size;
  }

  private onOpen(frame: Frame): void {
    const id = frame.flowId;
    if (this.flows.has(id) || this.pending.has(id)) {
      this.protocolError(new FrameError(FrameErrorCode.UNEXPECTED_FRAME, `OPEN for flow ${id} already open`, 0));
      return;
    }
    const connector = decodeOpen(frame.payload);
    const pool = connector instanceof FrameError ? undefined : this.opts.pools.get(connector);
    if (connector instanceof FrameError || pool === undefined) {
      this.opts.log.warn('target_connect_failed', { flow: id, connector: connector instanceof FrameError ? undefined : connector, reason: 'unknown_connector' });
      this.transport.send(encodeRst(id, RstReason.UNKNOWN_CONNECTOR));
      return;
    }
    const limits = this.opts.limits;
    // The limits hold per link: a link's stripes count together.
    let load = this.load;
    let pendingConnects = this.pending.size;
    for (const s of this.opts.siblings?.() ?? []) {
      load += s.load;
      pendingConnects += s.pendingConnects;
    }
    const busy = load >= limits.maxFlows ? 'max_flows' : pendingConnects >= limits.maxPendingConnects ? 'max_pending_connects' : undefined;
    if (busy !== undefined) {
      this.refuseBusy(id, pool.name, busy);
      return;
    }
    const dial = dialTargets(pool, id, this.opts.log, (reason) => this.recordTargetFailure(pool.name, reason));
    this.pending.set(id, { dial, held: [], heldBytes: 0, fin: false });
    void dial.done.then((outcome) => this.onDialed(id, dial, pool, outcome));
  }

  /** The dial ended: open the flow on the socket that connected (and hand it what the hub sent meanwhile), or RST. */
  private onDialed(id: number, dial: TargetDial, pool: TargetPool, outcome: DialOutcome): void {
    const pending = this.pending.get(id);
    if (pending === undefined || pending.dial !== dial || this.closed) {
      if (outcome.ok) {
        outcome.socket.destroy();
        outcome.slot.active--;
      }
      return;
    }
    this.pending.delete(id);
    if (!outcome.ok) {
      this.transport.send(encodeRst(id, outcome.failure?.rst ?? RstReason.UNSPECIFIED));
      this.closeIfGoneAway();
      return;
    }
    const { socket, slot } = outcome;
    this.connected.add(socket);
    const flow = this.addFlow(id, pool.name, socket);
    this.flowSlots.set(id, slot); // counted in slot.active since the dial; released in onFlowClosed
    flow.acked = true;
    this.transport.send(encodeOpenAck(id));
    this.opts.log.info('connection_open', { flow: id, connector: pool.name, target: slot.name, ...(outcome.attempts > 1 ? { attempts: outcome.attempts } : {}) });
    for (const chunk of pending.held) flow.onRemoteData(chunk);
    if (pending.fin) flow.onRemoteFin();
  }

  /** DATA / FIN / RST / WINDOW_UPDATE from the hub while the target is still being dialled. */
  protected override onFrameForPendingFlow(type: FrameType, flowId: number, payload: Buffer): boolean {
    const pending = this.pending.get(flowId);
    if (pending === undefined) return false;
    if (type === FrameType.DATA) {
      pending.heldBytes += payload.length;
      if (pending.heldBytes > Math.min(this.flowWindowBytes, INITIAL_FLOW_WINDOW_BYTES)) {
        // The hub may not send more than one window before OPEN_ACK: a broken peer.
        this.cancelPending(flowId, pending);
        this.transport.send(encodeRst(flowId, RstReason.FLOW_CONTROL));
        return true;
      }
      pending.held.push(Buffer.from(payload));
    } else if (type === FrameType.FIN) {
      pending.fin = true;
    } else if (type === FrameType.RST) {
      this.cancelPending(flowId, pending); // the client left before the target answered
      this.closeIfGoneAway();
    }
    return true;
  }

  private cancelPending(flowId: number, pending: PendingOpen): void {
    this.pending.delete(flowId);
    pending.dial.cancel();
  }

  /** Over limits.max_flows / max_pending_connects: RST AGENT_BUSY, no dial; counted and logged. */
  private refuseBusy(flowId: number, connector: string, limit: 'max_flows' | 'max_pending_connects'): void {
    this.opts.counters.busy++;
    this.transport.send(encodeRst(flowId, RstReason.AGENT_BUSY));
    this.opts.log.warn('open_refused', {
      flow: flowId,
      connector,
      reason: 'agent_busy',
      limit,
      flows: this.flows.size,
      pending_connects: this.pending.size,
      refused_total: this.opts.counters.busy,
    });
  }

  socketFailed(flow: Flow, err: Error): RstReason {
    // Sockets reach a Flow only once connected: a later failure is the target resetting.
    if (!this.connected.has(flow.socket)) this.opts.log.warn('target_socket_error', { flow: flow.id, connector: flow.connector, code: (err as NodeJS.ErrnoException).code });
    return RstReason.PEER_RESET;
  }

  protected override teardown(): void {
    for (const [id, pending] of [...this.pending]) this.cancelPending(id, pending);
    this.health?.stop();
    super.teardown();
  }

  protected override onFlowClosed(flow: Flow): void {
    const slot = this.flowSlots.get(flow.id);
    if (slot !== undefined) {
      slot.active--;
      this.flowSlots.delete(flow.id);
    }
    if (this.connected.has(flow.socket)) {
      this.opts.log.info('connection_closed', { flow: flow.id, connector: flow.connector, bytes_c2a: flow.bytesIn, bytes_a2c: flow.bytesOut, end: flow.end });
    }
    this.closeIfGoneAway();
  }

  /** After GOAWAY: close once no flow is open and no target is being dialled. */
  private closeIfGoneAway(): void {
    if (this.goingAway && !this.closed && this.flows.size === 0 && this.pending.size === 0) {
      this.transport.flush(); // the last FIN/RST before the close frame
      this.ws.close(1000, 'goaway: flows finished');
    }
  }

  private onGoaway(frame: Frame): void {
    if (this.goingAway) return;
    this.goingAway = true;
    const reason = decodeGoaway(frame.payload).reason;
    this.opts.log.info('hub_goaway', { hub: this.opts.hubUrl, reason, flows: this.flows.size });
    this.goawayReceived(reason);
    if (this.flows.size === 0 && this.pending.size === 0) {
      this.transport.flush();
      this.ws.close(1000, 'goaway');
    }
  }

  /** Agent shutdown: tell the hub, then close. */
  shutdown(): void {
    this.refresher?.stop();
    if (this.closed) return;
    if (this.established) this.transport.send(encodeControl(FrameType.GOAWAY, { reason: 'agent shutting down' }));
    this.teardown();
    this.ws.close(1001, 'agent shutting down');
  }

  protected protocolError(err: FrameError): void {
    this.opts.log.warn('tunnel_protocol_error', { hub: this.opts.hubUrl, code: err.code, detail: err.message });
    this.teardown();
    this.ws.close(1002, err.code);
  }

  /** The hub leaves replies unread (a PING or ws-ping flood that never reads): close, count, log, redial. */
  protected slowConsumer(queuedBytes: number, capBytes: number): void {
    this.opts.counters.slowConsumer++;
    this.opts.log.warn('tunnel_slow_consumer', {
      hub: this.opts.hubUrl,
      reason: 'slow_consumer',
      queued_bytes: queuedBytes,
      cap_bytes: capBytes,
      slow_consumer_total: this.opts.counters.slowConsumer,
    });
    this.dead = true;
    this.teardown();
    this.ws.terminate();
  }

  protected deadPeer(): void {
    this.opts.log.warn('cloud_dead', { hub: this.opts.hubUrl });
    this.dead = true;
    this.teardown();
    this.ws.terminate();
  }
}
