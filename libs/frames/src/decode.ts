import { Frame } from './frame';
import { FrameError, FrameErrorCode } from './frame-error';
import {
  FRAME_RULES,
  FrameType,
  HEADER_BYTES,
  OFFSET_FLAGS,
  OFFSET_FLOW_ID,
  OFFSET_LENGTH,
  OFFSET_TYPE,
  OFFSET_VERSION,
  PROTOCOL_VERSION,
  frameTypeName,
} from './frame-types';

/**
 * Checks one header at `offset` of `buf` (which holds at least HEADER_BYTES from
 * there). Returns the payload length, or a FrameError. Never throws.
 */
export function checkHeader(buf: Buffer, offset: number, maxFrameBytes: number): number | FrameError {
  const version = buf[offset + OFFSET_VERSION]!;
  if (version !== PROTOCOL_VERSION) {
    return new FrameError(FrameErrorCode.UNSUPPORTED_VERSION, `unsupported protocol version ${version}`, offset);
  }
  const type = buf[offset + OFFSET_TYPE]!;
  const rule = FRAME_RULES.get(type);
  if (rule === undefined) {
    return new FrameError(FrameErrorCode.UNKNOWN_TYPE, `unknown frame type ${frameTypeName(type)}`, offset);
  }
  const flags = buf.readUInt16BE(offset + OFFSET_FLAGS);
  if (flags !== 0) {
    return new FrameError(FrameErrorCode.RESERVED_FLAGS, `${rule.name}: reserved flags 0x${flags.toString(16)} set`, offset);
  }
  const length = buf.readUInt32BE(offset + OFFSET_LENGTH);
  if (length + HEADER_BYTES > maxFrameBytes) {
    return new FrameError(FrameErrorCode.FRAME_TOO_LARGE, `${rule.name}: frame of ${length + HEADER_BYTES} bytes exceeds ${maxFrameBytes}`, offset);
  }
  const flowId = buf.readUInt32BE(offset + OFFSET_FLOW_ID);
  if (rule.session !== (flowId === 0)) {
    return new FrameError(
      FrameErrorCode.INVALID_FLOW_ID,
      rule.session ? `${rule.name}: must use flow id 0, got ${flowId}` : `${rule.name}: flow id 0 is reserved`,
      offset,
    );
  }
  if (length < rule.minPayload || (rule.maxPayload !== undefined && length > rule.maxPayload)) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, `${rule.name}: payload of ${length} bytes is out of range`, offset);
  }
  return length;
}

/** Checks a whole payload's content (only WINDOW_UPDATE has rules). */
export function checkPayload(type: FrameType, payload: Buffer, offset: number): FrameError | null {
  if (type === FrameType.WINDOW_UPDATE && payload.readUInt32BE(0) === 0) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, 'WINDOW_UPDATE: increment must be positive', offset);
  }
  return null;
}

function frameAt(buf: Buffer, offset: number, length: number): Frame {
  return {
    type: buf[offset + OFFSET_TYPE]! as FrameType,
    flags: 0,
    flowId: buf.readUInt32BE(offset + OFFSET_FLOW_ID),
    payload: buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length),
  };
}

/**
 * Decodes a buffer that holds whole frames only (one WebSocket message), calling
 * `onFrame` for each. Frames before a bad one are delivered; the bad one and
 * anything after it are not. Returns null, or the error. Never throws.
 */
export function decodeFrames(buf: Buffer, maxFrameBytes: number, onFrame: (frame: Frame) => void): FrameError | null {
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < HEADER_BYTES) {
      return new FrameError(FrameErrorCode.TRUNCATED, `truncated header: ${buf.length - offset} of ${HEADER_BYTES} bytes`, offset);
    }
    const length = checkHeader(buf, offset, maxFrameBytes);
    if (length instanceof FrameError) return length;
    if (buf.length - offset - HEADER_BYTES < length) {
      return new FrameError(FrameErrorCode.TRUNCATED, `truncated payload: ${buf.length - offset - HEADER_BYTES} of ${length} bytes`, offset);
    }
    const frame = frameAt(buf, offset, length);
    const bad = checkPayload(frame.type, frame.payload, offset);
    if (bad !== null) return bad;
    onFrame(frame);
    offset += HEADER_BYTES + length;
  }
  return null;
}

/**
 * Incremental decoder for a byte stream (frames split across chunks at any
 * offset). Keeps at most one partial frame, bounded by maxFrameBytes. After an
 * error it stays failed.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes needed before the pending chunks are worth joining: a header, then the whole frame. */
  private needed = HEADER_BYTES;
  private failed: FrameError | null = null;
  private consumed = 0;

  constructor(private readonly maxFrameBytes: number) {}

  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds a chunk; calls onFrame for every whole frame. Returns null or the (sticky) error. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): FrameError | null {
    if (this.failed !== null) return this.failed;
    if (chunk.length === 0) return null;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // Join only once a header or a whole frame is there, so a frame that
    // arrives in many small chunks is copied once, not once per chunk.
    if (this.pendingBytes < this.needed) return null;
    const buf = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.needed = HEADER_BYTES;
    let offset = 0;
    while (buf.length - offset >= HEADER_BYTES) {
      const length = checkHeader(buf, offset, this.maxFrameBytes);
      if (length instanceof FrameError) return this.fail(length);
      if (buf.length - offset - HEADER_BYTES < length) {
        this.needed = HEADER_BYTES + length;
        break;
      }
      const frame = frameAt(buf, offset, length);
      const bad = checkPayload(frame.type, frame.payload, offset);
      if (bad !== null) return this.fail(bad);
      onFrame(frame);
      offset += HEADER_BYTES + length;
    }
    if (offset < buf.length) {
      const rest = buf.subarray(offset);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
    this.consumed += offset;
    return null;
  }

  /** At end of stream: an error when a partial frame is left over. */
  end(): FrameError | null {
    if (this.failed !== null) return this.failed;
    if (this.pendingBytes > 0) {
      return this.fail(new FrameError(FrameErrorCode.TRUNCATED, `stream ended inside a frame (${this.pendingBytes} bytes left)`, 0));
    }
    return null;
  }

  private fail(error: FrameError): FrameError {
    this.failed = new FrameError(error.code, error.message, this.consumed + error.offset);
    this.pending = [];
    this.pendingBytes = 0;
    this.needed = HEADER_BYTES;
    return this.failed;
  }
}
