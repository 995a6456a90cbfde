import {
  encodeMeshDataHead,
  encodeMeshFin,
  encodeMeshOpen,
  encodeMeshOpenAck,
  encodeMeshRst,
  encodeMeshWindowUpdate,
  MESH_MAX_WINDOW_BYTES,
  type MeshDataStart,
  MeshFlowFrame,
  MeshFrameType,
  MeshGoawayReason,
  meshMaxDataPayload,
  MeshRstReason,
} from '@nowconnect/frames';
import {
  DEFAULT_MAX_FLOW_WINDOW_BYTES,
  DEFAULT_TUNNEL_WINDOW_BYTES,
  IDLE_SWEEP_MS,
  MONOTONIC_CLOCK,
  PROCESS_WINDOW_BUDGET,
  ReceiveWindow,
  RttEstimator,
  WindowBudget,
} from '@nowconnect/flow';
import type WebSocket from 'ws';
import { CidDedup } from './cid-dedup';
import { EpochFence, EpochLookup } from './epoch-fence';
import { LinkState } from './link-state';
import { CLOSE_PROTOCOL, LinkSocket, LinkSocketOptions } from './link-socket';
import { ChannelTable, MeshChannel } from './mesh-channels';
import type { BackpressureReason } from './mesh-metrics';

export interface MeshLinkOptions extends LinkSocketOptions {
  /** Our per-flow initial receive window (announced in M_OPEN / M_OPEN_ACK); limits.flow_window_bytes. */
  readonly flowWindowBytes: number;
  /** Ceiling of a flow's auto-tuned receive window (limits.max_flow_window_bytes; default 16 MiB). */
  readonly maxFlowWindowBytes?: number;
  /** The link's budget for window growth (limits.tunnel_window_bytes; default 64 MiB), taken from the process's. */
  readonly linkWindowBytes?: number;
  /** The budget the link's budget takes from (default: PROCESS_WINDOW_BUDGET). */
  readonly processBudget?: WindowBudget;
  /** Current owner epoch of an agent on this hub (undefined: not owned here). */
  readonly ownerEpoch: EpochLookup;
  /** CIDs remembered by the dedup LRU (default 65 536). */
  readonly dedupMaxEntries?: number;
}

export interface MeshOpenRequest {
  readonly cid: number;
  readonly agentId: string;
  readonly connector: string;
  readonly epoch: number;
}

/** What the hub does with a link's events. Answers go back through the link's methods. */
export interface MeshLinkHandler {
  up(link: MeshLink): void;
  /** The peer opens a flow to an agent this hub owns (epoch checked). Answer with acceptFlow or resetFlow. */
  open(link: MeshLink, req: MeshOpenRequest): void;
  /** A flow this hub opened was accepted; sendData may now send. */
  openAck(link: MeshLink, cid: number): void;
  /** Flow bytes, in order (a view into the received message). Call `consumed(cid, n)` once flushed, to return credit. */
  data(link: MeshLink, cid: number, payload: Buffer): void;
  fin(link: MeshLink, cid: number): void;
  /** The flow is over by reset: the peer's M_RST, a local refusal (fence, flow control) or LINK_LOST. */
  reset(link: MeshLink, cid: number, reason: MeshRstReason): void;
  /** Credit arrived or the link's queue drained: sendData takes more for `cid`. */
  writable(link: MeshLink, cid: number): void;
  down(link: MeshLink, reason: string): void;
  stateChange?(link: MeshLink, from: LinkState, to: LinkState): void;
}

export type OpenRefusal = BackpressureReason | 'not_up' | 'cid_exhausted';

function checked(options: MeshLinkOptions): MeshLinkOptions {
  if (!(options.flowWindowBytes >= 1 && options.flowWindowBytes <= MESH_MAX_WINDOW_BYTES)) throw new RangeError('MeshLink: flowWindowBytes out of range');
  if (!(meshMaxDataPayload(options.maxFrameBytes) >= 1)) throw new RangeError('MeshLink: maxFrameBytes leaves no room for data');
  return options;
}

