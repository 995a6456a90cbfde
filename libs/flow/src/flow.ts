import type { Socket } from 'node:net';
import { encodeFin, encodeRst, encodeWindowUpdate, RstReason } from '@nowconnect/frames';
import { FlowEvent, FlowState, transition } from './flow-state';
import type { FlowMetrics } from './flow-metrics';
import type { FrameTransport } from './frame-transport';
import type { WindowBudget } from './window-budget';
import { Clock, MONOTONIC_CLOCK, ReceiveWindow, RttSource } from './receive-window';
import { resetSocket } from './reset-socket';

/** What a flow needs from the session that owns it. */
export interface FlowHost {
  readonly transport: FrameTransport;
  readonly metrics: FlowMetrics;
  /** Largest DATA payload per frame (max_frame_bytes minus the header). */
  readonly maxDataPayload: number;
  /** The transport is congested: call `flow.resumeSending()` when it drains. */
  waitForDrain(flow: Flow): void;
  /** The socket failed; the host logs it and names the RST reason sent to the peer. */
  socketFailed(flow: Flow, err: Error): RstReason;
  /** The flow is over and its socket closed: forget it. */
  flowClosed(flow: Flow): void;
}

export interface FlowInit {
  readonly id: number;
  readonly connector: string;
  readonly socket: Socket;
  /** The peer's receive window: how many bytes we may send before a WINDOW_UPDATE. */
  readonly sendWindow: number;
  /** Our receive window: how many bytes the peer may send us before we grant more. */
  readonly recvWindow: number;
  /**
   * How far the receive window may grow for a bulk flow (default: recvWindow, no growth);
   * growth is taken from `budget`, the tunnel's cap, and sized from `rtt` (see ReceiveWindow).
   */
  readonly maxRecvWindow?: number;
  readonly budget?: WindowBudget;
  /** The tunnel's round trip; without it the window does not grow. */
  readonly rtt?: RttSource;
  /** Monotonic ms clock for window tuning (default performance.now). */
  readonly clock?: Clock;
  /** This flow's counters (default: the host's). */
  readonly metrics?: FlowMetrics;
}

export type FlowEnd = 'fin' | 'rst_sent' | 'rst_recv' | 'transport_lost';

/**
 * One TCP socket carried as one flow. Sends what the socket reads as DATA
 * within the peer's credit (pausing the socket at zero credit or when the
 * transport is congested), and writes what the peer sends to the socket,
 * returning credit only as the socket actually flushes it — so a slow reader
 * holds at most one receive window of memory and never stalls other flows.
 */
export class Flow {
  readonly id: number;
  readonly connector: string;
  readonly socket: Socket;
  readonly startedAt = Date.now();
  state: FlowState = FlowState.OPEN;
  /** Peer confirmed the open (OPEN_ACK); meaningful on the opening side. */
  acked = false;
  bytesOut = 0;
  bytesIn = 0;
  end: FlowEnd | undefined;

  private credit: number;
  private readonly window: ReceiveWindow;
  private readonly metrics: FlowMetrics;
  private recvAvailable: number;
  /** Flushed to the socket, not yet granted back to the peer. */
  private consumed = 0;
  /** Bytes of DATA written to the socket, and how many of them were already counted as flushed. */
  private written = 0;
  private flushed = 0;
  /** One callback for every socket write (Node batches same-callback completions into one tick). */
  private readonly onWritten = (): void => this.countFlushed();
  private held: Buffer | null = null;
  private localEnded = false;
  private socketClosed = false;
  private finished = false;

  constructor(
    private readonly host: FlowHost,
    init: FlowInit,
  ) {
    this.id = init.id;
    this.connector = init.connector;
    this.socket = init.socket;
    this.credit = init.sendWindow;
    const max = Math.max(init.recvWindow, init.maxRecvWindow ?? init.recvWindow);
    this.window = new ReceiveWindow(init.recvWindow, max, init.budget, init.rtt, init.clock ?? MONOTONIC_CLOCK);
    this.metrics = init.metrics ?? host.metrics;
    this.recvAvailable = init.recvWindow;
  }

  /** Our current receive window (grows for a bulk flow, see ReceiveWindow). */
  get recvWindow(): number {
    return this.window.size;
  }

  /** Starts pumping the socket. */
  start(): void {
    const s = this.socket;
    s.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    s.on('end', () => this.onSocketEnd());
    s.on('error', (err) => this.onSocketError(err));
    s.on('close', (hadError: boolean) => this.onSocketClose(hadError));
  }

  // ---- socket -> tunnel -------------------------------------------------

  private onSocketData(chunk: Buffer): void {
    if (this.state === FlowState.CLOSED) return;
    if (this.held !== null) {
      this.held = Buffer.concat([this.held, chunk]);
      return;
    }
    this.pump(chunk);
  }

