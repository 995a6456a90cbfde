import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import {
  decodeFrames,
  decodeRstReason,
  decodeWindowIncrement,
  encodePing,
  Frame,
  FrameError,
  FrameErrorCode,
  FrameType,
  frameTypeName,
  HEADER_BYTES,
  MessageStreamDecoder,
  RstReason,
} from '@nowconnect/frames';
import { Flow, FlowHost } from './flow';
import type { FlowMetrics } from './flow-metrics';
import type { FrameTransport } from './frame-transport';
import { IDLE_SWEEP_MS, MONOTONIC_CLOCK, RttEstimator } from './receive-window';
import {
  DEFAULT_MAX_FLOW_WINDOW_BYTES,
  DEFAULT_TUNNEL_WINDOW_BYTES,
  INITIAL_FLOW_WINDOW_BYTES,
  PROCESS_WINDOW_BUDGET,
  WindowBudget,
} from './window-budget';
import { WsFrameReader, type WsPayloadSink } from './ws-frame-reader';

export interface MuxOptions {
  readonly maxFrameBytes: number;
  /**
   * Per-flow initial receive window, both directions (the hub announces it in HELLO_ACK;
   * flows start at min(this, INITIAL_FLOW_WINDOW_BYTES)).
   */
  readonly flowWindowBytes: number;
  /**
   * Ceiling of one flow's auto-tuned receive window (limits.max_flow_window_bytes); default
   * DEFAULT_MAX_FLOW_WINDOW_BYTES. Never below flowWindowBytes.
   */
  readonly maxFlowWindowBytes?: number;
  readonly keepaliveMs: number;
  readonly metrics: FlowMetrics;
  /**
   * Per-tunnel cap on receive-window growth (see WindowBudget); default
   * DEFAULT_TUNNEL_WINDOW_BYTES (limits.tunnel_window_bytes).
   */
  readonly tunnelWindowBytes?: number;
  /** The budget the tunnel's budget takes from (default: PROCESS_WINDOW_BUDGET). */
  readonly processBudget?: WindowBudget;
  /** Sets the cap of PROCESS_WINDOW_BUDGET (limits.process_window_bytes), when the process has that config. */
  readonly processWindowBytes?: number;
  /**
   * Unread backlog towards the peer (transport.queuedBytes) above which the peer is a slow
   * consumer and the link is closed (slowConsumer()); default DEFAULT_SLOW_CONSUMER_BYTES.
   * DATA never queues much past the transport's high-water mark (flows pause at it); what can
   * pass this cap is replies the peer provokes and never reads (PONG to PING floods, ws pongs).
   */
  readonly slowConsumerBytes?: number;
}

/** WebSocket OPEN (ws.OPEN), without importing ws at run time. */
const WS_OPEN = 1;

export const DEFAULT_SLOW_CONSUMER_BYTES = 8 * 1024 * 1024;
/**
 * What one WebSocket pong that ws queued on the socket costs in memory (a write request of a few
 * bytes): counted against slowConsumerBytes until the socket's queue is empty again.
 */
export const WS_PONG_COST_BYTES = 256;
/** Keepalive PINGs remembered until their PONG (the peer is dead after 3 unanswered intervals). */
const MAX_PINGS_OUT = 4;

type FrameHandler = (frame: Frame) => void;

/**
 * The multiplexing core shared by the hub's and the agent's end of a tunnel:
 * decodes messages, dispatches frames through a table keyed by type, keeps the
 * flow table, relays transport drain to paused flows, and runs the keepalive.
 * Roles (hub, agent) register handlers for the frames only they accept.
 */
export abstract class MuxSession implements FlowHost, WsPayloadSink {
  readonly flows = new Map<number, Flow>();
  readonly metrics: FlowMetrics;
  maxDataPayload: number;
  protected flowWindowBytes: number;
  protected maxFrameBytes: number;
  protected closed = false;
  /** Frames for flows that no longer exist (normal right after a reset); counted, ignored. */
  unknownFlowFrames = 0;
  /** The tunnel's budget for receive-window growth, shared by its flows. */
  readonly windowBudget: WindowBudget;
  /** The tunnel's round trip (PING/PONG), which sizes the flows' receive windows. */
  readonly rtt: RttEstimator;
  private maxFlowWindowBytes: number;

