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
import { DEFAULT_TUNNEL_WINDOW_BYTES, INITIAL_FLOW_WINDOW_BYTES, WindowBudget } from './window-budget';
import { WsFrameReader, type WsPayloadSink } from './ws-frame-reader';

export interface MuxOptions {
  readonly maxFrameBytes: number;
  /** Per-flow receive window, both directions (the hub announces it in HELLO_ACK). */
  readonly flowWindowBytes: number;
  readonly keepaliveMs: number;
  readonly metrics: FlowMetrics;
  /**
   * Per-tunnel cap on receive-window growth (see WindowBudget); default
   * DEFAULT_TUNNEL_WINDOW_BYTES. Proposed config key: limits.tunnel_window_bytes.
   */
  readonly tunnelWindowBytes?: number;
}

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

  private readonly handlers = new Map<FrameType, FrameHandler>();
  /** Decodes the messages a WsFrameReader streams off the socket (see readFramesFrom). */
  private readonly stream: MessageStreamDecoder;
  private readonly drainWaiters = new Set<Flow>();
  private lastSeen = Date.now();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private keepaliveMs: number;

  protected constructor(
    readonly transport: FrameTransport,
    protected readonly options: MuxOptions,
  ) {
    this.metrics = options.metrics;
    this.maxDataPayload = options.maxFrameBytes - HEADER_BYTES;
    this.maxFrameBytes = options.maxFrameBytes;
    this.flowWindowBytes = options.flowWindowBytes;
    this.keepaliveMs = options.keepaliveMs;
    this.windowBudget = new WindowBudget(options.tunnelWindowBytes ?? DEFAULT_TUNNEL_WINDOW_BYTES);
    transport.maxMessageBytes = options.maxFrameBytes;
    this.stream = new MessageStreamDecoder(options.maxFrameBytes, { frame: this.dispatch, data: this.dispatchData });
    // DATA, WINDOW_UPDATE, FIN and RST are dispatched inline by `dispatch` (no handler lookup,
    // no closure per frame); the table holds the rest.
    this.handlers.set(FrameType.PING, (f) => this.transport.send(encodePing(FrameType.PONG, f.payload)));
    this.handlers.set(FrameType.PONG, (f) => this.onPong(f.payload));
    transport.onDrain(() => this.onTransportDrain());
  }

  /** Adopts the limits the hub announced (agent side, after HELLO_ACK); applies to flows opened afterwards. */
  protected configure(limits: { flowWindowBytes: number; maxFrameBytes: number; keepaliveMs: number }): void {
    this.flowWindowBytes = limits.flowWindowBytes;
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
    WsFrameReader.attach(ws, socket, this, server);
  }

  // ---- WsPayloadSink ------------------------------------------------------

  wsPayload(bytes: Buffer): void {
    if (this.closed) return;
    this.lastSeen = Date.now();
    const err = this.stream.push(bytes);
    if (err !== null && !this.closed) this.protocolError(err);
  }

  wsMessageEnd(): void {
    if (this.closed) return;
    const err = this.stream.endMessage();
    if (err !== null && !this.closed) this.protocolError(err);
  }

  wsProtocolError(code: string, message: string): void {
    if (this.closed) return;
    const frameCode = code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? FrameErrorCode.FRAME_TOO_LARGE : FrameErrorCode.UNEXPECTED_FRAME;
    this.protocolError(new FrameError(frameCode, message, 0));
  }

  /** Feeds one WebSocket message. Never throws. */
  handleMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    this.lastSeen = Date.now();
    if (!isBinary) {
      this.protocolError(new FrameError(FrameErrorCode.NOT_BINARY, 'text message on a binary tunnel', 0));
      return;
    }
    const err = decodeFrames(data, this.maxFrameBytes, this.dispatch);
    if (err !== null && !this.closed) this.protocolError(err);
  }

  private readonly dispatch = (frame: Frame): void => {
    if (this.closed) return;
    const type = frame.type;
    if (type === FrameType.DATA || type === FrameType.WINDOW_UPDATE || type === FrameType.FIN || type === FrameType.RST) {
      const flow = this.flows.get(frame.flowId);
      if (flow === undefined) {
        if (!this.onFrameForPendingFlow(type, frame.flowId, frame.payload)) this.unknownFlowFrames++;
      } else if (type === FrameType.DATA) {
        flow.onRemoteData(frame.payload);
      } else if (type === FrameType.WINDOW_UPDATE) {
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
   * min(flow_window_bytes, INITIAL_FLOW_WINDOW_BYTES) each way; the receiver grows the
   * window of a bulk flow up to flow_window_bytes within the tunnel's budget.
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
      maxRecvWindow: this.flowWindowBytes,
      budget: this.windowBudget,
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

  protected startKeepalive(): void {
    this.stopKeepalive();
    this.lastSeen = Date.now();
    this.keepaliveTimer = setInterval(() => this.keepaliveTick(), this.keepaliveMs);
    this.keepaliveTimer.unref();
  }

  protected stopKeepalive(): void {
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }

  private keepaliveTick(): void {
    if (this.closed) return;
    if (Date.now() - this.lastSeen > 3 * this.keepaliveMs) {
      this.deadPeer();
      return;
    }
    const opaque = Buffer.allocUnsafe(8);
    opaque.writeDoubleBE(performance.now(), 0);
    this.transport.send(encodePing(FrameType.PING, opaque));
  }

  private onPong(payload: Buffer): void {
    const sentAt = payload.readDoubleBE(0);
    const rtt = performance.now() - sentAt;
    if (Number.isFinite(rtt) && rtt >= 0 && rtt < 3_600_000) this.onRtt(rtt / 1000);
  }

  protected onRtt(_seconds: number): void {}

  /** The peer sent something that is not our protocol: close the link. */
  protected abstract protocolError(err: FrameError): void;

  /** The peer has been silent for three keepalive intervals. */
  protected abstract deadPeer(): void;

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
