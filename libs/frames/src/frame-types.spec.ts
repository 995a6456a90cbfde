import { FrameErrorCode } from './frame-error';
import {
  FLAGS_BYTES,
  FLOW_ID_BYTES,
  FRAME_RULES,
  FrameType,
  HEADER_BYTES,
  LENGTH_BYTES,
  MAX_CONNECTOR_NAME_BYTES,
  MAX_CONTROL_PAYLOAD_BYTES,
  MESH_TYPE_FIRST,
  MESH_TYPE_LAST,
  OFFSET_FLAGS,
  OFFSET_FLOW_ID,
  OFFSET_LENGTH,
  OFFSET_TYPE,
  OFFSET_VERSION,
  PING_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  RstReason,
  TYPE_BYTES,
  VERSION_BYTES,
  WINDOW_UPDATE_PAYLOAD_BYTES,
  frameTypeName,
} from './frame-types';

describe('header layout', () => {
  it('is 12 bytes: version, type, flags, flow id, length', () => {
    expect([VERSION_BYTES, TYPE_BYTES, FLAGS_BYTES, FLOW_ID_BYTES, LENGTH_BYTES]).toEqual([1, 1, 2, 4, 4]);
    expect(HEADER_BYTES).toBe(12);
    expect([OFFSET_VERSION, OFFSET_TYPE, OFFSET_FLAGS, OFFSET_FLOW_ID, OFFSET_LENGTH]).toEqual([0, 1, 2, 4, 8]);
    expect(PROTOCOL_VERSION).toBe(1);
  });
});

describe('frame type table', () => {
  it('assigns the v1 type codes', () => {
    expect([
      FrameType.HELLO,
      FrameType.HELLO_ACK,
      FrameType.OPEN,
      FrameType.OPEN_ACK,
      FrameType.DATA,
      FrameType.FIN,
      FrameType.RST,
      FrameType.WINDOW_UPDATE,
      FrameType.PING,
      FrameType.PONG,
      FrameType.GOAWAY,
      FrameType.TARGET_HEALTH,
      FrameType.REAUTH,
    ]).toEqual([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);
  });

  it('has one rule per type, with these flow id and payload constraints', () => {
    const table = [...FRAME_RULES.entries()].map(([type, r]) => [type, r.name, r.session, r.minPayload, r.maxPayload]);
    expect(table).toEqual([
      [0x01, 'HELLO', true, 2, MAX_CONTROL_PAYLOAD_BYTES],
      [0x02, 'HELLO_ACK', true, 2, MAX_CONTROL_PAYLOAD_BYTES],
      [0x03, 'OPEN', false, 1, MAX_CONNECTOR_NAME_BYTES],
      [0x04, 'OPEN_ACK', false, 0, 0],
      [0x05, 'DATA', false, 1, undefined],
      [0x06, 'FIN', false, 0, 0],
      [0x07, 'RST', false, 0, 1],
      [0x08, 'WINDOW_UPDATE', false, WINDOW_UPDATE_PAYLOAD_BYTES, WINDOW_UPDATE_PAYLOAD_BYTES],
      [0x09, 'PING', true, PING_PAYLOAD_BYTES, PING_PAYLOAD_BYTES],
      [0x0a, 'PONG', true, PING_PAYLOAD_BYTES, PING_PAYLOAD_BYTES],
      [0x0b, 'GOAWAY', true, 0, MAX_CONTROL_PAYLOAD_BYTES],
      [0x0c, 'TARGET_HEALTH', true, 2, MAX_CONTROL_PAYLOAD_BYTES],
      [0x0d, 'REAUTH', true, 2, MAX_CONTROL_PAYLOAD_BYTES],
    ]);
    expect([MAX_CONTROL_PAYLOAD_BYTES, MAX_CONNECTOR_NAME_BYTES, PING_PAYLOAD_BYTES, WINDOW_UPDATE_PAYLOAD_BYTES]).toEqual([65536, 255, 8, 4]);
  });

  it('keeps the mesh range 0x20..0x2f out of the tunnel table', () => {
    expect([MESH_TYPE_FIRST, MESH_TYPE_LAST]).toEqual([0x20, 0x2f]);
    for (let t = MESH_TYPE_FIRST; t <= MESH_TYPE_LAST; t++) expect(FRAME_RULES.has(t)).toBe(false);
  });

  it('names known types and formats unknown ones as hex', () => {
    expect(frameTypeName(FrameType.WINDOW_UPDATE)).toBe('WINDOW_UPDATE');
    expect(frameTypeName(0x00)).toBe('0x00');
    expect(frameTypeName(0x2a)).toBe('0x2a');
    expect(frameTypeName(0xff)).toBe('0xff');
  });

  it('numbers RST reasons stably', () => {
    expect([
      RstReason.UNSPECIFIED,
      RstReason.CONNECT_REFUSED,
      RstReason.CONNECT_TIMEOUT,
      RstReason.NO_ROUTE,
      RstReason.UNKNOWN_CONNECTOR,
      RstReason.LIMIT,
      RstReason.PROTOCOL,
      RstReason.FLOW_CONTROL,
      RstReason.PEER_RESET,
      RstReason.SHUTDOWN,
      RstReason.DNS,
    ]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe('FrameErrorCode', () => {
  it('keeps its stable string codes', () => {
    expect(Object.values(FrameErrorCode)).toEqual([
      'NC_ERR_UNSUPPORTED_VERSION',
      'NC_ERR_UNKNOWN_TYPE',
      'NC_ERR_FRAME_TOO_LARGE',
      'NC_ERR_INVALID_FLOW_ID',
      'NC_ERR_INVALID_PAYLOAD',
      'NC_ERR_RESERVED_FLAGS',
      'NC_ERR_TRUNCATED',
      'NC_ERR_UNEXPECTED_FRAME',
      'NC_ERR_NOT_BINARY',
    ]);
  });
});
