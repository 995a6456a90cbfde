import { isValidName } from './control';
import { FrameError, FrameErrorCode } from './frame-error';
import { HEADER_BYTES, OFFSET_FLAGS, OFFSET_FLOW_ID, OFFSET_LENGTH, OFFSET_TYPE, OFFSET_VERSION, PROTOCOL_VERSION } from './frame-types';
import {
  MESH_FLOW_PREFIX_BYTES,
  MESH_FRAME_RULES,
  MESH_HELLO_NONCE_BYTES,
  MESH_HELLO_PROOF_BYTES,
  MESH_MAX_CID,
  MESH_MAX_WINDOW_BYTES,
  MESH_OFFSET_EPOCH,
  MESH_OFFSET_SEQ,
  MESH_PING_BYTES,
  MeshFrameType,
  MeshGoawayReason,
  MeshRstReason,
  meshFrameTypeName,
} from './mesh-frame-types';

/** The layout is drawn in mesh-frame-types.ts. Encoders throw RangeError on bad arguments (a caller bug); the decoder never throws. */

/** cid, owner epoch and per-direction sequence number of one flow frame. */
export interface MeshFlowHeader {
  readonly cid: number;
  readonly epoch: number;
  readonly seq: number;
}

export interface MeshOpenFields extends MeshFlowHeader {
  readonly connector: string;
  readonly agentId: string;
  /** The opener's receive window for this flow (credit the peer may send). */
  readonly window: number;
}

/**
 * M_HELLO's identity fields (docs/mesh.md "Identity"): the sender's fresh nonce and, once it has the
 * peer's nonce, its proof (an Ed25519 signature over the handshake transcript).
 */
export interface MeshHelloIdentity {
  /** MESH_HELLO_NONCE_BYTES random bytes. */
  readonly nonce: Buffer;
  /** MESH_HELLO_PROOF_BYTES, or undefined in the dialer's first M_HELLO. */
  readonly proof: Buffer | undefined;
}

export type MeshFrame =
  | { readonly type: MeshFrameType.M_HELLO; readonly replicaId: string; readonly identity?: MeshHelloIdentity }
  | ({ readonly type: MeshFrameType.M_OPEN } & MeshOpenFields)
  | ({ readonly type: MeshFrameType.M_OPEN_ACK; readonly window: number } & MeshFlowHeader)
  /** payload is a view into the decoded message (no copy). */
  | ({ readonly type: MeshFrameType.M_DATA; readonly payload: Buffer } & MeshFlowHeader)
  | ({ readonly type: MeshFrameType.M_FIN } & MeshFlowHeader)
  | ({ readonly type: MeshFrameType.M_RST; readonly reason: MeshRstReason } & MeshFlowHeader)
  | ({ readonly type: MeshFrameType.M_WINDOW_UPDATE; readonly increment: number } & MeshFlowHeader)
  | { readonly type: MeshFrameType.M_PING | MeshFrameType.M_PONG; readonly opaque: Buffer }
  | { readonly type: MeshFrameType.M_GOAWAY; readonly reason: MeshGoawayReason };

export type MeshFlowFrame = Extract<MeshFrame, MeshFlowHeader>;

export function isMeshFlowFrame(frame: MeshFrame): frame is MeshFlowFrame {
  return 'cid' in frame;
}

const HIGH = 0x1_0000_0000;

// ---- encode ----------------------------------------------------------------

function check(ok: boolean, what: string): void {
  if (!ok) throw new RangeError(`mesh frame: ${what}`);
}

function checkFlow(cid: number, epoch: number, seq: number): void {
  check(Number.isInteger(cid) && cid >= 1 && cid <= MESH_MAX_CID, 'cid must be 1..2^32-1');
  check(Number.isSafeInteger(epoch) && epoch >= 0, 'epoch must be a safe non-negative integer');
  check(Number.isSafeInteger(seq) && seq >= 0, 'seq must be a safe non-negative integer');
}

function writeU64(out: Buffer, value: number, offset: number): void {
  out.writeUInt32BE(Math.floor(value / HIGH), offset);
  out.writeUInt32BE(value % HIGH, offset + 4);
}

/** A header announcing `bodyBytes`, in a buffer of HEADER_BYTES + `allocBytes` (default: the whole body). */
function frame(type: MeshFrameType, cid: number, bodyBytes: number, allocBytes = bodyBytes): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + allocBytes);
  out[OFFSET_VERSION] = PROTOCOL_VERSION;
  out[OFFSET_TYPE] = type;
  out.writeUInt16BE(0, OFFSET_FLAGS);
  out.writeUInt32BE(cid, OFFSET_FLOW_ID);
  out.writeUInt32BE(bodyBytes, OFFSET_LENGTH);
  return out;
}