  private readonly handlers = new Map<FrameType, FrameHandler>();
  /** Decodes the messages a WsFrameReader streams off the socket (see readFramesFrom). */
  private readonly stream: MessageStreamDecoder;
  private readonly drainWaiters = new Set<Flow>();
  /**
   * Last proof of the peer's progress: a PONG to one of our PINGs (it read everything we sent
   * before it), a WINDOW_UPDATE or DATA for a live flow. A PING, a ws ping or any other frame
   * does not count: a peer that only sends and never reads is judged dead.
   */
  private lastSeen = Date.now();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** Gives idle flows' window growth back (Flow.sweepIdle), every IDLE_SWEEP_MS while the tunnel's budget is in use. */
  private idleSweepTimer: NodeJS.Timeout | undefined;
  private keepaliveMs: number;
  /** Opaque values of the keepalive PINGs not answered yet, oldest first. */
  private readonly pingsOut: number[] = [];
  private readonly slowConsumerBytes: number;
  /** WebSocket pongs queued since the socket's queue was last empty. */
  private wsPongsQueued = 0;
  /** The WebSocket this session reads (readFramesFrom), for answering WebSocket pings. */
  private pingWs: WebSocket | undefined;
  /** Payload of the most recent WebSocket ping not answered yet (answered once per event-loop turn). */
  private wsPingPayload: Buffer | undefined;

  protected constructor(
    readonly transport: FrameTransport,
    protected readonly options: MuxOptions,
  ) {
    this.metrics = options.metrics;
    this.maxDataPayload = options.maxFrameBytes - HEADER_BYTES;
    this.maxFrameBytes = options.maxFrameBytes;
    this.flowWindowBytes = options.flowWindowBytes;
    this.keepaliveMs = options.keepaliveMs;
    this.maxFlowWindowBytes = options.maxFlowWindowBytes ?? DEFAULT_MAX_FLOW_WINDOW_BYTES;
    if (options.processWindowBytes !== undefined) PROCESS_WINDOW_BUDGET.resize(options.processWindowBytes);
    this.windowBudget = new WindowBudget(options.tunnelWindowBytes ?? DEFAULT_TUNNEL_WINDOW_BYTES, options.processBudget ?? PROCESS_WINDOW_BUDGET);
    this.rtt = new RttEstimator(() => this.sendPing(), MONOTONIC_CLOCK);
    this.slowConsumerBytes = options.slowConsumerBytes ?? DEFAULT_SLOW_CONSUMER_BYTES;
    transport.maxMessageBytes = options.maxFrameBytes;
    this.stream = new MessageStreamDecoder(options.maxFrameBytes, { frame: this.dispatch, data: this.dispatchData });
    // DATA, WINDOW_UPDATE, FIN and RST are dispatched inline by `dispatch` (no handler lookup,
    // no closure per frame); the table holds the rest.
    this.handlers.set(FrameType.PING, (f) => this.onPing(f.payload));
    this.handlers.set(FrameType.PONG, (f) => this.onPong(f.payload));
    transport.onDrain(() => this.onTransportDrain());
  }

  /** Adopts the limits the hub announced (agent side, after HELLO_ACK); applies to flows opened afterwards. */
  protected configure(limits: { flowWindowBytes: number; maxFrameBytes: number; keepaliveMs: number; maxFlowWindowBytes?: number }): void {
    this.flowWindowBytes = limits.flowWindowBytes;
    if (limits.maxFlowWindowBytes !== undefined) this.maxFlowWindowBytes = limits.maxFlowWindowBytes;
    this.maxFrameBytes = limits.maxFrameBytes;
    this.maxDataPayload = limits.maxFrameBytes - HEADER_BYTES;
    this.keepaliveMs = limits.keepaliveMs;
    this.transport.maxMessageBytes = limits.maxFrameBytes;
    this.stream.maxFrameBytes = limits.maxFrameBytes;
  }

  /** Registers (or replaces) the handler for one frame type. */
  protected handle(type: FrameType, handler: FrameHandler): void {
    this.handlers.set(type, handler);
  }

  protected unhandle(type: FrameType): void {
    this.handlers.delete(type);
  }

  /**
   * Reads this tunnel's frames straight off the socket instead of from ws 'message'
   * events: no per-message reassembly copy, DATA payload written on as views of the
   * socket's reads. Where ws cannot be bypassed safely, its 'message' events go on
   * feeding handleMessage. `server`: this end accepted the WebSocket.
   */
  protected readFramesFrom(ws: WebSocket, socket: Socket, server: boolean): void {
    this.pingWs = ws;
    WsFrameReader.attach(ws, socket, this, server);
    // Where ws reads (no WsFrameReader), ws answers WebSocket pings itself: the same cap.
    ws.on('ping', () => {
      this.wsPongsQueued++;
      this.checkBacklog();
    });
  }

  // ---- WsPayloadSink ------------------------------------------------------

  wsPayload(bytes: Buffer): void {
    if (this.closed) return;
    const err = this.stream.push(bytes);
    if (err !== null && !this.closed) this.protocolError(err);
  }

  wsMessageEnd(): void {
    if (this.closed) return;
    const err = this.stream.endMessage();
    if (err !== null && !this.closed) this.protocolError(err);
    this.checkBacklog();
  }

