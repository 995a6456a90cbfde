import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { DEFAULT_MAX_FRAME_BYTES, FrameType, HEADER_BYTES, writeHeader } from '@nowconnect/frames';
import type { FrameTransport } from './frame-transport';

/** WebSocket OPEN (ws.OPEN), without importing ws at run time. */
const WS_OPEN = 1;
/** Largest WebSocket frame header: 2 bytes + 8-byte length + 4-byte mask key. */
const MAX_WS_HEADER = 14;
/** Payloads below this are copied next to their header (one iovec); larger ones are written as they are. */
const COPY_BELOW = 4096;
/** Scratch space for headers and small frames; reused once the socket has taken everything. */
const ARENA_BYTES = 64 * 1024;
/** A batch this big is written at once instead of at the end of the event-loop turn. */
const FLUSH_AT_BYTES = 256 * 1024;

export interface WsTransportOptions {
  /**
   * Client side of the WebSocket (RFC 6455 requires the mask bit). We send a zero mask
   * key, as the agent's ws does (cloud-dialer generateMask): no XOR pass over the payload.
   * Default: true when the WebSocket has a url (ws sets it on clients only).
   */
  readonly client?: boolean;
}

/**
 * A WebSocket as a frame transport. Frames sent during one event-loop turn are
 * batched into one binary WebSocket message (the wire format allows several
 * whole frames per message) and written with one writev: the WebSocket header
 * and the 12-byte frame headers are written into a scratch arena, DATA
 * payloads are written as they are (no copy). Batches are written straight to
 * the socket ws owns, as whole WebSocket frames, so they interleave with ws's
 * own control frames only at frame boundaries.
 *
 * `congested` reads ws.bufferedAmount (ws's own queue plus the socket's) plus
 * the batch not yet written; the socket's 'drain' says when to resume.
 */
export class WsTransport implements FrameTransport {
  maxMessageBytes = DEFAULT_MAX_FRAME_BYTES;
  private readonly client: boolean;
  /** Pieces of the message being batched; parts[0] starts with MAX_WS_HEADER reserved bytes. */
  private parts: Buffer[] = [];
  /** WebSocket payload bytes batched (frames, headers included). */
  private pending = 0;
  private arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
  /** Arena bytes [regionStart, used) belong to the batch but are not in `parts` yet. */
  private regionStart = 0;
  private used = 0;
  private scheduled = false;
  private readonly flushLater = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly highWaterBytes: number,
    options: WsTransportOptions = {},
  ) {
    this.client = options.client ?? (typeof ws.url === 'string' && ws.url !== '');
  }

  send(frame: Buffer): void {
    const n = frame.length;
    this.begin(n);
    if (n < COPY_BELOW) {
      this.reserve(n);
      frame.copy(this.arena, this.used);
      this.used += n;
    } else {
      this.cut();
      this.parts.push(frame);
    }
    this.added(n);
  }

  sendData(flowId: number, payload: Buffer): void {
    const n = payload.length;
    const frameBytes = HEADER_BYTES + n;
    this.begin(frameBytes);
    if (n < COPY_BELOW) {
      this.reserve(frameBytes);
      writeHeader(this.arena, this.used, FrameType.DATA, flowId, n);
      payload.copy(this.arena, this.used + HEADER_BYTES);
      this.used += frameBytes;
    } else {
      this.reserve(HEADER_BYTES);
      writeHeader(this.arena, this.used, FrameType.DATA, flowId, n);
      this.used += HEADER_BYTES;
      this.cut();
      this.parts.push(payload);
    }
    this.added(frameBytes);
  }

  flush(): void {
    if (this.pending === 0) return;
    this.cut();
    const parts = this.parts;
    const length = this.pending;
    this.parts = [];
    this.pending = 0;
    const s = this.socket;
    // Closing or closed: nothing more may follow ws's close frame. (The arena is not
    // rewound: the socket may still be writing earlier batches out of it.)
    if (this.ws.readyState !== WS_OPEN || s.destroyed) return;
    // The WebSocket header goes right-aligned into the bytes reserved in front of parts[0].
    const first = parts[0]!;
    const headerBytes = (length < 126 ? 2 : length < 65536 ? 4 : 10) + (this.client ? 4 : 0);
    const at = MAX_WS_HEADER - headerBytes;
    first[at] = 0x82; // FIN + binary
    let p = at + 1;
    if (length < 126) {
      first[p++] = length | (this.client ? 0x80 : 0);
    } else if (length < 65536) {
      first[p++] = 126 | (this.client ? 0x80 : 0);
      first.writeUInt16BE(length, p);
      p += 2;
    } else {
      first[p++] = 127 | (this.client ? 0x80 : 0);
      first.writeUInt32BE(Math.floor(length / 0x100000000), p);
      first.writeUInt32BE(length >>> 0, p + 4);
      p += 8;
    }
    if (this.client) first.fill(0, p, p + 4); // zero mask key: the payload goes as it is
    parts[0] = first.subarray(at);
    if (parts.length === 1) {
      s.write(parts[0]);
    } else {
      s.cork();
      for (const part of parts) s.write(part);
      s.uncork();
    }
    // Once the socket has handed everything to the kernel, the arena can be reused from the start.
    if (s.writableLength === 0) this.regionStart = this.used = 0;
  }

  get congested(): boolean {
    return this.ws.bufferedAmount + this.pending > this.highWaterBytes;
  }

  /** ws's queue and the socket's (ws's own pongs included) plus the batch not yet written. */
  get queuedBytes(): number {
    return this.ws.bufferedAmount + this.pending;
  }

  onDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }

  // ---- batching -------------------------------------------------------------

  /** Before adding a frame of `bytes`: write the batch if it would grow too big; start a message. */
  private begin(bytes: number): void {
    if (this.pending > 0 && this.pending + bytes > this.maxMessageBytes) this.flush();
    if (this.pending === 0) {
      this.reserve(MAX_WS_HEADER);
      this.used += MAX_WS_HEADER;
    }
  }

  private added(bytes: number): void {
    this.pending += bytes;
    if (this.pending >= FLUSH_AT_BYTES) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushLater);
    }
  }

  /** Makes room for `bytes` contiguous arena bytes (a fresh arena when the current one is full). */
  private reserve(bytes: number): void {
    if (this.used + bytes <= this.arena.length) return;
    this.cut();
    this.arena = Buffer.allocUnsafeSlow(Math.max(ARENA_BYTES, bytes));
    this.regionStart = this.used = 0;
  }

  /** Moves the arena bytes written since the last cut into `parts`. */
  private cut(): void {
    if (this.used > this.regionStart) this.parts.push(this.arena.subarray(this.regionStart, this.used));
    this.regionStart = this.used;
  }
}

/**
 * `generateMask` for a WebSocket client of ours (the agent's dialer, the mesh dialer): a zero mask key.
 * RFC 6455 masking protects browser intermediaries from hostile scripts; our clients run none, and
 * with a zero key ws skips the XOR pass and its copy of every payload.
 */
export function zeroMask(mask: Buffer): void {
  mask.fill(0);
}
