import {
  FrameType,
  HEADER_BYTES,
  OFFSET_FLAGS,
  OFFSET_FLOW_ID,
  OFFSET_LENGTH,
  OFFSET_TYPE,
  OFFSET_VERSION,
  PING_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  RstReason,
  WINDOW_UPDATE_PAYLOAD_BYTES,
} from './frame-types';

const EMPTY = Buffer.alloc(0);

/** Writes a header at `offset` of `target`. Pure: no allocation. */
export function writeHeader(target: Buffer, offset: number, type: FrameType, flowId: number, length: number, flags = 0): void {
  target[offset + OFFSET_VERSION] = PROTOCOL_VERSION;
  target[offset + OFFSET_TYPE] = type;
  target.writeUInt16BE(flags, offset + OFFSET_FLAGS);
  target.writeUInt32BE(flowId >>> 0, offset + OFFSET_FLOW_ID);
  target.writeUInt32BE(length >>> 0, offset + OFFSET_LENGTH);
}

/** One frame as one buffer: header followed by a copy of `payload`. */
export function encodeFrame(type: FrameType, flowId: number, payload: Uint8Array = EMPTY, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  writeHeader(out, 0, type, flowId, payload.length, flags);
  if (payload.length > 0) out.set(payload, HEADER_BYTES);
  return out;
}

export function encodeData(flowId: number, payload: Uint8Array): Buffer {
  return encodeFrame(FrameType.DATA, flowId, payload);
}

export function encodeOpen(flowId: number, connector: string): Buffer {
  return encodeFrame(FrameType.OPEN, flowId, Buffer.from(connector, 'utf8'));
}

export function encodeOpenAck(flowId: number): Buffer {
  return encodeFrame(FrameType.OPEN_ACK, flowId);
}

export function encodeFin(flowId: number): Buffer {
  return encodeFrame(FrameType.FIN, flowId);
}

export function encodeRst(flowId: number, reason: RstReason = RstReason.UNSPECIFIED): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + 1);
  writeHeader(out, 0, FrameType.RST, flowId, 1);
  out[HEADER_BYTES] = reason;
  return out;
}

export function encodeWindowUpdate(flowId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + WINDOW_UPDATE_PAYLOAD_BYTES);
  writeHeader(out, 0, FrameType.WINDOW_UPDATE, flowId, WINDOW_UPDATE_PAYLOAD_BYTES);
  out.writeUInt32BE(increment >>> 0, HEADER_BYTES);
  return out;
}

export function encodePing(type: FrameType.PING | FrameType.PONG, opaque: Uint8Array): Buffer {
  if (opaque.length !== PING_PAYLOAD_BYTES) throw new RangeError(`PING payload must be ${PING_PAYLOAD_BYTES} bytes`);
  return encodeFrame(type, 0, opaque);
}

/** Control frames (HELLO, HELLO_ACK, GOAWAY, REAUTH, TARGET_HEALTH) carry a small JSON document. */
export function encodeControl(
  type: FrameType.HELLO | FrameType.HELLO_ACK | FrameType.GOAWAY | FrameType.REAUTH | FrameType.TARGET_HEALTH,
  body: object,
): Buffer {
  return encodeFrame(type, 0, Buffer.from(JSON.stringify(body), 'utf8'));
}
