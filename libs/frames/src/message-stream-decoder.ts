import { Frame } from './frame';
import { FrameError, FrameErrorCode } from './frame-error';
import { FrameType, HEADER_BYTES, OFFSET_FLOW_ID, OFFSET_TYPE } from './frame-types';
import { checkHeader, checkPayload } from './decode';

/** Where a MessageStreamDecoder delivers what it decodes. */
export interface MessageStreamHandler {
  /** A whole frame of any type but DATA. */
  frame(frame: Frame): void;
  /**
   * Part of a DATA frame's payload, in order, as a view of the input (no copy).
   * `first` is true for the first piece of each frame (a frame of n bytes comes as
   * one or more pieces adding up to n).
   */
  data(flowId: number, piece: Buffer, first: boolean): void;
}

/**
 * Decodes the frames of binary WebSocket messages whose bytes arrive in pieces
 * (straight off the socket, with no per-message reassembly). DATA payload is
 * handed on as it arrives, as views of the input; other frames are small and are
 * handed on whole (copied only when they arrive split). A message holds whole
 * frames only: `endMessage()` with a frame cut short is TRUNCATED, as
 * `decodeFrames` reports it. Every header is checked before any of its payload
 * is delivered. Pure: no I/O. After an error it stays failed.
 */
export class MessageStreamDecoder {
  /** Header bytes of the frame being read (while `headerHave` < HEADER_BYTES). */
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerHave = 0;
  /** The frame whose payload is being read (valid once the header is complete). */
  private type = 0;
  private flowId = 0;
  private length = 0;
  private remaining = 0;
  private firstPiece = false;
  /** A non-DATA payload that arrived split: collected here. */
  private collect: Buffer | null = null;
  private collectHave = 0;
  /** Bytes of the current message consumed (for error offsets). */
  private messageOffset = 0;
  private frameStart = 0;
  private failed: FrameError | null = null;

  constructor(
    public maxFrameBytes: number,
    private readonly handler: MessageStreamHandler,
  ) {}

  /** Payload bytes of the current frame still to come (0 once a DATA piece completes its frame). */
  get remainingPayload(): number {
    return this.remaining;
  }

  /** Feeds bytes of the current message. Returns null or the (sticky) error. */
  push(buf: Buffer): FrameError | null {
    if (this.failed !== null) return this.failed;
    let off = 0;
    const len = buf.length;
    while (off < len) {
      if (this.headerHave < HEADER_BYTES) {
        if (this.headerHave === 0 && len - off >= HEADER_BYTES) {
          // The common case: the whole header is in this piece.
          const err = this.startFrame(buf, off);
          if (err !== null) return this.fail(err);
          off += HEADER_BYTES;
        } else {
          const n = Math.min(HEADER_BYTES - this.headerHave, len - off);
          if (this.headerHave === 0) this.frameStart = this.messageOffset + off;
          buf.copy(this.header, this.headerHave, off, off + n);
          this.headerHave += n;
          off += n;
          if (this.headerHave < HEADER_BYTES) break;
          const err = this.startFrame(this.header, 0);
          if (err !== null) return this.fail(err);
        }
        if (this.remaining === 0) {
          const err = this.finishFrame(EMPTY);
          if (err !== null) return this.fail(err);
        }
        continue;
      }
      const n = Math.min(this.remaining, len - off);
      if (this.type === FrameType.DATA) {
        const first = this.firstPiece;
        this.firstPiece = false;
        this.remaining -= n;
        this.handler.data(this.flowId, n === len && off === 0 ? buf : buf.subarray(off, off + n), first);
        off += n;
        if (this.remaining === 0) this.headerHave = 0;
        continue;
      }
      // A non-DATA payload: whole in this piece, or collected.
      if (this.collect === null && n === this.remaining) {
        this.remaining = 0;
        const err = this.finishFrame(buf.subarray(off, off + n));
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
        const err = this.finishFrame(payload);
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
    const have = this.headerHave;
    this.messageOffset = 0;
    if (have === 0) return null;
    if (have < HEADER_BYTES) {
      return this.fail(new FrameError(FrameErrorCode.TRUNCATED, `truncated header: ${have} of ${HEADER_BYTES} bytes`, at));
    }
    return this.fail(
      new FrameError(FrameErrorCode.TRUNCATED, `truncated payload: ${this.length - this.remaining} of ${this.length} bytes`, at),
    );
  }

  /** Checks the header at `off` of `buf` and starts its frame. */
  private startFrame(buf: Buffer, off: number): FrameError | null {
    if (buf !== this.header) this.frameStart = this.messageOffset + off;
    const length = checkHeader(buf, off, this.maxFrameBytes);
    if (length instanceof FrameError) return new FrameError(length.code, length.message, this.frameStart);
    this.headerHave = HEADER_BYTES;
    this.type = buf[off + OFFSET_TYPE]!;
    this.flowId = buf.readUInt32BE(off + OFFSET_FLOW_ID);
    this.length = length;
    this.remaining = length;
    this.firstPiece = true;
    return null;
  }

  /** A non-DATA frame (or an empty one) is complete: check and deliver it. */
  private finishFrame(payload: Buffer): FrameError | null {
    this.headerHave = 0;
    const type = this.type as FrameType;
    const bad = checkPayload(type, payload, this.frameStart);
    if (bad !== null) return bad;
    // (DATA never gets here: its minimum payload is 1 byte, and its bytes go out as pieces.)
    this.handler.frame({ type, flags: 0, flowId: this.flowId, payload });
    return null;
  }

  private fail(err: FrameError): FrameError {
    this.failed ??= err;
    this.collect = null;
    this.headerHave = 0;
    return this.failed;
  }
}

const EMPTY = Buffer.alloc(0);