/**
 * One hub-to-hub link with its flows: on top of LinkSocket (handshake,
 * keepalive, writer queue, drain), every flow frame passes the dedup LRU and
 * the epoch fence, per-flow credit is kept both ways, and CIDs are allocated
 * by role (dialer odd, acceptor even). A bad frame on one flow resets that
 * flow; a frame that breaks the link's protocol closes the link.
 */
export class MeshLink extends LinkSocket {
  private readonly channels: ChannelTable;
  private readonly dedup: CidDedup;
  private readonly fence: EpochFence;
  private readonly maxData: number;
  private readonly drainWaiters = new Set<number>();
  /** Frames for flows that are already gone (normal right after a reset); ignored. */
  unknownFlowFrames = 0;
  /** The flow the M_DATA frame being read off the socket is for (0: none, or dropped). */
  private streamCid = 0;
  /** Growth of the flows' receive windows (see ReceiveWindow), sized from the link's round trip. */
  readonly windowBudget: WindowBudget;
  private readonly rtt: RttEstimator;
  /** Gives idle flows' window growth back (sweepIdleWindows), every IDLE_SWEEP_MS while the link is up. */
  private idleSweepTimer: NodeJS.Timeout | undefined;

  constructor(
    ws: WebSocket,
    private readonly options: MeshLinkOptions,
    private readonly handler: MeshLinkHandler,
  ) {
    super(ws, checked(options));
    this.maxData = meshMaxDataPayload(options.maxFrameBytes);
    this.channels = new ChannelTable(options.role);
    this.dedup = new CidDedup({ maxEntries: options.dedupMaxEntries ?? 65_536, onDrop: () => this.metrics.dedupDropped() });
    this.fence = new EpochFence(options.ownerEpoch, () => this.metrics.epochMismatch());
    this.windowBudget = new WindowBudget(options.linkWindowBytes ?? DEFAULT_TUNNEL_WINDOW_BYTES, options.processBudget ?? PROCESS_WINDOW_BUDGET);
    this.rtt = new RttEstimator(() => this.ping(), MONOTONIC_CLOCK);
    this.start();
  }

  get flowCount(): number {
    return this.channels.size;
  }

  get epochMismatches(): number {
    return this.fence.mismatches;
  }

  get dedupDrops(): number {
    return this.dedup.dropped;
  }

  channel(cid: number): Readonly<MeshChannel> | undefined {
    return this.channels.get(cid);
  }

  // ---- flows: origin side -------------------------------------------------

  /**
   * Opens a flow to `agentId` (owned by the peer under `epoch`). Refused when
   * the link is not up or at a cap (counted as a backpressure drop). Throws
   * RangeError for names outside NAME_PATTERN or an unsafe epoch.
   */
  openFlow(agentId: string, connector: string, epoch: number): { cid: number } | { refused: OpenRefusal } {
    if (this.state !== LinkState.UP) return { refused: 'not_up' };
    const full = this.queue.tryAdmitOpen();
    if (full !== null) {
      this.metrics.backpressureDrop(this.peerId ?? 'unknown', full);
      return { refused: full };
    }
    const cid = this.channels.allocate();
    if (cid === undefined) {
      this.drain(MeshGoawayReason.CID_EXHAUSTED);
      return { refused: 'cid_exhausted' };
    }
    const window = this.options.flowWindowBytes;
    // Encode first: bad names or epoch throw RangeError (a caller bug) before any state changes.
    const frame = encodeMeshOpen({ cid, epoch, seq: 1, connector, agentId, window });
    const ch = this.channels.add({ cid, agentId, connector, epoch, localOpened: true, sendCredit: 0, recvWindow: window, window: this.tunedWindow() });
    ch.sendSeq = 1;
    this.emit(frame, MeshFrameType.M_OPEN);
    return { cid };
  }

