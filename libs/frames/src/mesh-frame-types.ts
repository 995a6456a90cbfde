/**
 * Hub-to-hub mesh wire format (version 1 header, types 0x20..0x2f). The table
 * of mesh frame types and the layout of their payloads; nothing here does I/O.
 * A mesh link carries only mesh frames, a tunnel only tunnel frames.
 *
 * Every mesh frame starts with the common 12-byte header (see frame-types.ts);
 * its flow id field holds the CID. Link frames (M_HELLO, M_PING, M_PONG,
 * M_GOAWAY) use CID 0; flow frames use a non-zero CID and start their payload
 * with the flow prefix:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +---------------+---------------+-------------------------------+
 * |  version (8)  |  type (8)     |           flags (16)          |
 * +---------------+---------------+-------------------------------+
 * |                            cid (32)                           |
 * +---------------------------------------------------------------+
 * |                       payload length (32)                     |
 * +===============================================================+
 * |                     owner epoch (64, high word)               |
 * |                     owner epoch (64, low word)                |
 * +---------------------------------------------------------------+
 * |                     seq (64, high word)                       |
 * |                     seq (64, low word)                        |
 * +---------------------------------------------------------------+
 * |                     body (type specific) ...                  |
 * +---------------------------------------------------------------+
 *
 * Bodies (all integers big-endian):
 *   M_OPEN          window u32 | connector_len u8 | connector | agent_len u8 | agent_id
 *   M_OPEN_ACK      window u32
 *   M_DATA          raw bytes (>= 1)
 *   M_FIN           (empty)
 *   M_RST           reason u8
 *   M_WINDOW_UPDATE increment u32 (> 0)
 * Link frames (cid 0, no flow prefix):
 *   M_HELLO         replica_len u8 | replica_id [| nonce (16) | proof_len u8 | proof (0 or 64)]
 *   M_PING, M_PONG  opaque (8)
 *   M_GOAWAY        reason u8
 *
 * epoch and seq are u64 on the wire and JavaScript safe integers (< 2^53) in
 * memory; a larger value is refused by the decoder.
 */

export enum MeshFrameType {
  M_HELLO = 0x20,
  M_OPEN = 0x21,
  M_OPEN_ACK = 0x22,
  M_DATA = 0x23,
  M_FIN = 0x24,
  M_RST = 0x25,
  M_WINDOW_UPDATE = 0x26,
  M_PING = 0x27,
  M_PONG = 0x28,
  M_GOAWAY = 0x29,
}

export const MESH_EPOCH_BYTES = 8;
export const MESH_SEQ_BYTES = 8;
/** epoch + seq at the start of every flow frame's payload. */
export const MESH_FLOW_PREFIX_BYTES = MESH_EPOCH_BYTES + MESH_SEQ_BYTES;
export const MESH_OFFSET_EPOCH = 0;
export const MESH_OFFSET_SEQ = MESH_OFFSET_EPOCH + MESH_EPOCH_BYTES;

export const MESH_WINDOW_BYTES = 4;
export const MESH_NAME_MAX_BYTES = 128;
export const MESH_PING_BYTES = 8;
/** M_HELLO identity fields: a fresh random nonce per hello, an Ed25519 signature as proof. */
export const MESH_HELLO_NONCE_BYTES = 16;
export const MESH_HELLO_PROOF_BYTES = 64;
/** Largest per-flow receive window a peer may announce (as HELLO_ACK's flow_window_bytes). */
export const MESH_MAX_WINDOW_BYTES = 1024 * 1024 * 1024;
export const MESH_MAX_CID = 0xffffffff;

const OPEN_MIN = MESH_FLOW_PREFIX_BYTES + MESH_WINDOW_BYTES + 1 + 1 + 1 + 1;
const OPEN_MAX = MESH_FLOW_PREFIX_BYTES + MESH_WINDOW_BYTES + 1 + MESH_NAME_MAX_BYTES + 1 + MESH_NAME_MAX_BYTES;

