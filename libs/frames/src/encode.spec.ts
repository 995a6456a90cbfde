import { decodeGoaway, decodeHello, decodeHelloAck, decodeOpen, decodeRstReason, decodeWindowIncrement } from './control';
import { decodeFrames } from './decode';
import {
  encodeControl,
  encodeData,
  encodeFin,
  encodeFrame,
  encodeOpen,
  encodeOpenAck,
  encodePing,
  encodeRst,
  encodeWindowUpdate,
  writeHeader,
} from './encode';
import type { Frame } from './frame';
import { DEFAULT_MAX_FRAME_BYTES, FrameType, RstReason } from './frame-types';

/** Golden vector: hex written by hand, spaces only for reading. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const PING_OPAQUE = hex('0102030405060708');

interface Vector {
  readonly name: string;
  readonly encoded: () => Buffer;
  readonly bytes: string;
  readonly type: FrameType;
  readonly flowId: number;
  readonly payload: string;
}

// ver type flags flowid   length   payload
const VECTORS: readonly Vector[] = [
  {
    name: 'HELLO {"agent_id":"a","connectors":["b"],"version":"1"}',
    encoded: () => encodeControl(FrameType.HELLO, { agent_id: 'a', connectors: ['b'], version: '1' }),
    bytes:
      '01 01 0000 00000000 00000031 ' +
      '7b 22 61 67 65 6e 74 5f 69 64 22 3a 22 61 22 2c 22 63 6f 6e 6e 65 63 74 6f 72 73 22 3a 5b 22 62 22 5d 2c ' +
      '22 76 65 72 73 69 6f 6e 22 3a 22 31 22 7d',
    type: FrameType.HELLO,
    flowId: 0,
    payload: '{"agent_id":"a","connectors":["b"],"version":"1"}',
  },
  {
    name: 'HELLO_ACK',
    encoded: () =>
      encodeControl(FrameType.HELLO_ACK, { replica_id: 'r', flow_window_bytes: 262144, max_frame_bytes: 1048576, keepalive_sec: 15 }),
    bytes:
      '01 02 0000 00000000 0000005a ' +
      '7b 22 72 65 70 6c 69 63 61 5f 69 64 22 3a 22 72 22 2c ' +
      '22 66 6c 6f 77 5f 77 69 6e 64 6f 77 5f 62 79 74 65 73 22 3a 32 36 32 31 34 34 2c ' +
      '22 6d 61 78 5f 66 72 61 6d 65 5f 62 79 74 65 73 22 3a 31 30 34 38 35 37 36 2c ' +
      '22 6b 65 65 70 61 6c 69 76 65 5f 73 65 63 22 3a 31 35 7d',
    type: FrameType.HELLO_ACK,
    flowId: 0,
    payload: '{"replica_id":"r","flow_window_bytes":262144,"max_frame_bytes":1048576,"keepalive_sec":15}',
  },
  {
    name: 'OPEN flow 1 "db"',
    encoded: () => encodeOpen(1, 'db'),
    bytes: '01 03 0000 00000001 00000002 6462',
    type: FrameType.OPEN,
    flowId: 1,
    payload: 'db',
  },
  {
    name: 'OPEN_ACK flow 0x01020304',
    encoded: () => encodeOpenAck(0x01020304),
    bytes: '01 04 0000 01020304 00000000',
    type: FrameType.OPEN_ACK,
    flowId: 0x01020304,
    payload: '',
  },
  {
    name: 'DATA flow 7 "hi"',
    encoded: () => encodeData(7, Buffer.from('hi')),
    bytes: '01 05 0000 00000007 00000002 6869',
    type: FrameType.DATA,
    flowId: 7,
    payload: 'hi',
  },
  {
    name: 'FIN flow 0xffffffff',
    encoded: () => encodeFin(0xffffffff),
    bytes: '01 06 0000 ffffffff 00000000',
    type: FrameType.FIN,
    flowId: 0xffffffff,
    payload: '',
  },
  {
    name: 'RST flow 3 FLOW_CONTROL',
    encoded: () => encodeRst(3, RstReason.FLOW_CONTROL),
    bytes: '01 07 0000 00000003 00000001 07',
    type: FrameType.RST,
    flowId: 3,
    payload: '\x07',
  },
  {
    name: 'WINDOW_UPDATE flow 2 +65536',
    encoded: () => encodeWindowUpdate(2, 65536),
    bytes: '01 08 0000 00000002 00000004 00010000',
    type: FrameType.WINDOW_UPDATE,
    flowId: 2,
    payload: '\x00\x01\x00\x00',
  },
  {
    name: 'PING',
    encoded: () => encodePing(FrameType.PING, PING_OPAQUE),
    bytes: '01 09 0000 00000000 00000008 0102030405060708',
    type: FrameType.PING,
    flowId: 0,
    payload: '\x01\x02\x03\x04\x05\x06\x07\x08',
  },
  {
    name: 'PONG',
    encoded: () => encodePing(FrameType.PONG, PING_OPAQUE),
    bytes: '01 0a 0000 00000000 00000008 0102030405060708',
    type: FrameType.PONG,
    flowId: 0,
    payload: '\x01\x02\x03\x04\x05\x06\x07\x08',
  },
  {
    name: 'GOAWAY {"reason":"x"}',
    encoded: () => encodeControl(FrameType.GOAWAY, { reason: 'x' }),
    bytes: '01 0b 0000 00000000 0000000e 7b 22 72 65 61 73 6f 6e 22 3a 22 78 22 7d',
    type: FrameType.GOAWAY,
    flowId: 0,
    payload: '{"reason":"x"}',
  },
  {
    name: 'GOAWAY empty',
    encoded: () => encodeFrame(FrameType.GOAWAY, 0),
    bytes: '01 0b 0000 00000000 00000000',
    type: FrameType.GOAWAY,
    flowId: 0,
    payload: '',
  },
];

function decodeAll(buf: Buffer): Frame[] {
  const frames: Frame[] = [];
  const err = decodeFrames(buf, DEFAULT_MAX_FRAME_BYTES, (f) => frames.push(f));
  expect(err).toBeNull();
  return frames;
}

describe('golden vectors', () => {
  it('cover every frame type', () => {
    expect(new Set(VECTORS.map((v) => v.type)).size).toBe(11);
  });

  it.each(VECTORS)('encodes $name to the exact bytes', (v) => {
    expect(v.encoded().toString('hex')).toBe(hex(v.bytes).toString('hex'));
  });

  it.each(VECTORS)('decodes $name from the exact bytes', (v) => {
    const frames = decodeAll(hex(v.bytes));
    expect(frames).toHaveLength(1);
    const f = frames[0]!;
    expect({ type: f.type, flags: f.flags, flowId: f.flowId, payload: f.payload.toString('latin1') }).toEqual({
      type: v.type,
      flags: 0,
      flowId: v.flowId,
      payload: v.payload,
    });
  });

  it('decodes all vectors concatenated into one message, in order', () => {
    const frames = decodeAll(Buffer.concat(VECTORS.map((v) => hex(v.bytes))));
    expect(frames.map((f) => [f.type, f.flowId])).toEqual(VECTORS.map((v) => [v.type, v.flowId]));
  });

  it('decodes the control bodies of the vectors', () => {
    const [hello, ack] = VECTORS.map((v) => decodeAll(hex(v.bytes))[0]!.payload);
    expect(decodeHello(hello!)).toEqual({ agent_id: 'a', connectors: ['b'], version: '1' });
    expect(decodeHelloAck(ack!)).toEqual({ replica_id: 'r', flow_window_bytes: 262144, max_frame_bytes: 1048576, keepalive_sec: 15 });
    expect(decodeOpen(hex('6462'))).toBe('db');
    expect(decodeRstReason(hex('07'))).toBe(RstReason.FLOW_CONTROL);
    expect(decodeWindowIncrement(hex('00010000'))).toBe(65536);
    expect(decodeGoaway(hex('7b22726561736f6e223a2278227d'))).toEqual({ reason: 'x' });
  });
});

describe('round trips', () => {
  const payloads: Array<[FrameType, number, Buffer]> = [
    [FrameType.HELLO, 0, Buffer.from('{}')],
    [FrameType.HELLO_ACK, 0, Buffer.from('{"a":1}')],
    [FrameType.OPEN, 9, Buffer.alloc(255, 0x61)],
    [FrameType.OPEN_ACK, 9, Buffer.alloc(0)],
    [FrameType.DATA, 0x7fffffff, Buffer.alloc(DEFAULT_MAX_FRAME_BYTES - 12, 0xa5)],
    [FrameType.FIN, 1, Buffer.alloc(0)],
    [FrameType.RST, 1, Buffer.alloc(0)],
    [FrameType.RST, 1, Buffer.from([RstReason.DNS])],
    [FrameType.WINDOW_UPDATE, 1, hex('ffffffff')],
    [FrameType.PING, 0, hex('ffffffffffffffff')],
    [FrameType.PONG, 0, hex('0000000000000000')],
    [FrameType.GOAWAY, 0, Buffer.alloc(65536, 0x20)],
  ];

  it.each(payloads.map(([t, id, p]) => [FrameType[t], t, id, p] as const))('%s survives encode then decode', (_name, type, flowId, payload) => {
    const frames = decodeAll(encodeFrame(type, flowId, payload));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.type).toBe(type);
    expect(frames[0]!.flowId).toBe(flowId);
    expect(frames[0]!.payload.equals(payload)).toBe(true);
  });

  it('typed encoders round-trip their values', () => {
    const frames = decodeAll(
      Buffer.concat([encodeRst(5), encodeRst(5, RstReason.SHUTDOWN), encodeWindowUpdate(5, 0xffffffff), encodeOpen(5, 'db.prod:5432')]),
    );
    expect(decodeRstReason(frames[0]!.payload)).toBe(RstReason.UNSPECIFIED);
    expect(frames[0]!.payload.toString('hex')).toBe('00');
    expect(decodeRstReason(frames[1]!.payload)).toBe(RstReason.SHUTDOWN);
    expect(decodeWindowIncrement(frames[2]!.payload)).toBe(0xffffffff);
    expect(decodeOpen(frames[3]!.payload)).toBe('db.prod:5432');
  });
});

describe('encoder details', () => {
  it('encodeFrame copies the payload (no aliasing)', () => {
    const payload = Buffer.from('abc');
    const out = encodeData(1, payload);
    payload[0] = 0x7a;
    expect(out.subarray(12).toString()).toBe('abc');
  });

  it('writeHeader writes in place at an offset, flags included', () => {
    const target = Buffer.alloc(16, 0xee);
    writeHeader(target, 2, FrameType.DATA, 0x0a0b0c0d, 0x01020304, 0xbeef);
    expect(target.toString('hex')).toBe('eeee' + '01 05 beef 0a0b0c0d 01020304'.replace(/ /g, '') + 'eeee');
  });

  it('encodePing refuses an opaque value that is not 8 bytes', () => {
    expect(() => encodePing(FrameType.PING, Buffer.alloc(7))).toThrow(RangeError);
    expect(() => encodePing(FrameType.PONG, Buffer.alloc(9))).toThrow(RangeError);
  });

  it('encodes OPEN names as UTF-8', () => {
    expect(encodeOpen(1, 'é').toString('hex')).toBe('01030000' + '00000001' + '00000002' + 'c3a9');
  });
});
