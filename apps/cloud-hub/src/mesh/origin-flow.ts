import type { Socket } from 'node:net';
import { MeshRstReason } from '@nowconnect/frames';
import { resetSocket } from '@nowconnect/flow';
import type { MeshEndpoint, MeshFlowLink } from './mesh-flow-stream';

export interface OriginFlowHooks {
  bytesOut(n: number): void;
  bytesIn(n: number): void;
  /** FIN/RST frames sent to / received from the mesh (SPEC §7 counters). */
  finSent(): void;
  finRecv(): void;
  rstSent(): void;
  rstRecv(): void;
  /** The flow is over and the client socket closed (or handed to another holder: end `rerouted`). */
  closed(flow: OriginFlow, end: string): void;
  /**
   * The flow was reset before `M_OPEN_ACK`, so not one client byte has left this hub (the socket stays
   * paused until the ack): the caller may open the same client socket towards another holder of the
   * agent. True when it did (this flow then lets go of the socket without touching it).
   */
  reroute?(reason: MeshRstReason): boolean;
}

/**
 * Origin side of a cross-replica flow: the client's TCP socket, carried over a
 * mesh link to the owner hub. Client bytes go out as M_DATA within the flow's
 * mesh credit (the socket pauses when the link takes no more); bytes from the
 * owner are written to the client, and mesh credit is returned only once the
 * socket flushed them — a slow client holds at most one window here.
 */
export class OriginFlow implements MeshEndpoint {
  readonly startedAt = Date.now();
  bytesOut = 0;
  bytesIn = 0;
  private held: Buffer | null = null;
  private localEnded = false;
  private finSent = false;
  private finRecv = false;
  private over = false;
  private socketClosed = false;
  private reported = false;
  private acked = false;
  end: string | undefined;
  private readonly onData = (chunk: Buffer): void => this.onSocketData(chunk);
  private readonly onEnd = (): void => this.onSocketEnd();
  private readonly onError = (): void => this.onSocketError();
  private readonly onClose = (hadError: boolean): void => this.onSocketClose(hadError);

  constructor(
    private readonly link: MeshFlowLink,
    readonly cid: number,
    private readonly socket: Socket,
    private readonly hooks: OriginFlowHooks,
  ) {}

  start(): void {
    const s = this.socket;
    s.on('data', this.onData);
    s.on('end', this.onEnd);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    // Nothing can be sent before M_OPEN_ACK: read once the owner accepted.
    s.pause();
  }

  // ---- client -> mesh ---------------------------------------------------

  private onSocketData(chunk: Buffer): void {
    if (this.over) return;
    if (this.held !== null) {
      this.held = Buffer.concat([this.held, chunk]);
      return;
    }
    this.pump(chunk);
  }

  private pump(chunk: Buffer): void {
    const n = this.link.sendData(this.cid, chunk);
    if (n > 0) {
      this.bytesOut += n;
      this.hooks.bytesOut(n);
    }
    if (n < chunk.length) {
      this.held = n === 0 ? chunk : chunk.subarray(n);
      this.socket.pause();
    }
  }

  private onSocketEnd(): void {
    if (this.over) return;
    this.localEnded = true;
    if (this.held === null) this.sendFin();
  }

  private sendFin(): void {
    if (this.finSent || this.over) return;
    this.finSent = true;
    this.link.finFlow(this.cid);
    this.hooks.finSent();
    if (this.finRecv) this.finish('fin');
  }

  openAck(): void {
    this.acked = true;
    this.writable();
  }

  writable(): void {
    if (this.over) return;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.pump(held);
      if (this.held !== null) return;
    }
    if (this.localEnded) this.sendFin();
    else this.socket.resume();
  }

  // ---- mesh -> client ---------------------------------------------------

  data(payload: Buffer): void {
    if (this.over) return;
    const n = payload.length;
    this.bytesIn += n;
    this.hooks.bytesIn(n);
    this.socket.write(payload, (err) => {
      if (!err) this.link.consumed(this.cid, n);
    });
  }

  fin(): void {
    if (this.over) return;
    this.finRecv = true;
    this.hooks.finRecv();
    this.socket.end();
    if (this.finSent) this.finish('fin');
  }

  reset(reason: MeshRstReason): void {
    if (this.over) return;
    this.hooks.rstRecv();
    if (this.tryReroute(reason)) return;
    this.finish('rst_recv');
    resetSocket(this.socket);
  }

  // ---- ending -----------------------------------------------------------

  /**
   * Before M_OPEN_ACK nothing was read from the client (paused) and nothing written to it: the socket
   * can move to another holder intact. Only while the client has not half-closed (a FIN seen while
   * paused would be lost with the listeners) and the socket is open.
   */
  private tryReroute(reason: MeshRstReason): boolean {
    if (this.acked || this.localEnded || this.bytesOut > 0 || this.bytesIn > 0 || this.socket.destroyed) return false;
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    if (this.hooks.reroute?.(reason) !== true) {
      s.on('data', this.onData);
      s.on('end', this.onEnd);
      s.on('error', this.onError);
      s.on('close', this.onClose);
      return false;
    }
    this.finish('rerouted');
    this.socketClosed = true; // no longer ours: report now
    this.report();
    return true;
  }

  /** Resets the flow: M_RST to the owner and a TCP reset to the client. */
  resetFlow(reason: MeshRstReason): void {
    if (this.over) return;
    this.link.resetFlow(this.cid, reason);
    this.hooks.rstSent();
    this.finish('rst_sent');
    resetSocket(this.socket);
  }

  private onSocketError(): void {
    this.resetFlow(MeshRstReason.PEER_RESET);
  }

  private onSocketClose(hadError: boolean): void {
    this.socketClosed = true;
    const flushing = !hadError && this.localEnded && this.finRecv && this.held !== null;
    if (!this.over && !flushing) this.resetFlow(MeshRstReason.PEER_RESET);
    this.report();
  }

  private finish(end: string): void {
    if (this.over) return;
    this.over = true;
    this.end = end;
    this.held = null;
    this.report();
  }

  private report(): void {
    if (this.reported || !this.over || !this.socketClosed) return;
    this.reported = true;
    this.hooks.closed(this, this.end ?? 'unknown');
  }
}