/** A flow frame with its epoch/seq prefix written and `extra` body bytes left to fill at HEADER_BYTES + MESH_FLOW_PREFIX_BYTES. */
function flowFrame(type: MeshFrameType, cid: number, epoch: number, seq: number, extra: number, allocExtra = extra): Buffer {
  checkFlow(cid, epoch, seq);
  const out = frame(type, cid, MESH_FLOW_PREFIX_BYTES + extra, MESH_FLOW_PREFIX_BYTES + allocExtra);
  writeU64(out, epoch, HEADER_BYTES + MESH_OFFSET_EPOCH);
  writeU64(out, seq, HEADER_BYTES + MESH_OFFSET_SEQ);
  return out;
}

const BODY = HEADER_BYTES + MESH_FLOW_PREFIX_BYTES;

function checkWindow(window: number, what: string): void {
  check(Number.isInteger(window) && window >= 1 && window <= MESH_MAX_WINDOW_BYTES, `${what} must be 1..${MESH_MAX_WINDOW_BYTES}`);
}

/**
 * M_HELLO: `replica_len u8 | replica_id`, then with `identity`: `nonce (16) | proof_len u8 | proof (0 or 64)`.
 * Without `identity` it is the identity-less hello of protocol 1 (which an acceptor with identity refuses).
 */
export function encodeMeshHello(replicaId: string, identity?: MeshHelloIdentity): Buffer {
  check(isValidName(replicaId), 'replica id must match NAME_PATTERN');
  if (identity !== undefined) {
    check(identity.nonce.length === MESH_HELLO_NONCE_BYTES, `nonce must be ${MESH_HELLO_NONCE_BYTES} bytes`);
    check(identity.proof === undefined || identity.proof.length === MESH_HELLO_PROOF_BYTES, `proof must be ${MESH_HELLO_PROOF_BYTES} bytes`);
  }
  const proofLen = identity?.proof?.length ?? 0;
  const out = frame(MeshFrameType.M_HELLO, 0, 1 + replicaId.length + (identity === undefined ? 0 : MESH_HELLO_NONCE_BYTES + 1 + proofLen));
  out[HEADER_BYTES] = replicaId.length;
  let at = HEADER_BYTES + 1 + out.write(replicaId, HEADER_BYTES + 1, 'ascii');
  if (identity !== undefined) {
    at += identity.nonce.copy(out, at);
    out[at++] = proofLen;
    if (identity.proof !== undefined) identity.proof.copy(out, at);
  }
  return out;
}

export function encodeMeshOpen(f: MeshOpenFields): Buffer {
  check(isValidName(f.connector), 'connector must match NAME_PATTERN');
  check(isValidName(f.agentId), 'agent id must match NAME_PATTERN');
  checkWindow(f.window, 'window');
  const out = flowFrame(MeshFrameType.M_OPEN, f.cid, f.epoch, f.seq, 4 + 1 + f.connector.length + 1 + f.agentId.length);
  let at = BODY;
  out.writeUInt32BE(f.window, at);
  at += 4;
  out[at++] = f.connector.length;
  at += out.write(f.connector, at, 'ascii');
  out[at++] = f.agentId.length;
  out.write(f.agentId, at, 'ascii');
  return out;
}

export function encodeMeshOpenAck(cid: number, epoch: number, seq: number, window: number): Buffer {
  checkWindow(window, 'window');
  const out = flowFrame(MeshFrameType.M_OPEN_ACK, cid, epoch, seq, 4);
  out.writeUInt32BE(window, BODY);
  return out;
}

/** One M_DATA frame: header, prefix and a copy of `payload` (>= 1 byte). */
export function encodeMeshData(cid: number, epoch: number, seq: number, payload: Uint8Array): Buffer {
  check(payload.length >= 1, 'M_DATA payload must not be empty');
  const out = flowFrame(MeshFrameType.M_DATA, cid, epoch, seq, payload.length);
  out.set(payload, BODY);
  return out;
}

/**
 * The first 28 bytes of an M_DATA frame (header, epoch, seq) whose `length` payload bytes
 * are sent right after it as they are: the frame without copying the payload.
 */
export function encodeMeshDataHead(cid: number, epoch: number, seq: number, length: number): Buffer {
  check(Number.isInteger(length) && length >= 1, 'M_DATA payload must not be empty');
  return flowFrame(MeshFrameType.M_DATA, cid, epoch, seq, length, 0);
}

export function encodeMeshFin(cid: number, epoch: number, seq: number): Buffer {
  return flowFrame(MeshFrameType.M_FIN, cid, epoch, seq, 0);
}

