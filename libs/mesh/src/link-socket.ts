import type { KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';
import { WsFrameReader, type WsPayloadSink } from '@nowconnect/flow';
import {
  decodeMeshFrames,
  encodeMeshGoaway,
  encodeMeshHello,
  encodeMeshPing,
  isMeshFlowFrame,
  MeshFlowFrame,
  MeshFrame,
  MeshFrameType,
  meshFrameTypeName,
  MeshGoawayReason,
  MeshStreamDecoder,
  type MeshDataStart,
} from '@nowconnect/frames';
import WebSocket from 'ws';
import { LinkEvent, LinkState, MeshLinkState } from './link-state';
import {
  certReplicaNames,
  helloTranscript,
  IdentityRefusal,
  MeshIdentity,
  newHelloNonce,
  verifyMeshProof,
} from './mesh-identity';
import type { LinkRole } from './mesh-channels';
import { MeshLinkFailure, MeshMetrics, NOOP_MESH_METRICS } from './mesh-metrics';
import { LinkWriteQueue } from './write-queue';

export interface LinkSocketOptions {
  readonly role: LinkRole;
  readonly localReplicaId: string;
  /** Dialer: the replica id the registry says lives at the URL; a different M_HELLO closes the link. */
  readonly expectedPeerId?: string;
  /**
   * Proves this replica's id and checks the peer's in the M_HELLO handshake (docs/mesh.md "Identity").
   * Without it the link speaks the identity-less hello (tests of other parts only; the hub always sets it).
   */
  readonly identity?: MeshIdentity;
  readonly maxFrameBytes: number;
  readonly sendQueueDepth: number;
  readonly perLinkMaxInflightBytes: number;
  readonly keepaliveMs: number;
  /** Also bounds the dial itself: no M_HELLO within it closes the link. */
  readonly helloTimeoutMs: number;
  readonly metrics?: MeshMetrics;
}

const SEND_OPTIONS = { binary: true, compress: false, fin: true } as const;
/** The first fragment of a two-fragment message (an M_DATA head; its payload follows as the last fragment). */
const FIRST_FRAGMENT_OPTIONS = { binary: true, compress: false, fin: false } as const;
export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL = 1002;
export const CLOSE_POLICY = 1008;

/**
 * Control frames (all but M_DATA) a link may hold unwritten per flow, above `send_queue_depth`: a flow
 * has at most a few in flight (OPEN or OPEN_ACK, a WINDOW_UPDATE or two, FIN, RST).
 */
export const CONTROL_FRAMES_PER_FLOW = 4;
/** WebSocket pongs (ws answers pings itself) a link may hold unwritten: bytes beyond our own frames. */
export const WS_PONG_BACKLOG_BYTES = 64 * 1024;
/** WebSocket header bytes per frame we hand to ws (an M_DATA is two fragments), over our own count. */
const WS_HEADER_ALLOWANCE = 32;
/**
 * M_PINGs a peer may send per keepalive interval (a hub sends one): more is a flood, closed as
 * `slow_consumer` (detail `ping_rate`) before its PONGs pile up in the socket.
 */
export const MAX_PEER_PINGS_PER_INTERVAL = 64;
/** Our keepalive pings not yet answered, remembered to match their pongs (older ones are forgotten). */
const MAX_OUTSTANDING_PINGS = 8;

type LinkFrame<T extends MeshFrameType> = Extract<MeshFrame, { type: T }>;
type PingFrame = Extract<MeshFrame, { opaque: Buffer }>;

/**
 * The link half of a MeshLink: the WebSocket, the M_HELLO handshake, the
 * writer queue, keepalive with RTT, GOAWAY drain, and teardown. Link frames
 * go through a handler table keyed by type; flow frames go to the subclass.
 * Never throws into the socket: bad input closes the link as a protocol error.
 */
export abstract class LinkSocket {
  readonly role: LinkRole;
  protected readonly metrics: MeshMetrics;
  protected readonly queue: LinkWriteQueue;
  private readonly lifecycle: MeshLinkState;
  private readonly linkHandlers: ReadonlyMap<MeshFrameType, (f: MeshFrame) => void>;
  private peer: string | undefined;
  private helloSent = false;
  /** Handshake with identity: our nonce, and the peer's claimed id and nonce once its first M_HELLO came. */
  private readonly nonce = newHelloNonce();
  private claimedPeer: string | undefined;
  private peerNonce: Buffer | undefined;
  /** The handshake waits for the registry (no frame may come meanwhile) or, acceptor, for the dialer's proof. */
  private handshake: 'hello' | 'lookup' | 'proof' = 'hello';
  /** Why a trust failure closed the link (identity: an IdentityRefusal; slow_consumer: ping_rate, control_backlog, ws_pongs). */
  private failDetail: string | undefined;
  private peerKeyObject: KeyObject | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** When the peer last proved progress: the link came up, a PONG answered one of our PINGs, or it returned credit. */
  private lastSeen = Date.now();
  /** M_PINGs from the peer since the start of the current keepalive interval. */
  private peerPings = 0;
  /** A control-backlog check is scheduled. */
  private backlogCheck = false;
  /** Our PINGs not yet answered (their opaque clock values). */
  private readonly outstandingPings: number[] = [];
  private rttSeconds: number | undefined;
  private downReason: string | undefined;
  /** The socket ws owns (known once open): read by the WsFrameReader, corked around an M_DATA's two fragments. */
  private socket: Socket | undefined;
  /** Decodes what a WsFrameReader streams off the socket (M_DATA payload as views, no reassembly). */
  private readonly stream: MeshStreamDecoder;
  private readonly streamSink: WsPayloadSink = {
    wsPayload: (bytes) => {
      if (this.state === LinkState.DOWN) return;
      if (this.stream.push(bytes) !== null) this.fail('protocol_error', CLOSE_PROTOCOL);
    },
    wsMessageEnd: () => {
      if (this.state !== LinkState.DOWN && this.stream.endMessage() !== null) this.fail('protocol_error', CLOSE_PROTOCOL);
    },
    wsProtocolError: () => this.fail('protocol_error', CLOSE_PROTOCOL),
  };

  protected constructor(
    private readonly ws: WebSocket,
    private readonly socketOptions: LinkSocketOptions,
  ) {
    this.role = socketOptions.role;
    this.metrics = socketOptions.metrics ?? NOOP_MESH_METRICS;
    this.queue = new LinkWriteQueue({
      maxDepth: socketOptions.sendQueueDepth,
      maxInflightBytes: socketOptions.perLinkMaxInflightBytes,
      sink: (frame, done, payload) => this.write(frame, done, payload),
    });
    this.queue.onDrain(() => this.onQueueDrain());
    this.lifecycle = new MeshLinkState(LinkState.DOWN, (from, to) => this.stateChanged(from, to));
    this.linkHandlers = new Map<MeshFrameType, (f: MeshFrame) => void>([
      [MeshFrameType.M_HELLO, (f) => this.onHello(f as LinkFrame<MeshFrameType.M_HELLO>)],
      [MeshFrameType.M_PING, (f) => this.onPing(f as PingFrame)],
      [MeshFrameType.M_PONG, (f) => this.onPong(f as PingFrame)],
      [MeshFrameType.M_GOAWAY, () => this.onGoaway()],
    ]);
    this.stream = new MeshStreamDecoder(socketOptions.maxFrameBytes, {
      frame: this.dispatch,
      dataStart: (f, length) => this.dispatchDataStart(f, length),
      data: (piece) => {
        if (this.state !== LinkState.DOWN) this.onDataPiece(piece);
      },
    });
  }

  /** Attaches to the socket; the subclass calls it once its own fields are set. */
  protected start(): void {
    const ws = this.ws;
    this.lifecycle.apply(LinkEvent.DIAL);
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => this.teardown(this.downReason ?? 'socket_closed', LinkEvent.LOST));
    ws.on('error', () => {
      this.downReason ??= 'socket_error';
      this.metrics.linkError();
    });
    // ws answers every WebSocket ping itself (its pong bypasses our queue): a peer that pings and never
    // reads would grow the socket's buffer without bound (issue 13 finding 3).
    ws.on('ping', () => this.checkPongBacklog());
    if (ws.readyState === WebSocket.OPEN) this.onOpen();
    else ws.once('open', () => this.onOpen());
    this.helloTimer = setTimeout(() => this.fail('hello_timeout', CLOSE_POLICY), this.socketOptions.helloTimeoutMs);
    this.helloTimer.unref();
  }

  // ---- status -----------------------------------------------------------

  get state(): LinkState {
    return this.lifecycle.current;
  }

  /** The peer's replica id, once the handshake is done (proven, when the link has an identity). */
  get peerId(): string | undefined {
    return this.peer;
  }

  /** The replica id the peer claimed in its M_HELLO (proven or not): for logs of a failed handshake. */
  get claimedPeerId(): string | undefined {
    return this.peer ?? this.claimedPeer;
  }

  /** What exactly failed, with down reason `identity` (an IdentityRefusal) or `slow_consumer` (ping_rate, control_backlog, ws_pongs). */
  get failureDetail(): string | undefined {
    return this.failDetail;
  }

  /** Gauge nowconnect_mesh_queue_depth{peer}. */
  get queueDepth(): number {
    return this.queue.depth;
  }

  /** Gauge nowconnect_mesh_inflight_bytes{peer}. */
  get inflightBytes(): number {
    return this.queue.inflightBytes;
  }

  get congested(): boolean {
    return this.queue.congested;
  }

  get lastRttSeconds(): number | undefined {
    return this.rttSeconds;
  }

  abstract get flowCount(): number;

  // ---- commands -----------------------------------------------------------

  /** GOAWAY: no new flows either way; the link closes once its last flow ends. */
  drain(reason: MeshGoawayReason = MeshGoawayReason.SHUTDOWN): void {
    if (this.state !== LinkState.UP) return;
    this.emit(encodeMeshGoaway(reason), MeshFrameType.M_GOAWAY);
    this.lifecycle.apply(LinkEvent.DRAIN);
    this.closeIfDrained();
  }

  /** Measures RTT now (the keepalive does it every interval). */
  ping(): void {
    if (!this.isOpen()) return;
    const opaque = Buffer.allocUnsafe(8);
    const now = performance.now();
    opaque.writeDoubleBE(now, 0);
    this.outstandingPings.push(now);
    if (this.outstandingPings.length > MAX_OUTSTANDING_PINGS) this.outstandingPings.shift();
    this.emit(encodeMeshPing(MeshFrameType.M_PING, opaque), MeshFrameType.M_PING);
  }

  /** Closes the link at once; its flows end with LINK_LOST. */
  close(reason = 'closed'): void {
    this.downReason ??= reason;
    this.teardown(reason, LinkEvent.CLOSED);
    this.ws.close(CLOSE_NORMAL, reason.slice(0, 100));
  }

  // ---- for the subclass -----------------------------------------------------

  protected abstract onFlowFrame(f: MeshFlowFrame): void;
  /** An M_DATA frame read off the socket begins: `length` payload bytes follow through onDataPiece. */
  protected abstract onDataStart(f: MeshDataStart, length: number): void;
  protected abstract onDataPiece(piece: Buffer): void;
  /** Handshake done. */
  protected abstract linkUp(): void;
  /** The link is down (state already DOWN, queue closed): end the flows, tell the owner. */
  protected abstract linkDown(reason: string): void;
  protected abstract stateChanged(from: LinkState, to: LinkState): void;
  /** The writer queue stopped being congested. */
  protected abstract onQueueDrain(): void;

  protected emit(frame: Buffer, type: MeshFrameType): void {
    this.metrics.frame('out', meshFrameTypeName(type));
    this.queue.push(frame);
    // Control frames count against the link's caps: past send_queue_depth (plus a few per flow) unwritten,
    // the peer is not reading (e.g. an M_PING flood, each answered with an M_PONG) and the link is closed.
    // Judged once the socket had its turn (a burst answered in one read is written out by then).
    if (this.queue.controlBacklog > this.controlCap() && !this.backlogCheck) {
      this.backlogCheck = true;
      setImmediate(() => {
        this.backlogCheck = false;
        if (this.queue.controlBacklog > this.controlCap()) this.failTrust('slow_consumer', undefined, 'control_backlog');
      });
    }
  }

  /** Control frames the link may hold unwritten before the peer counts as a slow consumer. */
  protected controlCap(): number {
    return this.socketOptions.sendQueueDepth + CONTROL_FRAMES_PER_FLOW * this.flowCount;
  }

  /** The peer proved it reads (a PONG for one of our PINGs, credit returned): the keepalive counts from now. */
  protected progress(): void {
    this.lastSeen = Date.now();
  }

  /** A trust failure (issue 13): counted by reason as well as a link error; `mesh_link_failed` names it (and `detail`). */
  protected failTrust(reason: MeshLinkFailure, code: number | undefined, detail?: string): void {
    if (this.state === LinkState.DOWN) return;
    this.failDetail ??= detail;
    this.metrics.linkFailed(reason);
    this.fail(reason, code);
  }

  /** Queues an M_DATA frame as its head and its payload as it is (no copy). */
  protected emitData(head: Buffer, payload: Buffer): void {
    this.metrics.frame('out', 'M_DATA');
    this.queue.push(head, payload);
  }

  protected isOpen(): boolean {
    return this.state === LinkState.UP || this.state === LinkState.DRAINING;
  }

  /** Draining and no flow left: close once the queued frames (GOAWAY, the last FIN/RST) reached the socket. */
  protected closeIfDrained(): void {
    if (this.state !== LinkState.DRAINING || this.flowCount !== 0) return;
    this.queue.whenEmpty(() => {
      if (this.state === LinkState.DRAINING && this.flowCount === 0) this.close('drained');
    });
  }

  /** Something went wrong: count it, end the flows now and close the socket (terminate when no code). */
  protected fail(reason: string, code: number | undefined): void {
    if (this.state === LinkState.DOWN) return;
    this.metrics.linkError();
    this.downReason ??= reason;
    this.teardown(reason, LinkEvent.LOST);
    if (code === undefined || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(code, reason);
  }

  // ---- socket -------------------------------------------------------------

  private onOpen(): void {
    // Frames straight off the socket from now on (ws 'message' events only where that is not safe).
    this.socket = (this.ws as unknown as { _socket?: Socket })._socket;
    if (this.socket !== undefined) WsFrameReader.attach(this.ws, this.socket, this.streamSink, this.role === 'acceptor');
    if (this.state === LinkState.CONNECTING && this.role === 'dialer') this.sendHello();
  }

  /** Dialer: its first M_HELLO (with identity: the nonce, no proof yet). */
  private sendHello(): void {
    this.helloSent = true;
    const identity = this.socketOptions.identity === undefined ? undefined : { nonce: this.nonce, proof: undefined };
    this.emit(encodeMeshHello(this.socketOptions.localReplicaId, identity), MeshFrameType.M_HELLO);
  }

  /** Our M_HELLO with its proof: the acceptor's answer, or the dialer's second hello. */
  private sendProof(identity: MeshIdentity, peerId: string, peerNonce: Buffer): void {
    const local = this.socketOptions.localReplicaId;
    const [dialerNonce, acceptorNonce] = this.role === 'dialer' ? [this.nonce, peerNonce] : [peerNonce, this.nonce];
    const proof = identity.sign(helloTranscript(this.role, local, peerId, dialerNonce, acceptorNonce));
    this.emit(encodeMeshHello(local, { nonce: this.nonce, proof }), MeshFrameType.M_HELLO);
  }

  private write(frame: Buffer, done: () => void, payload: Buffer | undefined): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      done();
      return;
    }
    if (payload === undefined) {
      this.ws.send(frame, SEND_OPTIONS, () => done());
      return;
    }
    // One WebSocket message in two fragments (head, payload), written with one writev.
    this.socket?.cork();
    this.ws.send(frame, FIRST_FRAGMENT_OPTIONS);
    this.ws.send(payload, SEND_OPTIONS, () => done());
    this.socket?.uncork();
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.state === LinkState.DOWN) return;
    if (!isBinary) {
      this.fail('protocol_error', CLOSE_PROTOCOL);
      return;
    }
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const err = decodeMeshFrames(buf, this.socketOptions.maxFrameBytes, this.dispatch);
    // fail() is a no-op when a frame handler already took the link down.
    if (err !== null) this.fail('protocol_error', CLOSE_PROTOCOL);
  }

  private readonly dispatch = (frame: MeshFrame): void => {
    if (this.state === LinkState.DOWN) return;
    this.metrics.frame('in', meshFrameTypeName(frame.type));
    if (frame.type !== MeshFrameType.M_HELLO && this.state === LinkState.CONNECTING) {
      this.fail('protocol_error', CLOSE_PROTOCOL);
      return;
    }
    if (isMeshFlowFrame(frame)) this.onFlowFrame(frame);
    else this.linkHandlers.get(frame.type)?.(frame);
  };

  private dispatchDataStart(frame: MeshDataStart, length: number): void {
    if (this.state === LinkState.DOWN) return;
    this.metrics.frame('in', 'M_DATA');
    if (this.state === LinkState.CONNECTING) {
      this.fail('protocol_error', CLOSE_PROTOCOL);
      return;
    }
    this.onDataStart(frame, length);
  }

  // ---- link frames --------------------------------------------------------

  private onHello(f: LinkFrame<MeshFrameType.M_HELLO>): void {
    if (this.state !== LinkState.CONNECTING || (this.role === 'dialer' && !this.helloSent) || this.handshake === 'lookup') {
      this.fail('protocol_error', CLOSE_PROTOCOL);
      return;
    }
    if (this.handshake === 'proof') {
      this.onProof(f);
      return;
    }
    if (f.replicaId === this.socketOptions.localReplicaId) {
      this.fail('self_link', CLOSE_POLICY);
      return;
    }
    if (this.socketOptions.expectedPeerId !== undefined && f.replicaId !== this.socketOptions.expectedPeerId) {
      this.fail('peer_mismatch', CLOSE_POLICY);
      return;
    }
    this.claimedPeer = f.replicaId;
    const identity = this.socketOptions.identity;
    if (identity === undefined) {
      if (this.role === 'acceptor') this.sendHello();
      this.linkIsUp(f.replicaId);
      return;
    }
    // The dialer's first hello has a nonce and no proof; the acceptor's answer has both.
    const hasProof = f.identity?.proof !== undefined;
    if (f.identity === undefined || hasProof !== (this.role === 'dialer')) {
      this.refuseIdentity('no_proof');
      return;
    }
    this.peerNonce = f.identity.nonce;
    this.handshake = 'lookup';
    const peerId = f.replicaId;
    const peerProof = f.identity.proof;
    void identity.peerKey(peerId).then(
      (found) => this.onPeerKey(identity, peerId, found.key, found.key === undefined ? found.why : undefined, peerProof),
      () => this.onPeerKey(identity, peerId, undefined, 'registry_unavailable', peerProof),
    );
  }

  /**
   * The registry answered for the claimed id. A per-replica certificate (URI SAN naming replicas) must
   * name it; the key must verify the proof (dialer: the acceptor's) — or, when the registry has no key,
   * a certificate naming the replica is the proof (TLS verified it against the mesh CA).
   */
  private onPeerKey(identity: MeshIdentity, peerId: string, key: KeyObject | undefined, why: IdentityRefusal | 'registry_unavailable' | undefined, proof: Buffer | undefined): void {
    if (this.state !== LinkState.CONNECTING) return;
    const names = certReplicaNames(this.socket);
    if (names !== undefined && !names.includes(peerId)) return this.refuseIdentity('cert_mismatch');
    if (key === undefined && names === undefined) return this.refuseIdentity(why ?? 'unknown_replica');
    this.peerKeyObject = key;
    if (this.role === 'dialer') {
      const transcript = helloTranscript('acceptor', peerId, this.socketOptions.localReplicaId, this.nonce, this.peerNonce!);
      if (key !== undefined && !verifyMeshProof(key, transcript, proof!)) return this.refuseIdentity('bad_proof');
      this.sendProof(identity, peerId, this.peerNonce!);
      this.linkIsUp(peerId);
      return;
    }
    this.handshake = 'proof';
    this.sendProof(identity, peerId, this.peerNonce!);
  }

  /** Acceptor: the dialer's second M_HELLO, with its proof. */
  private onProof(f: LinkFrame<MeshFrameType.M_HELLO>): void {
    const peerId = this.claimedPeer!;
    const proof = f.identity?.proof;
    if (f.replicaId !== peerId || f.identity === undefined || !f.identity.nonce.equals(this.peerNonce!)) return this.refuseIdentity('changed_hello');
    if (proof === undefined) return this.refuseIdentity('no_proof');
    const key = this.peerKeyObject;
    const transcript = helloTranscript('dialer', peerId, this.socketOptions.localReplicaId, this.peerNonce!, this.nonce);
    if (key !== undefined && !verifyMeshProof(key, transcript, proof)) return this.refuseIdentity('bad_proof');
    this.linkIsUp(peerId);
  }

  private refuseIdentity(detail: IdentityRefusal | 'registry_unavailable'): void {
    this.failTrust('identity', CLOSE_POLICY, detail);
  }

  private linkIsUp(peerId: string): void {
    this.peer = peerId;
    if (this.helloTimer !== undefined) clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
    this.lifecycle.apply(LinkEvent.UP);
    this.startKeepalive();
    this.linkUp();
  }

  private onPing(f: PingFrame): void {
    if (++this.peerPings > MAX_PEER_PINGS_PER_INTERVAL) {
      this.failTrust('slow_consumer', undefined, 'ping_rate');
      return;
    }
    this.emit(encodeMeshPing(MeshFrameType.M_PONG, f.opaque), MeshFrameType.M_PONG);
  }

  /** Only a PONG answering one of our PINGs proves the peer reads; an unsolicited one is ignored. */
  private onPong(f: PingFrame): void {
    const sent = f.opaque.readDoubleBE(0);
    const i = this.outstandingPings.indexOf(sent);
    if (i < 0) return;
    this.outstandingPings.splice(0, i + 1); // pongs come in order: older pings are answered or lost
    this.progress();
    const rtt = (performance.now() - sent) / 1000;
    if (!Number.isFinite(rtt) || rtt < 0 || rtt > 3600) return;
    this.rttSeconds = rtt;
    this.metrics.rtt(rtt);
    this.rttSample(rtt);
  }

  /** A round trip was measured (seconds): subclasses size flow windows with it. */
  protected rttSample(_seconds: number): void {}

  /**
   * A WebSocket ping arrived (ws has queued its pong): bytes waiting in the socket beyond our own frames
   * (and their WebSocket headers) are pongs the peer did not read; past WS_PONG_BACKLOG_BYTES it is a
   * slow consumer.
   */
  private checkPongBacklog(): void {
    if (this.state === LinkState.DOWN) return;
    // ws (8.23+) terminates a socket itself past maxPendingAutoPongs unwritten pongs, then emits this
    // 'ping': name that close, which would otherwise read as a plain socket_closed.
    if (this.ws.readyState !== WebSocket.OPEN) {
      this.failTrust('slow_consumer', undefined, 'ws_pongs');
      return;
    }
    const ours = this.queue.inflightBytes + WS_HEADER_ALLOWANCE * this.queue.inflightFrames;
    if (this.ws.bufferedAmount - ours > WS_PONG_BACKLOG_BYTES) this.failTrust('slow_consumer', undefined, 'ws_pongs');
  }

  private onGoaway(): void {
    if (this.state === LinkState.UP) this.lifecycle.apply(LinkEvent.DRAIN);
    this.closeIfDrained();
  }

  // ---- keepalive and teardown -------------------------------------------------

  private startKeepalive(): void {
    const ms = this.socketOptions.keepaliveMs;
    this.lastSeen = Date.now();
    this.keepaliveTimer = setInterval(() => {
      this.peerPings = 0;
      if (Date.now() - this.lastSeen > 3 * ms) this.fail('dead_peer', undefined);
      else this.ping();
    }, ms);
    this.keepaliveTimer.unref();
  }

  private teardown(reason: string, event: LinkEvent): void {
    if (this.state === LinkState.DOWN) return;
    if (this.helloTimer !== undefined) clearTimeout(this.helloTimer);
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    this.helloTimer = undefined;
    this.keepaliveTimer = undefined;
    this.lifecycle.apply(event);
    this.queue.close();
    this.linkDown(reason);
  }
}