export interface MeshFrameRule {
  readonly name: string;
  /** true: cid must be 0 (link frame); false: cid must be non-zero (flow frame). */
  readonly link: boolean;
  readonly minPayload: number;
  /** undefined: up to max_frame_bytes. */
  readonly maxPayload: number | undefined;
}

export const MESH_FRAME_RULES: ReadonlyMap<number, MeshFrameRule> = new Map<number, MeshFrameRule>([
  [MeshFrameType.M_HELLO, { name: 'M_HELLO', link: true, minPayload: 2, maxPayload: 1 + MESH_NAME_MAX_BYTES + MESH_HELLO_NONCE_BYTES + 1 + MESH_HELLO_PROOF_BYTES }],
  [MeshFrameType.M_OPEN, { name: 'M_OPEN', link: false, minPayload: OPEN_MIN, maxPayload: OPEN_MAX }],
  [MeshFrameType.M_OPEN_ACK, { name: 'M_OPEN_ACK', link: false, minPayload: MESH_FLOW_PREFIX_BYTES + 4, maxPayload: MESH_FLOW_PREFIX_BYTES + 4 }],
  [MeshFrameType.M_DATA, { name: 'M_DATA', link: false, minPayload: MESH_FLOW_PREFIX_BYTES + 1, maxPayload: undefined }],
  [MeshFrameType.M_FIN, { name: 'M_FIN', link: false, minPayload: MESH_FLOW_PREFIX_BYTES, maxPayload: MESH_FLOW_PREFIX_BYTES }],
  [MeshFrameType.M_RST, { name: 'M_RST', link: false, minPayload: MESH_FLOW_PREFIX_BYTES + 1, maxPayload: MESH_FLOW_PREFIX_BYTES + 1 }],
  [
    MeshFrameType.M_WINDOW_UPDATE,
    { name: 'M_WINDOW_UPDATE', link: false, minPayload: MESH_FLOW_PREFIX_BYTES + 4, maxPayload: MESH_FLOW_PREFIX_BYTES + 4 },
  ],
  [MeshFrameType.M_PING, { name: 'M_PING', link: true, minPayload: MESH_PING_BYTES, maxPayload: MESH_PING_BYTES }],
  [MeshFrameType.M_PONG, { name: 'M_PONG', link: true, minPayload: MESH_PING_BYTES, maxPayload: MESH_PING_BYTES }],
  [MeshFrameType.M_GOAWAY, { name: 'M_GOAWAY', link: true, minPayload: 1, maxPayload: 1 }],
]);

export function meshFrameTypeName(type: number): string {
  return MESH_FRAME_RULES.get(type)?.name ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/**
 * M_RST reasons. 0..10 mean what the tunnel's RstReason means (same numbers);
 * 0x20.. are mesh-only. An unknown code decodes as UNSPECIFIED.
 */
export enum MeshRstReason {
  UNSPECIFIED = 0,
  CONNECT_REFUSED = 1,
  CONNECT_TIMEOUT = 2,
  NO_ROUTE = 3,
  UNKNOWN_CONNECTOR = 4,
  LIMIT = 5,
  PROTOCOL = 6,
  FLOW_CONTROL = 7,
  PEER_RESET = 8,
  SHUTDOWN = 9,
  DNS = 10,
  /** The frame's epoch is not the agent's current owner epoch (fenced). */
  STALE_EPOCH = 0x20,
  /** The receiving hub does not own (or no longer holds) the agent. */
  NOT_OWNER = 0x21,
  /** The link's writer queue or in-flight cap refused a new flow. */
  BACKPRESSURE = 0x22,
  /** Never on the wire: the link went down under the flow. */
  LINK_LOST = 0x2f,
}

/** Why a link is going away (M_GOAWAY). Unknown codes decode as UNSPECIFIED. */
export enum MeshGoawayReason {
  UNSPECIFIED = 0,
  SHUTDOWN = 1,
  DUPLICATE_LINK = 2,
  CID_EXHAUSTED = 3,
}
