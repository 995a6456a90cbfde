import type { Socket } from 'node:net';
import type WebSocket from 'ws';

/** Where a WsFrameReader hands what it reads. */
export interface WsPayloadSink {
  /** Payload bytes of binary messages, unmasked, in order: views of the socket's read buffers. */
  wsPayload(bytes: Buffer): void;
  /** The message whose bytes came through `wsPayload` is complete. */
  wsMessageEnd(): void;
  /**
   * A WebSocket-level violation ws cannot see once data frames bypass it: a new message inside a
   * fragmented one (`WS_ERR_INVALID_OPCODE`), a fragmented message over maxPayload
   * (`WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`). Reading goes on; the sink closes the link.
   */
  wsProtocolError(code: string, message: string): void;
  /**
   * When present, WebSocket pings (payload unmasked, a copy) come here instead of ws's receiver
   * and WebSocket pongs are dropped (a tunnel never sends WebSocket pings): the sink answers, and
   * may answer only the most recent of a burst (RFC 6455 5.5.3). A ping flood then costs a header
   * parse per ping instead of ws's per-ping buffers, events and socket writes.
   */
  wsPing?(payload: Buffer): void;
}

/** The parts of ws's WebSocket this reader relies on (ws 8: one Receiver per socket, a 'data' listener feeding it). */
interface WsInternals {
  readonly _receiver?: {
    write(chunk: Buffer): boolean;
    readonly _state?: number;
    readonly _bufferedBytes?: number;
    readonly _fragmented?: number;
    readonly _maxPayload?: number;
  };
}

const OPCODE_CONTINUATION = 0x0;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;

/** Sockets a reader has taken over (never twice). */
const taken = new WeakSet<object>();

const enum Kind {
  /** Binary message payload: handed to the sink as it arrives. */
  DATA,
  /** Ping, pong, close: collected whole and written to ws's receiver. */
  CONTROL,
}

/**
 * Reads a tunnel's WebSocket frames straight off the socket ws owns, instead of
 * ws's receiver, which joins every message that spans socket reads into a new
 * buffer (a copy of every byte, and garbage). Binary data frames are parsed as
 * the bytes arrive and their payload handed on as views of the socket's read
 * buffers. Control frames (ping, pong, close) are written whole to ws's own
 * receiver, so ws still answers pings and runs the close handshake. Anything
 * else (text, reserved bits, a wrong mask bit, a frame over maxPayload, a bad
 * opcode) is handed back to ws at that frame's first byte, together with the
 * socket, so ws reports it with the close code it always used.
 *
 * The reader takes over only at a message boundary with nothing buffered in
 * ws's receiver; otherwise `attach` returns null and ws keeps reading.
 */
export class WsFrameReader {
  private readonly header = Buffer.alloc(14);
  private headerHave = 0;
  private headerNeed = 2;
  private kind: Kind = Kind.DATA;
  private fin = false;
  private opcode = 0;
  private remaining = 0;
  /** Unmasking: the key (when not all zero) and where in it the next payload byte is. */
  private mask: Buffer | null = null;
  private maskPos = 0;
  /** The control frame being collected (header included). */
  private control: Buffer | null = null;
  private controlHave = 0;
  /** Header bytes at the start of `control` (its mask key, when masked, is the last 4). */
  private controlHeader = 0;
  /** Inside a fragmented message (its first frame had FIN clear). */
  private fragmented = false;
  private messageBytes = 0;
  private detached = false;
  private readonly onData = (chunk: Buffer): void => this.read(chunk);

  private constructor(
    private readonly socket: Socket,
    private readonly receiver: NonNullable<WsInternals['_receiver']>,
    private readonly wsListener: (chunk: Buffer) => void,
    private readonly sink: WsPayloadSink,
    private readonly server: boolean,
    private readonly maxPayload: number,
  ) {}

  /**
   * Takes the socket's reads over from ws when it is safe to (ws 8's receiver idle,
   * its one 'data' listener in place). `server`: this end accepted the WebSocket,
   * so the peer's frames are masked. Returns null when ws keeps reading.
   */
  static attach(ws: WebSocket, socket: Socket, sink: WsPayloadSink, server: boolean): WsFrameReader | null {
    if (taken.has(socket)) return null;
    const receiver = (ws as unknown as WsInternals)._receiver;
    if (receiver === undefined || typeof receiver.write !== 'function') return null;
    if (receiver._state !== 0 || receiver._bufferedBytes !== 0 || receiver._fragmented !== 0) return null;
    const listeners = socket.listeners('data');
    if (listeners.length !== 1 || socket.readableLength !== 0) return null;
    const wsListener = listeners[0] as (chunk: Buffer) => void;
    const reader = new WsFrameReader(socket, receiver, wsListener, sink, server, receiver._maxPayload ?? 0);
    taken.add(socket);
    socket.removeListener('data', wsListener);
    socket.on('data', reader.onData);
    return reader;
  }

  private read(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len && !this.detached) {
      if (this.headerHave < this.headerNeed) {
        const start = off;
        off = this.readHeader(chunk, off);
        if (this.headerHave < this.headerNeed) return;
        if (!this.startFrame()) {
          this.handBack(chunk, start, off);
          return;
        }
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      const n = Math.min(this.remaining, len - off);
      if (this.kind === Kind.DATA) {
        const piece = n === len ? chunk : chunk.subarray(off, off + n);
        if (this.mask !== null) this.unmask(piece);
        this.remaining -= n;
        off += n;
        this.sink.wsPayload(piece);
      } else {
        chunk.copy(this.control!, this.controlHave, off, off + n);
        this.controlHave += n;
        this.remaining -= n;
        off += n;
      }
      if (this.remaining === 0) this.endFrame();
    }
  }