export function encodeMeshRst(cid: number, epoch: number, seq: number, reason: MeshRstReason = MeshRstReason.UNSPECIFIED): Buffer {
  check(reason !== MeshRstReason.LINK_LOST, 'LINK_LOST is local only');
  const out = flowFrame(MeshFrameType.M_RST, cid, epoch, seq, 1);
  out[BODY] = reason;
  return out;
}

export function encodeMeshWindowUpdate(cid: number, epoch: number, seq: number, increment: number): Buffer {
  check(Number.isInteger(increment) && increment >= 1 && increment <= 0xffffffff, 'increment must be 1..2^32-1');
  const out = flowFrame(MeshFrameType.M_WINDOW_UPDATE, cid, epoch, seq, 4);
  out.writeUInt32BE(increment, BODY);
  return out;
}

export function encodeMeshPing(type: MeshFrameType.M_PING | MeshFrameType.M_PONG, opaque: Uint8Array): Buffer {
  check(opaque.length === MESH_PING_BYTES, `${meshFrameTypeName(type)} payload must be ${MESH_PING_BYTES} bytes`);
  const out = frame(type, 0, MESH_PING_BYTES);
  out.set(opaque, HEADER_BYTES);
  return out;
}

export function encodeMeshGoaway(reason: MeshGoawayReason): Buffer {
  const out = frame(MeshFrameType.M_GOAWAY, 0, 1);
  out[HEADER_BYTES] = reason;
  return out;
}

// ---- decode ----------------------------------------------------------------

function invalid(what: string, offset: number): FrameError {
  return new FrameError(FrameErrorCode.INVALID_PAYLOAD, what, offset);
}

/** u64 at `at` as a safe integer, or -1 when it is not one. */
function readU64(buf: Buffer, at: number): number {
  const hi = buf.readUInt32BE(at);
  if (hi > 0x1fffff) return -1;
  return hi * HIGH + buf.readUInt32BE(at + 4);
}

/** A length-prefixed name at `at`; returns [name, next offset] or null. */
function readName(buf: Buffer, at: number, end: number): [string, number] | null {
  if (at >= end) return null;
  const len = buf[at]!;
  if (len === 0 || at + 1 + len > end) return null;
  const name = buf.toString('latin1', at + 1, at + 1 + len);
  return isValidName(name) ? [name, at + 1 + len] : null;
}

const RST_REASONS = new Set<number>(Object.values(MeshRstReason).filter((v): v is number => typeof v === 'number' && v !== MeshRstReason.LINK_LOST));
const GOAWAY_REASONS = new Set<number>(Object.values(MeshGoawayReason).filter((v): v is number => typeof v === 'number'));

/** Parses one frame whose header was checked; `p` is the payload start, `end` its end. */
export function parseMeshFrame(buf: Buffer, type: MeshFrameType, cid: number, p: number, end: number, offset: number): MeshFrame | FrameError {
  const name = meshFrameTypeName(type);
  switch (type) {
    case MeshFrameType.M_HELLO: {
      const r = readName(buf, p, end);
      if (r === null) return invalid(`${name}: invalid replica id`, offset);
      const at = r[1];
      if (at === end) return { type, replicaId: r[0] };
      const proofAt = at + MESH_HELLO_NONCE_BYTES + 1;
      const proofLen = proofAt <= end ? buf[proofAt - 1]! : -1;
      if ((proofLen !== 0 && proofLen !== MESH_HELLO_PROOF_BYTES) || proofAt + proofLen !== end) return invalid(`${name}: invalid identity fields`, offset);
      const nonce = Buffer.from(buf.subarray(at, at + MESH_HELLO_NONCE_BYTES));
      return { type, replicaId: r[0], identity: { nonce, proof: proofLen === 0 ? undefined : Buffer.from(buf.subarray(proofAt, end)) } };
    }
    case MeshFrameType.M_PING:
    case MeshFrameType.M_PONG:
      return { type, opaque: buf.subarray(p, end) };
    case MeshFrameType.M_GOAWAY: {
      const code = buf[p]!;
      return { type, reason: GOAWAY_REASONS.has(code) ? (code as MeshGoawayReason) : MeshGoawayReason.UNSPECIFIED };
    }
    default:
      break;
  }
  const epoch = readU64(buf, p + MESH_OFFSET_EPOCH);
  const seq = readU64(buf, p + MESH_OFFSET_SEQ);
  if (epoch < 0 || seq < 0) return invalid(`${name}: epoch or seq exceeds 2^53-1`, offset);
  const b = p + MESH_FLOW_PREFIX_BYTES;
  switch (type) {
    case MeshFrameType.M_OPEN: {
      const window = buf.readUInt32BE(b);
      if (window < 1 || window > MESH_MAX_WINDOW_BYTES) return invalid(`${name}: window out of range`, offset);
      const connector = readName(buf, b + 4, end);
      const agent = connector === null ? null : readName(buf, connector[1], end);
      if (connector === null || agent === null || agent[1] !== end) return invalid(`${name}: invalid connector or agent id`, offset);
      return { type, cid, epoch, seq, window, connector: connector[0], agentId: agent[0] };
    }
    case MeshFrameType.M_OPEN_ACK: {
      const window = buf.readUInt32BE(b);
      if (window < 1 || window > MESH_MAX_WINDOW_BYTES) return invalid(`${name}: window out of range`, offset);
      return { type, cid, epoch, seq, window };
    }
    case MeshFrameType.M_DATA:
      return { type, cid, epoch, seq, payload: buf.subarray(b, end) };
    case MeshFrameType.M_FIN:
      return { type, cid, epoch, seq };
    case MeshFrameType.M_RST: {
      const code = buf[b]!;
      return { type, cid, epoch, seq, reason: RST_REASONS.has(code) ? (code as MeshRstReason) : MeshRstReason.UNSPECIFIED };
    }
    case MeshFrameType.M_WINDOW_UPDATE: {
      const increment = buf.readUInt32BE(b);
      if (increment === 0) return invalid(`${name}: increment must be positive`, offset);
      return { type, cid, epoch, seq, increment };
    }
  }
}