  // ---- flows: owner side --------------------------------------------------

  /** Accepts a flow the peer opened (after `open`): M_OPEN_ACK with our window. */
  acceptFlow(cid: number): boolean {
    const ch = this.channels.get(cid);
    if (ch === undefined || ch.localOpened || ch.acked || !this.isOpen()) return false;
    ch.acked = true;
    this.emit(encodeMeshOpenAck(cid, ch.epoch, ++ch.sendSeq, ch.recvWindow), MeshFrameType.M_OPEN_ACK);
    return true;
  }

  // ---- flows: both sides --------------------------------------------------

  /**
   * Sends as much of `chunk` as the flow's credit and the link's queue allow,
   * in frames of at most max_frame_bytes; returns the bytes taken. The caller
   * holds the rest and calls again on `writable`.
   */
  sendData(cid: number, chunk: Buffer): number {
    const ch = this.channels.get(cid);
    if (ch === undefined || !ch.acked || ch.finSent || !this.isOpen()) return 0;
    let off = 0;
    while (off < chunk.length) {
      if (ch.sendCredit <= 0) break;
      if (this.queue.congested) {
        this.drainWaiters.add(cid);
        break;
      }
      const n = Math.min(chunk.length - off, ch.sendCredit, this.maxData);
      this.emitData(encodeMeshDataHead(cid, ch.epoch, ++ch.sendSeq, n), off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n));
      ch.sendCredit -= n;
      off += n;
    }
    return off;
  }

  /** `n` bytes of the flow's data were flushed to their destination: return credit (in batches of half a window). */
  consumed(cid: number, n: number): void {
    const ch = this.channels.get(cid);
    if (ch === undefined || ch.finRecv || !this.isOpen()) return;
    ch.consumed += n;
    if (ch.consumed >= (ch.window === undefined ? ch.recvWindow : ch.window.size) / 2) this.grant(ch);
  }

  /** Returns the flow's consumed bytes as credit (M_WINDOW_UPDATE), growing a bulk flow's window (or shrinking a slow one's). */
  private grant(ch: MeshChannel): void {
    const increment = ch.window === undefined ? ch.consumed : ch.window.grant(ch.consumed);
    ch.consumed = 0;
    if (increment <= 0) return;
    this.emit(encodeMeshWindowUpdate(ch.cid, ch.epoch, ++ch.sendSeq, increment), MeshFrameType.M_WINDOW_UPDATE);
    ch.recvAvailable += increment;
  }

  /**
   * A flow that went silent grants nothing, so only a sweep can take its grown window back (as
   * Flow.sweepIdle does on a tunnel): ReceiveWindow.shrinkIdle withholds the bytes consumed since the
   * last grant, so the peer's credit ends at the shrunk window and the link's budget gets the growth back.
   */
  private sweepIdleWindows(): void {
    if (this.windowBudget.inUse === 0 || !this.isOpen()) return;
    for (const ch of this.channels.values()) {
      if (ch.window === undefined || ch.finRecv) continue;
      const withheld = ch.window.shrinkIdle(ch.consumed);
      if (withheld <= 0) continue;
      ch.consumed -= withheld;
      if (ch.consumed >= ch.window.size / 2) this.grant(ch);
    }
  }

  /** A new flow's receive window: starts at flow_window_bytes, auto-tuned from the link's round trip. */
  private tunedWindow(): ReceiveWindow {
    const initial = this.options.flowWindowBytes;
    const max = Math.max(initial, this.options.maxFlowWindowBytes ?? DEFAULT_MAX_FLOW_WINDOW_BYTES);
    this.rtt.rttMs(); // a first (or fresh) round-trip sample by the time the flow's window is sized
    return new ReceiveWindow(initial, max, this.windowBudget, this.rtt, MONOTONIC_CLOCK);
  }

  protected override rttSample(seconds: number): void {
    this.rtt.sample(seconds * 1000);
  }

  /** Our side of the flow ended (half-close). */
  finFlow(cid: number): void {
    const ch = this.channels.get(cid);
    if (ch === undefined || ch.finSent || !this.isOpen()) return;
    ch.finSent = true;
    this.emit(encodeMeshFin(cid, ch.epoch, ++ch.sendSeq), MeshFrameType.M_FIN);
    if (ch.finRecv) this.forget(cid);
  }

  /** Resets the flow: M_RST to the peer; no `reset` callback (the caller knows). */
  resetFlow(cid: number, reason: MeshRstReason): void {
    const ch = this.channels.get(cid);
    if (ch === undefined) return;
    // Queue the RST before forgetting: forgetting the last flow of a draining link closes it.
    if (this.isOpen()) this.emit(encodeMeshRst(cid, ch.epoch, ++ch.sendSeq, reason), MeshFrameType.M_RST);
    this.forget(cid);
  }

  // ---- LinkSocket hooks ---------------------------------------------------

  protected linkUp(): void {
    this.idleSweepTimer = setInterval(() => this.sweepIdleWindows(), IDLE_SWEEP_MS);
    this.idleSweepTimer.unref();
    this.handler.up(this);
  }

  protected linkDown(reason: string): void {
    if (this.idleSweepTimer !== undefined) clearInterval(this.idleSweepTimer);
    this.idleSweepTimer = undefined;
    this.drainWaiters.clear();
    for (const ch of this.channels.clear()) {
      ch.window?.release();
      this.handler.reset(this, ch.cid, MeshRstReason.LINK_LOST);
    }
    this.handler.down(this, reason);
  }

  protected stateChanged(from: LinkState, to: LinkState): void {
    this.handler.stateChange?.(this, from, to);
  }

  protected onQueueDrain(): void {
    for (const cid of this.drainWaiters) {
      if (this.queue.congested) return;
      this.drainWaiters.delete(cid);
      if (this.channels.get(cid) !== undefined) this.handler.writable(this, cid);
    }
  }

  // ---- flow frames --------------------------------------------------------

  protected onFlowFrame(f: MeshFlowFrame): void {
    if (!this.dedup.accept(f.cid, f.seq)) return;
    if (f.type === MeshFrameType.M_OPEN) {
      this.onRemoteOpen(f);
      return;
    }
    const ch = this.admit(f);
    if (ch === undefined) return;
    switch (f.type) {
      case MeshFrameType.M_OPEN_ACK:
        if (!ch.localOpened || ch.acked) return this.resetAndReport(ch, MeshRstReason.PROTOCOL);
        ch.acked = true;
        ch.sendCredit = f.window;
        this.handler.openAck(this, ch.cid);
        return;
      case MeshFrameType.M_DATA:
        if (this.admitData(ch, f.payload.length)) this.handler.data(this, ch.cid, f.payload);
        return;
      case MeshFrameType.M_FIN:
        if (!ch.acked || ch.finRecv) return this.resetAndReport(ch, MeshRstReason.PROTOCOL);
        ch.finRecv = true;
        // Tell the handler first: forgetting the last flow of a draining link closes the link,
        // which would report this cleanly ended flow as LINK_LOST.
        this.handler.fin(this, ch.cid);
        if (ch.finSent) this.forget(ch.cid);
        return;
      case MeshFrameType.M_RST:
        this.forgetAndReport(ch, f.reason);
        return;
      case MeshFrameType.M_WINDOW_UPDATE:
        ch.sendCredit += f.increment;
        if (ch.sendCredit > 0x7fffffff) return this.resetAndReport(ch, MeshRstReason.FLOW_CONTROL);
        this.progress(); // credit back: the peer consumed what we sent
        this.handler.writable(this, ch.cid);
        return;
    }
  }

  protected onDataStart(f: MeshDataStart, length: number): void {
    this.streamCid = 0;
    if (!this.dedup.accept(f.cid, f.seq)) return;
    const ch = this.admit(f);
    if (ch !== undefined && this.admitData(ch, length)) this.streamCid = ch.cid;
  }

  protected onDataPiece(piece: Buffer): void {
    const cid = this.streamCid;
    if (cid === 0) return; // the frame was dropped or refused
    if (this.channels.get(cid) === undefined) {
      this.streamCid = 0; // the flow ended while its frame was arriving
      return;
    }
    this.handler.data(this, cid, piece);
  }

  /** The channel a flow frame (not M_OPEN) is for, once its epoch passed the fence; undefined when it was dropped. */
  private admit(f: MeshFlowFrame): MeshChannel | undefined {
    const ch = this.channels.get(f.cid);
    if (ch === undefined) {
      this.unknownFlowFrames++;
      return undefined;
    }
    const fenced = ch.localOpened ? this.fence.acceptExpected(ch.agentId, f.epoch, ch.epoch) : this.fence.accept(ch.agentId, f.epoch);
    if (!fenced) {
      // The frame is dropped; its flow cannot go on with a gap, so it is reset (never silently truncated).
      if (f.type !== MeshFrameType.M_RST) this.resetAndReport(ch, MeshRstReason.STALE_EPOCH);
      else this.forgetAndReport(ch, MeshRstReason.STALE_EPOCH);
      return undefined;
    }
    return ch;
  }

  /** M_DATA of `length` bytes may come in: the flow is open that way and has the credit. */
  private admitData(ch: MeshChannel, length: number): boolean {
    if (!ch.acked || ch.finRecv) {
      this.resetAndReport(ch, MeshRstReason.PROTOCOL);
      return false;
    }
    if (length > ch.recvAvailable) {
      this.resetAndReport(ch, MeshRstReason.FLOW_CONTROL);
      return false;
    }
    ch.recvAvailable -= length;
    return true;
  }

  private onRemoteOpen(f: Extract<MeshFlowFrame, { type: MeshFrameType.M_OPEN }>): void {
    if (!this.channels.isRemoteParity(f.cid)) {
      this.fail('protocol_error', CLOSE_PROTOCOL);
      return;
    }
    if (!this.channels.claimRemote(f.cid)) {
      this.metrics.dedupDropped(); // an M_OPEN for a CID already used on this link: a replay
      return;
    }
    const refuse = (reason: MeshRstReason): void => this.emit(encodeMeshRst(f.cid, f.epoch, 1, reason), MeshFrameType.M_RST);
    if (this.state !== LinkState.UP) return refuse(MeshRstReason.SHUTDOWN);
    if (!this.fence.accept(f.agentId, f.epoch)) {
      return refuse(this.options.ownerEpoch(f.agentId) === undefined ? MeshRstReason.NOT_OWNER : MeshRstReason.STALE_EPOCH);
    }
    this.channels.add({
      cid: f.cid,
      agentId: f.agentId,
      connector: f.connector,
      epoch: f.epoch,
      localOpened: false,
      sendCredit: f.window,
      recvWindow: this.options.flowWindowBytes,
      window: this.tunedWindow(),
    });
    this.handler.open(this, { cid: f.cid, agentId: f.agentId, connector: f.connector, epoch: f.epoch });
  }

  private resetAndReport(ch: MeshChannel, reason: MeshRstReason): void {
    this.resetFlow(ch.cid, reason);
    this.handler.reset(this, ch.cid, reason);
  }

  private forgetAndReport(ch: MeshChannel, reason: MeshRstReason): void {
    this.forget(ch.cid);
    this.handler.reset(this, ch.cid, reason);
  }

  private forget(cid: number): void {
    this.channels.get(cid)?.window?.release();
    this.channels.delete(cid);
    this.drainWaiters.delete(cid);
    this.closeIfDrained();
  }
}
