import { Duplex } from 'node:stream';
import { MeshRstReason } from '@nowconnect/frames';

/** What a mesh flow endpoint needs of its link (a MeshLink; narrowed for tests). */
export interface MeshFlowLink {
  sendData(cid: number, chunk: Buffer): number;
  consumed(cid: number, n: number): void;
  finFlow(cid: number): void;
  resetFlow(cid: number, reason: MeshRstReason): void;
}

/** The hub's per-flow handler of a link's events (MeshManager dispatches by cid). */
export interface MeshEndpoint {
  openAck(): void;
  data(payload: Buffer): void;
  fin(): void;
  reset(reason: MeshRstReason): void;
  writable(): void;
}

/** The peer reset the mesh flow (or the link was lost): the tunnel flow is reset in turn. */
export class MeshFlowResetError extends Error {
  constructor(readonly reason: MeshRstReason) {
    super(`mesh flow reset (${MeshRstReason[reason] ?? reason})`);
    this.name = 'MeshFlowResetError';
  }
}

/**
 * Owner side of a cross-replica flow: the stream a tunnel Flow (libs/flow) uses
 * as its "socket". Readable = bytes from the origin hub (M_DATA views, no copy),
 * Writable = bytes from the agent, sent as M_DATA.
 *
 * Backpressure, end to end:
 * - agent -> origin: `_write` completes only once the mesh link took the whole
 *   chunk (per-flow mesh credit and the link's writer queue); until then the
 *   Flow's write callback does not run, so no tunnel credit goes back to the agent.
 * - origin -> agent: mesh credit (`consumed`) is returned only for bytes the Flow
 *   accepted: a chunk handed over while the Flow stays flowing went to the tunnel;
 *   when the Flow paused (no tunnel credit, tunnel congested) the credit waits for
 *   its `resume`. So a slow agent side holds at most one mesh window here.
 */
export class MeshFlowStream extends Duplex {
  /** What MeshManager dispatches this flow's link events to. */
  readonly endpoint: MeshEndpoint = {
    openAck: () => undefined, // owner side: the origin opened the flow
    data: (payload) => this.onMeshData(payload),
    fin: () => this.onMeshFin(),
    reset: (reason) => this.onMeshReset(reason),
    writable: () => this.onMeshWritable(),
  };
  private heldWrite: { chunk: Buffer; cb: (err?: Error | null) => void } | null = null;
  private pendingCredit = 0;
  private finSent = false;
  private finRecv = false;
  private meshEnded = false;

  constructor(
    private readonly link: MeshFlowLink,
    readonly cid: number,
    private readonly onGone: () => void,
  ) {
    super({ allowHalfOpen: true, decodeStrings: true });
    this.on('resume', () => this.flushCredit());
  }

  /** Call after the consumer attached its 'data' listener: counts what it took. */
  trackConsumption(): void {
    this.on('data', (chunk: Buffer) => {
      if (this.isPaused()) this.pendingCredit += chunk.length;
      else this.link.consumed(this.cid, chunk.length);
    });
  }

  private flushCredit(): void {
    const n = this.pendingCredit;
    if (n === 0) return;
    this.pendingCredit = 0;
    this.link.consumed(this.cid, n);
  }

  // ---- net.Socket surface used by libs/flow -----------------------------------

  resetAndDestroy(): this {
    return this.destroy();
  }

  // ---- link events ---------------------------------------------------------

  private onMeshData(payload: Buffer): void {
    if (!this.destroyed) this.push(payload);
  }

  private onMeshFin(): void {
    this.finRecv = true;
    if (!this.destroyed) this.push(null);
    this.checkMeshEnded();
  }

  private onMeshReset(reason: MeshRstReason): void {
    // Both FINs exchanged: the mesh flow is over cleanly (a link closing afterwards changes nothing,
    // and data still buffered for the tunnel must not be thrown away).
    if (this.finSent && this.finRecv) return;
    this.meshEnded = true;
    if (!this.destroyed) this.destroy(new MeshFlowResetError(reason));
  }

  private onMeshWritable(): void {
    const held = this.heldWrite;
    if (held === null) return;
    const n = this.link.sendData(this.cid, held.chunk);
    if (n < held.chunk.length) {
      held.chunk = held.chunk.subarray(n);
      return;
    }
    this.heldWrite = null;
    held.cb();
  }

  // ---- Duplex ----------------------------------------------------------------

  override _read(): void {
    // Data is pushed as it arrives; mesh credit bounds it.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.meshEnded) {
      cb(new MeshFlowResetError(MeshRstReason.LINK_LOST));
      return;
    }
    const n = this.link.sendData(this.cid, chunk);
    if (n === chunk.length) cb();
    else this.heldWrite = { chunk: chunk.subarray(n), cb };
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.meshEnded) {
      this.finSent = true;
      this.link.finFlow(this.cid);
      this.checkMeshEnded();
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.meshEnded) {
      this.meshEnded = true;
      this.link.resetFlow(this.cid, MeshRstReason.PEER_RESET);
    }
    this.heldWrite = null;
    this.onGone();
    cb(err);
  }

  private checkMeshEnded(): void {
    if (this.finSent && this.finRecv) this.meshEnded = true;
  }
}
