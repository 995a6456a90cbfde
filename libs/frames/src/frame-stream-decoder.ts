import { FrameError, FrameErrorCode } from './frame-error';
import { HEADER_BYTES, OFFSET_FLOW_ID, OFFSET_TYPE } from './frame-types';

/** What a FrameStreamDecoder needs to know of a wire format (the tunnel's, the mesh's). */
export interface FrameStreamFormat {
  /** Checks a 12-byte header at `off`; returns the payload length or an error (offset relative to `off`'s frame). */
  checkHeader(buf: Buffer, off: number, maxFrameBytes: number): number | FrameError;
  /** The frame type whose payload is streamed (DATA, M_DATA); every other frame is delivered whole. */
  readonly streamedType: number;
  /** Bytes at the start of a streamed frame's payload that come with its start, not as pieces (mesh: epoch + seq). */
  readonly prefixBytes: number;
}

/** Where a FrameStreamDecoder delivers; each callback may return an error, which stops decoding. */
export interface FrameStreamSink {
  /** A whole frame (not the streamed type): `payload` is a view of the input, or a copy when it arrived split. */
  frame(type: number, id: number, payload: Buffer, offset: number): FrameError | null;
  /** A streamed frame begins: `prefix` holds its prefixBytes (a view, valid during the call); `length` payload bytes follow as pieces. */
  start(type: number, id: number, prefix: Buffer, length: number, offset: number): FrameError | null;
  /** The next bytes of the streamed frame's payload, a view of the input. */
  piece(bytes: Buffer): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Decodes frames of binary WebSocket messages whose bytes arrive in pieces
 * (straight off the socket, with no per-message reassembly). The streamed frame
 * type's payload is handed on as it arrives, as views of the input; other frames
 * are small and are handed on whole (copied only when they arrive split). A
 * message holds whole frames only: `endMessage()` with a frame cut short is
 * TRUNCATED, as the whole-message decoders report it. Every header (and a
 * streamed frame's prefix) is checked before any of its payload is delivered.
 * Pure: no I/O. After an error it stays failed.
 */
export class FrameStreamDecoder {
  /** Header (and prefix) bytes of the frame being read, while they arrive split. */
  private readonly head: Buffer;
  private headHave = 0;
  /** Bytes of header (+ prefix) the current frame needs before its body. */
  private headNeed = HEADER_BYTES;
  /** The frame whose body is being read (valid once its header is complete). */
  private type = 0;
  private id = 0;
  private length = 0;
  private remaining = 0;
  private streaming = false;
  /** A whole-frame payload that arrived split: collected here. */
  private collect: Buffer | null = null;
  private collectHave = 0;
  /** Bytes of the current message consumed (for error offsets). */
  private messageOffset = 0;
  private frameStart = 0;
  private failed: FrameError | null = null;

  constructor(
    public maxFrameBytes: number,
    private readonly format: FrameStreamFormat,
    private readonly sink: FrameStreamSink,
  ) {
    this.head = Buffer.alloc(HEADER_BYTES + format.prefixBytes);
  }

  /** Payload bytes of the current frame still to come (0 once a piece completes its frame). */
  get remainingPayload(): number {
    return this.remaining;
  }

  /** Feeds bytes of the current message. Returns null or the (sticky) error. */
  push(buf: Buffer): FrameError | null {
    if (this.failed !== null) return this.failed;
    let off = 0;
    const len = buf.length;
    while (off < len) {
      if (this.headHave < this.headNeed) {
        // Header (12 bytes), then a streamed frame's prefix: copied, a few bytes per frame.
        if (this.headHave === 0) this.frameStart = this.messageOffset + off;
        const n = Math.min(this.headNeed - this.headHave, len - off);
        buf.copy(this.head, this.headHave, off, off + n);
        this.headHave += n;
        off += n;
        if (this.headHave === HEADER_BYTES && this.headNeed === HEADER_BYTES) {
          const err = this.startFrame();
          if (err !== null) return this.fail(err);
        }
        if (this.headHave < this.headNeed) continue;
        const err = this.afterHead();
        if (err !== null) return this.fail(err);
        continue;
      }
      const n = Math.min(this.remaining, len - off);
      if (this.streaming) {
        this.remaining -= n;
        this.sink.piece(n === len ? buf : buf.subarray(off, off + n));
        off += n;
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      if (this.collect === null && n === this.remaining) {
        this.remaining = 0;
        const err = this.whole(buf.subarray(off, off + n));
        off += n;
        if (err !== null) return this.fail(err);
        continue;
      }
      if (this.collect === null) {
        this.collect = Buffer.allocUnsafe(this.remaining);
        this.collectHave = 0;
      }
      buf.copy(this.collect, this.collectHave, off, off + n);
      this.collectHave += n;
      this.remaining -= n;
      off += n;
      if (this.remaining === 0) {
        const payload = this.collect;
        this.collect = null;
        const err = this.whole(payload);
        if (err !== null) return this.fail(err);
      }
    }
    this.messageOffset += len;
    return null;
  }

  /** The current message ended: a frame cut short is TRUNCATED. */
  endMessage(): FrameError | null {
    if (this.failed !== null) return this.failed;
    const at = this.frameStart;
    const have = this.headHave;
    this.messageOffset = 0;
    if (have === 0) return null;
    if (have < HEADER_BYTES) {
      return this.fail(new FrameError(FrameErrorCode.TRUNCATED, `truncated header: ${have} of ${HEADER_BYTES} bytes`, at));
    }
    const got = have < this.headNeed ? have - HEADER_BYTES : this.length - this.remaining;
    return this.fail(new FrameError(FrameErrorCode.TRUNCATED, `truncated payload: ${got} of ${this.length} bytes`, at));
  }

  /** The 12-byte header is in `head`: check it and set up its frame. */
  private startFrame(): FrameError | null {
    const h = this.head;
    const length = this.format.checkHeader(h, 0, this.maxFrameBytes);
    if (length instanceof FrameError) return new FrameError(length.code, length.message, this.frameStart);
    this.type = h[OFFSET_TYPE]!;
    this.id = h.readUInt32BE(OFFSET_FLOW_ID);
    this.length = length;
    this.streaming = this.type === this.format.streamedType;
    const prefix = this.streaming ? this.format.prefixBytes : 0;
    this.headNeed = HEADER_BYTES + prefix;
    this.remaining = length - prefix;
    return null;
  }

  /** Header (and prefix) complete: a streamed frame starts; an empty frame is whole. */
  private afterHead(): FrameError | null {
    if (this.streaming) {
      const prefix = this.headNeed === HEADER_BYTES ? EMPTY : this.head.subarray(HEADER_BYTES, this.headNeed);
      if (this.remaining === 0) this.endFrame();
      return this.sink.start(this.type, this.id, prefix, this.remaining, this.frameStart);
    }
    return this.remaining === 0 ? this.whole(EMPTY) : null;
  }

  private whole(payload: Buffer): FrameError | null {
    this.endFrame();
    return this.sink.frame(this.type, this.id, payload, this.frameStart);
  }

  private endFrame(): void {
    this.headHave = 0;
    this.headNeed = HEADER_BYTES;
  }

  private fail(err: FrameError): FrameError {
    this.failed ??= err;
    this.collect = null;
    this.headHave = 0;
    return this.failed;
  }
}