  wsProtocolError(code: string, message: string): void {
    if (this.closed) return;
    const frameCode = code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? FrameErrorCode.FRAME_TOO_LARGE : FrameErrorCode.UNEXPECTED_FRAME;
    this.protocolError(new FrameError(frameCode, message, 0));
  }

  /** Feeds one WebSocket message. Never throws. */
  handleMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) {
      this.protocolError(new FrameError(FrameErrorCode.NOT_BINARY, 'text message on a binary tunnel', 0));
      return;
    }
    const err = decodeFrames(data, this.maxFrameBytes, this.dispatch);
    if (err !== null && !this.closed) this.protocolError(err);
    this.checkBacklog();
  }

  /**
   * A WebSocket ping (WsFrameReader): answered with one pong per event-loop turn, carrying the
   * most recent ping's payload (RFC 6455 5.5.3); the pong counts against slowConsumerBytes.
   */
  wsPing(payload: Buffer): void {
    if (this.closed) return;
    const pending = this.wsPingPayload !== undefined;
    this.wsPingPayload = payload;
    if (!pending) setImmediate(this.answerWsPing);
  }

  private readonly answerWsPing = (): void => {
    const payload = this.wsPingPayload;
    this.wsPingPayload = undefined;
    const ws = this.pingWs;
    if (this.closed || payload === undefined || ws === undefined || ws.readyState !== WS_OPEN) return;
    this.checkBacklog();
    if (this.closed) return;
    this.wsPongsQueued++;
    ws.pong(payload);
  };

  /** Closes the link (slowConsumer) once the peer's unread backlog passes slowConsumerBytes. */
  protected checkBacklog(): void {
    if (this.closed) return;
    const queued = this.transport.queuedBytes;
    if (queued === 0) this.wsPongsQueued = 0;
    const backlog = queued + this.wsPongsQueued * WS_PONG_COST_BYTES;
    if (backlog > this.slowConsumerBytes) this.slowConsumer(backlog, this.slowConsumerBytes);
  }

  private onPing(payload: Buffer): void {
    // Not answered past the cap: the link is closed at the end of this message anyway.
    if (this.transport.queuedBytes > this.slowConsumerBytes) return;
    this.transport.send(encodePing(FrameType.PONG, payload));
  }

  private readonly dispatch = (frame: Frame): void => {
    if (this.closed) return;
    const type = frame.type;
    if (type === FrameType.DATA || type === FrameType.WINDOW_UPDATE || type === FrameType.FIN || type === FrameType.RST) {
      const flow = this.flows.get(frame.flowId);
      if (flow === undefined) {
        if (!this.onFrameForPendingFlow(type, frame.flowId, frame.payload)) this.unknownFlowFrames++;
      } else if (type === FrameType.DATA) {
        this.lastSeen = Date.now();
        flow.onRemoteData(frame.payload);
      } else if (type === FrameType.WINDOW_UPDATE) {
        this.lastSeen = Date.now();
        flow.onWindowUpdate(decodeWindowIncrement(frame.payload));
      } else if (type === FrameType.FIN) {
        flow.onRemoteFin();
      } else {
        this.onFlowRst(flow, decodeRstReason(frame.payload));
      }
      return;
    }
    const handler = this.handlers.get(type);
    if (handler === undefined) {
      this.protocolError(new FrameError(FrameErrorCode.UNEXPECTED_FRAME, `unexpected ${frameTypeName(frame.type)} frame`, 0));
      return;
    }
    handler(frame);
  };

  /** A piece of a DATA frame's payload (see MessageStreamDecoder). */
  private readonly dispatchData = (flowId: number, piece: Buffer, first: boolean): void => {
    if (this.closed) return;
    const flow = this.flows.get(flowId);
    if (flow === undefined) {
      if (!this.onFrameForPendingFlow(FrameType.DATA, flowId, piece) && first) this.unknownFlowFrames++;
      return;
    }
    this.lastSeen = Date.now();
    flow.onRemoteData(piece);
  };

  /**
   * A DATA (or a piece of one), WINDOW_UPDATE, FIN or RST for a flow id with no Flow yet. A role
   * that creates its Flow only after some work (the agent dials its target first) takes these
   * here and returns true; `payload` is a view of a reused buffer, copy what you keep.
   * Default: not ours (the frame is counted as for an unknown flow and dropped).
   */
  protected onFrameForPendingFlow(_type: FrameType, _flowId: number, _payload: Buffer): boolean {
    return false;
  }

  protected onFlowRst(flow: Flow, _reason: RstReason): void {
    flow.onRemoteRst();
  }

  /**
   * Creates, registers and starts a flow for a socket. Both ends start every flow at
   * min(flow_window_bytes, INITIAL_FLOW_WINDOW_BYTES) each way (the wire contract); the
   * receiver alone auto-tunes its window from the tunnel's round trip and the flow's drain
   * rate, up to max(flow_window_bytes, max_flow_window_bytes), within the tunnel's budget.
   */
  protected addFlow(id: number, connector: string, socket: Socket, metrics?: FlowMetrics): Flow {
    const initial = Math.min(this.flowWindowBytes, INITIAL_FLOW_WINDOW_BYTES);
    const flow = new Flow(this, {
      id,
      connector,
      socket,
      metrics,
      sendWindow: initial,
      recvWindow: initial,
      maxRecvWindow: Math.max(this.flowWindowBytes, this.maxFlowWindowBytes),
      budget: this.windowBudget,
      rtt: this.rtt,
    });
    this.flows.set(id, flow);
    flow.start();
    return flow;
  }

  // ---- FlowHost -----------------------------------------------------------

  waitForDrain(flow: Flow): void {
    this.drainWaiters.add(flow);
  }

  abstract socketFailed(flow: Flow, err: Error): RstReason;

  flowClosed(flow: Flow): void {
    if (this.flows.get(flow.id) === flow) this.flows.delete(flow.id);
    this.drainWaiters.delete(flow);
    this.onFlowClosed(flow);
  }

  protected onFlowClosed(_flow: Flow): void {}

  private onTransportDrain(): void {
    if (this.closed) return;
    for (const flow of this.drainWaiters) {
      if (this.transport.congested) return;
      this.drainWaiters.delete(flow);
      flow.resumeSending();
    }
  }

  // ---- keepalive ----------------------------------------------------------

  /** Starts the keepalive, with a first PING at once: flows get a round trip to size windows within one RTT. */
  protected startKeepalive(): void {
    this.stopKeepalive();
    this.lastSeen = Date.now();
    this.pingsOut.length = 0;
    this.keepaliveTimer = setInterval(() => this.keepaliveTick(), this.keepaliveMs);
    this.keepaliveTimer.unref();
    this.idleSweepTimer = setInterval(() => this.sweepIdleWindows(), IDLE_SWEEP_MS);
    this.idleSweepTimer.unref();
    this.rtt.rttMs();
  }

  protected stopKeepalive(): void {
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    if (this.idleSweepTimer !== undefined) clearInterval(this.idleSweepTimer);
    this.idleSweepTimer = undefined;
  }

  /** A flow that went silent grants nothing, so only a sweep can take its grown window back. */
  private sweepIdleWindows(): void {
    if (this.closed || this.windowBudget.inUse === 0) return;
    for (const flow of this.flows.values()) flow.sweepIdle();
  }

  private keepaliveTick(): void {
    if (this.closed) return;
    if (Date.now() - this.lastSeen > 3 * this.keepaliveMs) {
      this.deadPeer();
      return;
    }
    this.sendPing();
  }

  /** A keepalive PING, or a probe for a fresh round trip (RttEstimator). */
  private sendPing(): void {
    if (this.closed) return;
    const opaque = Buffer.allocUnsafe(8);
    const sentAt = performance.now();
    opaque.writeDoubleBE(sentAt, 0);
    if (this.pingsOut.push(sentAt) > MAX_PINGS_OUT) this.pingsOut.shift();
    this.transport.send(encodePing(FrameType.PING, opaque));
  }

  private onPong(payload: Buffer): void {
    if (payload.length < 8) return;
    const sentAt = payload.readDoubleBE(0);
    const answered = this.pingsOut.indexOf(sentAt);
    if (answered >= 0) {
      // The peer read everything up to that PING: progress. Older PINGs are answered too.
      this.pingsOut.splice(0, answered + 1);
      this.lastSeen = Date.now();
    }
    const rtt = performance.now() - sentAt;
    if (!(Number.isFinite(rtt) && rtt >= 0 && rtt < 3_600_000)) return;
    this.rtt.sample(rtt);
    this.onRtt(rtt / 1000);
  }

  protected onRtt(_seconds: number): void {}

  /** The peer sent something that is not our protocol: close the link. */
  protected abstract protocolError(err: FrameError): void;

  /** The peer has shown no progress (see lastSeen) for three keepalive intervals. */
  protected abstract deadPeer(): void;

  /**
   * The peer left more than `capBytes` unread (`queuedBytes`): close the link with reason
   * `slow_consumer`, a counter and a log line.
   */
  protected abstract slowConsumer(queuedBytes: number, capBytes: number): void;

  /** The transport is gone: stop timers and reset every local socket. */
  protected teardown(): void {
    if (this.closed) return;
    // Frames already batched (FIN, RST, DATA) go out before the roles close the link.
    this.transport.flush();
    this.closed = true;
    this.stopKeepalive();
    this.drainWaiters.clear();
    for (const flow of [...this.flows.values()]) flow.abandon();
  }
}