/** Checks the header at `offset` (HEADER_BYTES available); returns the payload length or an error. */
export function checkMeshHeader(buf: Buffer, offset: number, maxFrameBytes: number): number | FrameError {
  const version = buf[offset + OFFSET_VERSION]!;
  if (version !== PROTOCOL_VERSION) return new FrameError(FrameErrorCode.UNSUPPORTED_VERSION, `unsupported protocol version ${version}`, offset);
  const type = buf[offset + OFFSET_TYPE]!;
  const rule = MESH_FRAME_RULES.get(type);
  if (rule === undefined) return new FrameError(FrameErrorCode.UNKNOWN_TYPE, `unknown mesh frame type ${meshFrameTypeName(type)}`, offset);
  const flags = buf.readUInt16BE(offset + OFFSET_FLAGS);
  if (flags !== 0) return new FrameError(FrameErrorCode.RESERVED_FLAGS, `${rule.name}: reserved flags 0x${flags.toString(16)} set`, offset);
  const length = buf.readUInt32BE(offset + OFFSET_LENGTH);
  if (length + HEADER_BYTES > maxFrameBytes) {
    return new FrameError(FrameErrorCode.FRAME_TOO_LARGE, `${rule.name}: frame of ${length + HEADER_BYTES} bytes exceeds ${maxFrameBytes}`, offset);
  }
  const cid = buf.readUInt32BE(offset + OFFSET_FLOW_ID);
  if (rule.link !== (cid === 0)) {
    return new FrameError(FrameErrorCode.INVALID_FLOW_ID, rule.link ? `${rule.name}: must use cid 0, got ${cid}` : `${rule.name}: cid 0 is reserved`, offset);
  }
  if (length < rule.minPayload || (rule.maxPayload !== undefined && length > rule.maxPayload)) {
    return new FrameError(FrameErrorCode.INVALID_PAYLOAD, `${rule.name}: payload of ${length} bytes is out of range`, offset);
  }
  return length;
}

/**
 * Decodes one mesh WebSocket message (whole frames only), calling `onFrame`
 * for each. Frames before a bad one are delivered, the bad one and anything
 * after it are not. Returns null or the error. Never throws.
 */
export function decodeMeshFrames(buf: Buffer, maxFrameBytes: number, onFrame: (frame: MeshFrame) => void): FrameError | null {
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < HEADER_BYTES) {
      return new FrameError(FrameErrorCode.TRUNCATED, `truncated header: ${buf.length - offset} of ${HEADER_BYTES} bytes`, offset);
    }
    const length = checkMeshHeader(buf, offset, maxFrameBytes);
    if (length instanceof FrameError) return length;
    if (buf.length - offset - HEADER_BYTES < length) {
      return new FrameError(FrameErrorCode.TRUNCATED, `truncated payload: ${buf.length - offset - HEADER_BYTES} of ${length} bytes`, offset);
    }
    const p = offset + HEADER_BYTES;
    const type = buf[offset + OFFSET_TYPE]! as MeshFrameType;
    const frameOrError = parseMeshFrame(buf, type, buf.readUInt32BE(offset + OFFSET_FLOW_ID), p, p + length, offset);
    if (frameOrError instanceof FrameError) return frameOrError;
    onFrame(frameOrError);
    offset = p + length;
  }
  return null;
}

/** Largest M_DATA payload that fits a frame of `maxFrameBytes`. */
export function meshMaxDataPayload(maxFrameBytes: number): number {
  return maxFrameBytes - HEADER_BYTES - MESH_FLOW_PREFIX_BYTES;
}