  /** Copies header bytes into `header` until headerNeed is known and reached; returns the new offset. */
  private readHeader(chunk: Buffer, off: number): number {
    const h = this.header;
    while (off < chunk.length && this.headerHave < this.headerNeed) {
      h[this.headerHave++] = chunk[off++]!;
      if (this.headerHave === 2) {
        const len7 = h[1]! & 0x7f;
        this.headerNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (h[1]! & 0x80 ? 4 : 0);
      }
    }
    return off;
  }

  /** Header complete: returns false when the frame is not ours to read (ws gets it back). */
  private startFrame(): boolean {
    const h = this.header;
    const b0 = h[0]!;
    const b1 = h[1]!;
    const masked = (b1 & 0x80) !== 0;
    if ((b0 & 0x70) !== 0 || masked !== this.server) return false;
    const len7 = b1 & 0x7f;
    let length: number;
    let p = 2;
    if (len7 === 126) {
      length = h.readUInt16BE(2);
      p = 4;
    } else if (len7 === 127) {
      const high = h.readUInt32BE(2);
      if (high > 0x1fffff) return false; // beyond 2^53 - 1: ws refuses it
      length = high * 0x100000000 + h.readUInt32BE(6);
      p = 10;
    } else {
      length = len7;
    }
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode === OPCODE_BINARY || opcode === OPCODE_CONTINUATION) {
      if (opcode === OPCODE_CONTINUATION && !this.fragmented) return false; // ws: invalid opcode 0
      if (opcode === OPCODE_BINARY && this.maxPayload > 0 && length > this.maxPayload) return false; // ws: 1009
      if (opcode === OPCODE_BINARY && this.fragmented) {
        this.messageBytes = 0;
        this.sink.wsProtocolError('WS_ERR_INVALID_OPCODE', 'Invalid opcode 2: a new message inside a fragmented one');
      } else if (this.maxPayload > 0 && this.messageBytes + length > this.maxPayload) {
        this.sink.wsProtocolError('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'Max payload size exceeded');
      }
      this.kind = Kind.DATA;
      this.messageBytes += length;
      this.fragmented = !fin;
      this.mask = null;
      if (masked && (h[p]! | h[p + 1]! | h[p + 2]! | h[p + 3]!) !== 0) {
        this.mask = h.subarray(p, p + 4);
        this.maskPos = 0;
      }
    } else if (opcode === OPCODE_CLOSE || opcode === OPCODE_PING || opcode === OPCODE_PONG) {
      if (!fin || length > 125) return false; // ws refuses fragmented or long control frames
      this.kind = Kind.CONTROL;
      this.control = Buffer.allocUnsafe(this.headerNeed + length);
      h.copy(this.control, 0, 0, this.headerNeed);
      this.controlHave = this.headerNeed;
      this.controlHeader = this.headerNeed;
    } else {
      return false; // text, reserved opcodes
    }
    this.fin = fin;
    this.opcode = opcode;
    this.remaining = length;
    return true;
  }

  private endFrame(): void {
    this.headerHave = 0;
    this.headerNeed = 2;
    if (this.kind === Kind.CONTROL) {
      const frame = this.control!;
      this.control = null;
      if (this.sink.wsPing !== undefined && this.opcode !== OPCODE_CLOSE) {
        if (this.opcode === OPCODE_PING) this.sink.wsPing(this.controlPayload(frame));
        return;
      }
      if (this.opcode === OPCODE_CLOSE) this.detach(); // ws stops reading after the close frame, and so do we
      if (!this.receiver.write(frame)) this.socket.pause(); // ws resumes the socket on the receiver's 'drain'
      return;
    }
    if (this.fin) {
      this.messageBytes = 0;
      this.sink.wsMessageEnd();
    }
  }

  /** The unmasked payload of a collected control frame (a view of it). */
  private controlPayload(frame: Buffer): Buffer {
    const at = this.controlHeader;
    const payload = frame.subarray(at);
    if ((frame[1]! & 0x80) !== 0) {
      for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ frame[at - 4 + (i & 3)]!;
    }
    return payload;
  }

  /** XORs `piece` with the mask key in place (the bytes are ours: a fresh socket read). */
  private unmask(piece: Buffer): void {
    const m = this.mask!;
    let k = this.maskPos;
    for (let i = 0; i < piece.length; i++) {
      piece[i] = piece[i]! ^ m[k]!;
      k = (k + 1) & 3;
    }
    this.maskPos = k;
  }

  /** Gives the socket back to ws, starting with the frame whose header is at chunk[start..]. */
  private handBack(chunk: Buffer, start: number, headerEnd: number): void {
    // The header may have begun in an earlier chunk: ws needs all of it.
    const carried = this.headerHave - (headerEnd - start);
    const rest = carried > 0 ? Buffer.concat([this.header.subarray(0, carried), chunk.subarray(start)]) : chunk.subarray(start);
    this.detach();
    this.socket.on('data', this.wsListener);
    if (!this.receiver.write(rest)) this.socket.pause();
  }

  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.socket.removeListener('data', this.onData);
  }
}
