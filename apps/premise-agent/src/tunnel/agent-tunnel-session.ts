import { connect, type Socket } from 'node:net';
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
} from '@nowconnect/frames';
import { Flow, FlowState, MuxSession, NOOP_FLOW_METRICS, WsTransport } from '@nowconnect/flow';
import type { AgentLimitsConfig, HostPort } from '@nowconnect/ha-config';
import { formatHostPort } from '@nowconnect/ha-config';
import type { EventLog } from '@nowconnect/logging';
import { targetFailure } from './target-failure';
import { TokenRefresher, tokenExpiry } from './token-refresher';

export interface AgentSessionOptions {
  readonly agentId: string;
  readonly hubUrl: string;
  readonly targets: ReadonlyMap<string, HostPort>;
  readonly version: string;
  readonly log: EventLog;
  /** Until HELLO_ACK says otherwise. */
  readonly maxFrameBytes: number;
  readonly helloTimeoutMs: number;
  readonly targetConnectTimeoutMs: number;
  /** premise.yaml limits: over them an OPEN is answered RST AGENT_BUSY. */
  readonly limits: AgentLimitsConfig;
  /** The agent process's counters (kept across tunnels; no /metrics on the agent: each goes into its log line). */
  readonly counters: { busy: number; slowConsumer: number };
  /** The token this tunnel was opened with, and where a fresh one comes from (in-band re-authentication). */
  readonly token: string;
  readonly readToken: () => Promise<string>;
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
  /** Target dials not yet connected (limits.max_pending_connects). */
  private readonly dialing = new WeakSet<Socket>();
  private pendingConnects = 0;
  readonly ended: Promise<SessionEnd>;
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
      encodeControl(FrameType.HELLO, { agent_id: opts.agentId, connectors: [...opts.targets.keys()], version: opts.version }),
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
    this.opts.log.info('tunnel_established', {
      hub: this.opts.hubUrl,
      replica_id: ack.replica_id,
      ...(ack.epoch === undefined ? {} : { epoch: ack.epoch }),
      connectors: [...this.opts.targets.keys()],
      flow_window_bytes: ack.flow_window_bytes,
    });
  }

  private onOpen(frame: Frame): void {
    if (this.flows.has(frame.flowId)) {
      this.protocolError(new FrameError(FrameErrorCode.UNEXPECTED_FRAME, `OPEN for flow ${frame.flowId} already open`, 0));
      return;
    }
    const connector = decodeOpen(frame.payload);
    const target = connector instanceof FrameError ? undefined : this.opts.targets.get(connector);
    if (connector instanceof FrameError || target === undefined) {
      this.opts.log.warn('target_connect_failed', { flow: frame.flowId, connector: connector instanceof FrameError ? undefined : connector, reason: 'unknown_connector' });
      this.transport.send(encodeRst(frame.flowId, RstReason.UNKNOWN_CONNECTOR));
      return;
    }
    const limits = this.opts.limits;
    const busy =
      this.flows.size >= limits.maxFlows ? 'max_flows' : this.pendingConnects >= limits.maxPendingConnects ? 'max_pending_connects' : undefined;
    if (busy !== undefined) {
      this.refuseBusy(frame.flowId, connector, busy);
      return;
    }
    const sock = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    this.dialing.add(sock);
    this.pendingConnects++;
    sock.setTimeout(this.opts.targetConnectTimeoutMs, () => {
      if (!this.connected.has(sock)) sock.destroy(Object.assign(new Error('target connect timeout'), { code: 'ETIMEDOUT' }));
    });
    const flow = this.addFlow(frame.flowId, connector, sock);
    sock.once('connect', () => {
      this.connected.add(sock);
      if (this.dialing.delete(sock)) this.pendingConnects--;
      sock.setTimeout(0);
      if (flow.state === FlowState.CLOSED) return;
      flow.acked = true;
      this.transport.send(encodeOpenAck(flow.id));
      this.opts.log.info('connection_open', { flow: flow.id, connector, target: formatHostPort(target) });
    });
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
      pending_connects: this.pendingConnects,
      refused_total: this.opts.counters.busy,
    });
  }

  socketFailed(flow: Flow, err: Error): RstReason {
    if (this.connected.has(flow.socket)) return RstReason.PEER_RESET;
    const failure = targetFailure(err);
    const target = this.opts.targets.get(flow.connector);
    this.opts.log.warn('target_connect_failed', {
      flow: flow.id,
      connector: flow.connector,
      target: target === undefined ? undefined : formatHostPort(target),
      reason: failure.label,
    });
    return failure.rst;
  }

  protected override onFlowClosed(flow: Flow): void {
    if (this.dialing.delete(flow.socket)) this.pendingConnects--;
    if (this.connected.has(flow.socket)) {
      this.opts.log.info('connection_closed', { flow: flow.id, connector: flow.connector, bytes_c2a: flow.bytesIn, bytes_a2c: flow.bytesOut, end: flow.end });
    }
    if (this.goingAway && this.flows.size === 0) {
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
    if (this.flows.size === 0) {
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