  private pump(chunk: Buffer): void {
    const { transport, maxDataPayload } = this.host;
    const metrics = this.metrics;
    let off = 0;
    while (off < chunk.length) {
      if (this.credit <= 0 || transport.congested) {
        this.held = off === 0 ? chunk : chunk.subarray(off);
        this.socket.pause();
        if (this.credit > 0) this.host.waitForDrain(this);
        return;
      }
      const n = Math.min(chunk.length - off, this.credit, maxDataPayload);
      // No copy: the transport writes the header and then this very chunk.
      transport.sendData(this.id, off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n));
      this.credit -= n;
      this.bytesOut += n;
      metrics.bytesOut(this.connector, n);
      off += n;
    }
  }

  /** More credit, or the transport drained: send what is held, then read again. */
  resumeSending(): void {
    if (this.state === FlowState.CLOSED) return;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.pump(held);
      if (this.held !== null) return;
    }
    if (this.localEnded) {
      if (this.state === FlowState.OPEN || this.state === FlowState.REMOTE_FIN) this.sendFin();
    } else {
      this.socket.resume();
    }
  }

  private onSocketEnd(): void {
    if (this.state === FlowState.CLOSED) return;
    this.localEnded = true;
    if (this.held === null) this.sendFin();
  }

  private sendFin(): void {
    const next = transition(this.state, FlowEvent.LOCAL_FIN);
    if (next === null) return;
    this.state = next;
    this.host.transport.send(encodeFin(this.id));
    this.metrics.finSent();
    if (next === FlowState.CLOSED) {
      this.end = 'fin';
      this.finishIfDone();
    }
  }

  // ---- tunnel -> socket -------------------------------------------------

  onRemoteData(payload: Buffer): void {
    const next = transition(this.state, FlowEvent.REMOTE_DATA);
    if (next === null) {
      this.reset(RstReason.PROTOCOL);
      return;
    }
    if (this.state === FlowState.CLOSED) return;
    const n = payload.length;
    if (n > this.recvAvailable) {
      this.reset(RstReason.FLOW_CONTROL);
      return;
    }
    this.recvAvailable -= n;
    this.bytesIn += n;
    this.metrics.bytesIn(this.connector, n);
    this.written += n;
    this.socket.write(payload, this.onWritten);
    this.countFlushed();
  }

  /**
   * Bytes the socket has handed to the kernel are consumed: the socket's own queue
   * (writableLength) says how many are still ours. Runs right after each write (a write
   * the kernel takes at once counts at once) and when each write completes.
   */
  private countFlushed(): void {
    if (this.state === FlowState.CLOSED || this.state === FlowState.REMOTE_FIN) return;
    const flushed = this.written - this.socket.writableLength;
    if (flushed <= this.flushed) return;
    this.consumed += flushed - this.flushed;
    this.flushed = flushed;
    // Like yamux: grant credit back only past half a window, so updates stay rare.
    if (this.consumed >= this.window.size / 2) this.grant();
  }

  /** Returns the consumed bytes as credit, growing the window of a bulk flow (or shrinking a slow one). */
  private grant(): void {
    const increment = this.window.grant(this.consumed);
    this.consumed = 0;
    if (increment <= 0) return;
    this.recvAvailable += increment;
    this.host.transport.send(encodeWindowUpdate(this.id, increment));
  }

  /**
   * Run by the session's idle sweep: a grown window with no grant for a while gives its growth back
   * (ReceiveWindow.shrinkIdle): the bytes consumed since the last grant are not granted, so the peer's
   * credit ends at the shrunk window. A flow that goes silent no longer holds its tunnel's budget.
   */
  sweepIdle(): void {
    if (this.state === FlowState.CLOSED || this.state === FlowState.REMOTE_FIN) return;
    const withheld = this.window.shrinkIdle(this.consumed);
    if (withheld <= 0) return;
    this.consumed -= withheld;
    if (this.consumed >= this.window.size / 2) this.grant();
  }

  onRemoteFin(): void {
    const next = transition(this.state, FlowEvent.REMOTE_FIN);
    if (next === null) {
      this.reset(RstReason.PROTOCOL);
      return;
    }
    if (this.state === FlowState.CLOSED) return;
    this.metrics.finRecv();
    this.state = next;
    if (next === FlowState.CLOSED) this.end = 'fin';
    this.socket.end();
  }

  onWindowUpdate(increment: number): void {
    if (this.state === FlowState.CLOSED) return;
    this.credit += increment;
    if (this.credit > 0x7fffffff) {
      this.reset(RstReason.FLOW_CONTROL);
      return;
    }
    if (this.held !== null || this.socket.isPaused()) this.resumeSending();
  }

  onRemoteRst(): void {
    if (this.state === FlowState.CLOSED) return;
    this.metrics.rstRecv();
    this.state = FlowState.CLOSED;
    this.end = 'rst_recv';
    resetSocket(this.socket);
    this.finishIfDone();
  }

  // ---- ending -----------------------------------------------------------

  /** Resets the flow: RST to the peer and a TCP reset to the local socket. */
  reset(reason: RstReason): void {
    if (this.state === FlowState.CLOSED) return;
    this.state = FlowState.CLOSED;
    this.end = 'rst_sent';
    this.host.transport.send(encodeRst(this.id, reason));
    this.metrics.rstSent();
    resetSocket(this.socket);
    this.finishIfDone();
  }

  /** The transport is gone: no frames can be sent; reset the local socket. */
  abandon(): void {
    if (this.state !== FlowState.CLOSED) {
      this.state = FlowState.CLOSED;
      this.end = 'transport_lost';
    }
    resetSocket(this.socket);
    this.finishIfDone();
  }

  private onSocketError(err: Error): void {
    if (this.state === FlowState.CLOSED) return;
    const reason = this.host.socketFailed(this, err);
    this.reset(reason);
  }

  private onSocketClose(hadError: boolean): void {
    this.socketClosed = true;
    // Both directions ended cleanly but data read before the end is still held
    // for want of credit: keep the flow until it is sent and FIN follows.
    const flushing = !hadError && this.localEnded && this.state === FlowState.REMOTE_FIN && this.held !== null;
    if (this.state !== FlowState.CLOSED && !flushing) this.reset(RstReason.PEER_RESET);
    this.finishIfDone();
  }

  private finishIfDone(): void {
    if (this.finished || !this.socketClosed || this.state !== FlowState.CLOSED) return;
    this.finished = true;
    this.held = null;
    this.window.release();
    this.host.flowClosed(this);
  }
}
