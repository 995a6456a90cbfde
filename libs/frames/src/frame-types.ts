/**
 * NowConnect tunnel wire format, version 1. The table of frame types and the
 * header layout; nothing here does I/O.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +---------------+---------------+-------------------------------+
 * |  version (8)  |   type (8)    |           flags (16)          |
 * +---------------+---------------+-------------------------------+
 * |                          flow id (32)                         |
 * +---------------------------------------------------------------+
 * |                       payload length (32)                     |
 * +---------------------------------------------------------------+
 * |                  payload (payload length bytes)  ...          |
 * +---------------------------------------------------------------+
 *
 * All integers are big-endian. One WebSocket binary message carries one or
 * more whole frames. Flow id 0 is the session itself (control frames); every
 * flow frame names a non-zero flow id chosen by the hub.
 */

export const PROTOCOL_VERSION = 1;

export const VERSION_BYTES = 1;
export const TYPE_BYTES = 1;
export const FLAGS_BYTES = 2;
export const FLOW_ID_BYTES = 4;
export const LENGTH_BYTES = 4;
export const HEADER_BYTES = VERSION_BYTES + TYPE_BYTES + FLAGS_BYTES + FLOW_ID_BYTES + LENGTH_BYTES;

export const OFFSET_VERSION = 0;
export const OFFSET_TYPE = OFFSET_VERSION + VERSION_BYTES;
export const OFFSET_FLAGS = OFFSET_TYPE + TYPE_BYTES;
export const OFFSET_FLOW_ID = OFFSET_FLAGS + FLAGS_BYTES;
export const OFFSET_LENGTH = OFFSET_FLOW_ID + FLOW_ID_BYTES;

export const MAX_FLOW_ID = 0xffffffff;
/** Default upper bound for one frame (header + payload); `limits.max_frame_bytes`. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Control payloads (HELLO, HELLO_ACK, GOAWAY) are small JSON documents. */
export const MAX_CONTROL_PAYLOAD_BYTES = 64 * 1024;
export const PING_PAYLOAD_BYTES = 8;
export const WINDOW_UPDATE_PAYLOAD_BYTES = 4;
export const MAX_CONNECTOR_NAME_BYTES = 255;

export enum FrameType {
  HELLO = 0x01,
  HELLO_ACK = 0x02,
  OPEN = 0x03,
  OPEN_ACK = 0x04,
  DATA = 0x05,
  FIN = 0x06,
  RST = 0x07,
  WINDOW_UPDATE = 0x08,
  PING = 0x09,
  PONG = 0x0a,
  GOAWAY = 0x0b,
  /**
   * Agent -> hub, flow id 0: per-connector target health (JSON, versioned by its `v` field; see
   * target-health.ts and docs/connectors.md). Sent only to a hub whose HELLO_ACK announced
   * `target_health` (an older hub would close the link on an unknown type).
   */
  TARGET_HEALTH = 0x0c,
  /**
   * Agent -> hub, session frame, JSON {"token": "<JWT>"}: in-band re-authentication before the
   * tunnel's token expires. Sent only to a hub whose HELLO_ACK carried `"reauth": true` (a hub
   * that predates it would close the tunnel on an unknown frame type).
   */
  REAUTH = 0x0d,
}

/**
 * Type codes 0x20..0x2f are reserved for the hub-to-hub mesh (M_OPEN, M_OPEN_ACK,
 * M_DATA, M_FIN, M_RST, ...); they carry an extended header defined with the mesh
 * and are refused as unknown on a tunnel.
 */
export const MESH_TYPE_FIRST = 0x20;
export const MESH_TYPE_LAST = 0x2f;

/** How a frame type's flow id and payload are constrained. */
export interface FrameRule {
  readonly name: string;
  /** true: flow id must be 0; false: flow id must be non-zero. */
  readonly session: boolean;
  readonly minPayload: number;
  /** Upper bound of the payload, or undefined for "up to max_frame_bytes". */
  readonly maxPayload: number | undefined;
}

export const FRAME_RULES: ReadonlyMap<number, FrameRule> = new Map<number, FrameRule>([
  [FrameType.HELLO, { name: 'HELLO', session: true, minPayload: 2, maxPayload: MAX_CONTROL_PAYLOAD_BYTES }],
  [FrameType.HELLO_ACK, { name: 'HELLO_ACK', session: true, minPayload: 2, maxPayload: MAX_CONTROL_PAYLOAD_BYTES }],
  [FrameType.OPEN, { name: 'OPEN', session: false, minPayload: 1, maxPayload: MAX_CONNECTOR_NAME_BYTES }],
  [FrameType.OPEN_ACK, { name: 'OPEN_ACK', session: false, minPayload: 0, maxPayload: 0 }],
  [FrameType.DATA, { name: 'DATA', session: false, minPayload: 1, maxPayload: undefined }],
  [FrameType.FIN, { name: 'FIN', session: false, minPayload: 0, maxPayload: 0 }],
  [FrameType.RST, { name: 'RST', session: false, minPayload: 0, maxPayload: 1 }],
  [FrameType.WINDOW_UPDATE, { name: 'WINDOW_UPDATE', session: false, minPayload: WINDOW_UPDATE_PAYLOAD_BYTES, maxPayload: WINDOW_UPDATE_PAYLOAD_BYTES }],
  [FrameType.PING, { name: 'PING', session: true, minPayload: PING_PAYLOAD_BYTES, maxPayload: PING_PAYLOAD_BYTES }],
  [FrameType.PONG, { name: 'PONG', session: true, minPayload: PING_PAYLOAD_BYTES, maxPayload: PING_PAYLOAD_BYTES }],
  [FrameType.GOAWAY, { name: 'GOAWAY', session: true, minPayload: 0, maxPayload: MAX_CONTROL_PAYLOAD_BYTES }],
  [FrameType.TARGET_HEALTH, { name: 'TARGET_HEALTH', session: true, minPayload: 2, maxPayload: MAX_CONTROL_PAYLOAD_BYTES }],
  [FrameType.REAUTH, { name: 'REAUTH', session: true, minPayload: 2, maxPayload: MAX_CONTROL_PAYLOAD_BYTES }],
]);

export function frameTypeName(type: number): string {
  return FRAME_RULES.get(type)?.name ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** Reason codes carried in the optional 1-byte RST payload. */
export enum RstReason {
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
  /** The agent is at limits.max_flows or limits.max_pending_connects (premise.yaml); a hub that predates it reads UNSPECIFIED. */
  AGENT_BUSY = 11,
}
