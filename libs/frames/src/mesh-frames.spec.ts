import { decodeFrames } from './decode';
import { FrameError, FrameErrorCode } from './frame-error';
import { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES } from './frame-types';
import { MESH_FLOW_PREFIX_BYTES, MESH_FRAME_RULES, MeshFrameType, MeshGoawayReason, MeshRstReason, meshFrameTypeName } from './mesh-frame-types';
import {
  decodeMeshFrames,
  encodeMeshData,
  encodeMeshDataHead,
  encodeMeshFin,
  encodeMeshGoaway,
  encodeMeshHello,
  encodeMeshOpen,
  encodeMeshOpenAck,
  encodeMeshPing,
  encodeMeshRst,
  encodeMeshWindowUpdate,
  isMeshFlowFrame,
  MeshFrame,
  meshMaxDataPayload,
} from './mesh-frames';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MAX = DEFAULT_MAX_FRAME_BYTES;

function decodeAll(buf: Buffer, max = MAX): { frames: MeshFrame[]; err: FrameError | null } {
  const frames: MeshFrame[] = [];
  const err = decodeMeshFrames(buf, max, (f) => frames.push(f));
  return { frames, err };
}

function decodeOne(buf: Buffer): MeshFrame {
  const { frames, err } = decodeAll(buf);
  expect(err).toBeNull();
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

// epoch 5 = 00000000 00000005, seq 7 = 00000000 00000007
const PREFIX = '0000000000000005 0000000000000007';

interface Vector {
  readonly name: string;
  readonly encoded: () => Buffer;
  readonly bytes: string;
  readonly decoded: MeshFrame;
}

//                  ver type flags cid      length
const VECTORS: readonly Vector[] = [
  {
    name: 'M_HELLO "hub-a"',
    encoded: () => encodeMeshHello('hub-a'),
    bytes: '01 20 0000 00000000 00000006 05 6875622d61',
    decoded: { type: MeshFrameType.M_HELLO, replicaId: 'hub-a' },
  },
  {
    name: 'M_OPEN cid 3 connector "db" agent "a1" window 65536',
    encoded: () => encodeMeshOpen({ cid: 3, epoch: 5, seq: 7, connector: 'db', agentId: 'a1', window: 65536 }),
    bytes: `01 21 0000 00000003 0000001a ${PREFIX} 00010000 02 6462 02 6131`,
    decoded: { type: MeshFrameType.M_OPEN, cid: 3, epoch: 5, seq: 7, connector: 'db', agentId: 'a1', window: 65536 },
  },
  {
    name: 'M_HELLO "hub-a" with a nonce, no proof yet',
    encoded: () => encodeMeshHello('hub-a', { nonce: Buffer.alloc(16, 0xab), proof: undefined }),
    bytes: `01 20 0000 00000000 00000017 05 6875622d61 ${'ab'.repeat(16)} 00`,
    decoded: { type: MeshFrameType.M_HELLO, replicaId: 'hub-a', identity: { nonce: Buffer.alloc(16, 0xab), proof: undefined } },
  },
  {
    name: 'M_HELLO "hub-a" with a nonce and a proof',
    encoded: () => encodeMeshHello('hub-a', { nonce: Buffer.alloc(16, 0xab), proof: Buffer.alloc(64, 0xcd) }),
    bytes: `01 20 0000 00000000 00000057 05 6875622d61 ${'ab'.repeat(16)} 40 ${'cd'.repeat(64)}`,
    decoded: { type: MeshFrameType.M_HELLO, replicaId: 'hub-a', identity: { nonce: Buffer.alloc(16, 0xab), proof: Buffer.alloc(64, 0xcd) } },
  },
  {
    name: 'M_OPEN_ACK window 4096',
    encoded: () => encodeMeshOpenAck(3, 5, 7, 4096),
    bytes: `01 22 0000 00000003 00000014 ${PREFIX} 00001000`,
    decoded: { type: MeshFrameType.M_OPEN_ACK, cid: 3, epoch: 5, seq: 7, window: 4096 },
  },
  {
    name: 'M_FIN',
    encoded: () => encodeMeshFin(3, 5, 7),
    bytes: `01 24 0000 00000003 00000010 ${PREFIX}`,
    decoded: { type: MeshFrameType.M_FIN, cid: 3, epoch: 5, seq: 7 },
  },
  {
    name: 'M_RST STALE_EPOCH',
    encoded: () => encodeMeshRst(3, 5, 7, MeshRstReason.STALE_EPOCH),
    bytes: `01 25 0000 00000003 00000011 ${PREFIX} 20`,
    decoded: { type: MeshFrameType.M_RST, cid: 3, epoch: 5, seq: 7, reason: MeshRstReason.STALE_EPOCH },
  },
  {
    name: 'M_WINDOW_UPDATE 65536',
    encoded: () => encodeMeshWindowUpdate(3, 5, 7, 65536),
    bytes: `01 26 0000 00000003 00000014 ${PREFIX} 00010000`,
    decoded: { type: MeshFrameType.M_WINDOW_UPDATE, cid: 3, epoch: 5, seq: 7, increment: 65536 },
  },
  {
    name: 'M_GOAWAY DUPLICATE_LINK',
    encoded: () => encodeMeshGoaway(MeshGoawayReason.DUPLICATE_LINK),
    bytes: '01 29 0000 00000000 00000001 02',
    decoded: { type: MeshFrameType.M_GOAWAY, reason: MeshGoawayReason.DUPLICATE_LINK },
  },
];

describe('mesh frames: golden vectors', () => {
  it.each(VECTORS)('$name encodes to the reference bytes and decodes back', (v) => {
    expect(v.encoded().toString('hex')).toBe(hex(v.bytes).toString('hex'));
    expect(decodeOne(hex(v.bytes))).toEqual(v.decoded);
  });

  it('M_DATA: raw payload after the prefix, decoded as a view into the message', () => {
    const buf = encodeMeshData(0xfffffffe, 5, 7, Buffer.from('hi'));
    expect(buf.toString('hex')).toBe(hex(`01 23 0000 fffffffe 00000012 ${PREFIX} 6869`).toString('hex'));
    const f = decodeOne(buf);
    expect(f).toEqual({ type: MeshFrameType.M_DATA, cid: 0xfffffffe, epoch: 5, seq: 7, payload: Buffer.from('hi') });
    if (f.type !== MeshFrameType.M_DATA) throw new Error('not DATA');
    expect(f.payload.buffer).toBe(buf.buffer);
    expect(f.payload.byteOffset).toBe(buf.byteOffset + HEADER_BYTES + MESH_FLOW_PREFIX_BYTES);
  });

  it('M_DATA head: the same 28 bytes as the start of encodeMeshData, so head + payload is the frame (no payload copy)', () => {
    const payload = Buffer.from('payload bytes');
    const head = encodeMeshDataHead(0xfffffffe, 5, 7, payload.length);
    expect(head.length).toBe(HEADER_BYTES + MESH_FLOW_PREFIX_BYTES);
    expect(Buffer.concat([head, payload]).equals(encodeMeshData(0xfffffffe, 5, 7, payload))).toBe(true);
    expect(() => encodeMeshDataHead(1, 1, 1, 0)).toThrow(RangeError);
  });

  it('M_PING / M_PONG carry 8 opaque bytes on cid 0', () => {
    const opaque = hex('0102030405060708');
    expect(encodeMeshPing(MeshFrameType.M_PING, opaque).toString('hex')).toBe('0127000000000000000000080102030405060708');
    expect(decodeOne(encodeMeshPing(MeshFrameType.M_PONG, opaque))).toEqual({ type: MeshFrameType.M_PONG, opaque });
  });

  it('epoch and seq use all 64 bits up to 2^53-1', () => {
    const big = Number.MAX_SAFE_INTEGER;
    const buf = encodeMeshFin(1, big, big - 1);
    expect(buf.subarray(HEADER_BYTES).toString('hex')).toBe('001fffffffffffff001ffffffffffffe');
    expect(decodeOne(buf)).toEqual({ type: MeshFrameType.M_FIN, cid: 1, epoch: big, seq: big - 1 });
  });

  it('several frames in one message decode in order', () => {
    const msg = Buffer.concat([encodeMeshHello('b'), encodeMeshData(1, 1, 1, Buffer.from('x')), encodeMeshFin(1, 1, 2)]);
    expect(decodeAll(msg).frames.map((f) => f.type)).toEqual([MeshFrameType.M_HELLO, MeshFrameType.M_DATA, MeshFrameType.M_FIN]);
  });

  it('isMeshFlowFrame tells flow frames from link frames', () => {
    expect(isMeshFlowFrame(decodeOne(encodeMeshFin(1, 1, 1)))).toBe(true);
    expect(isMeshFlowFrame(decodeOne(encodeMeshHello('a')))).toBe(false);
  });

  it('meshMaxDataPayload leaves room for the header and prefix', () => {
    expect(meshMaxDataPayload(1024)).toBe(1024 - 12 - 16);
    const buf = encodeMeshData(1, 1, 1, Buffer.alloc(meshMaxDataPayload(1024), 1));
    expect(buf.length).toBe(1024);
    expect(decodeAll(buf, 1024).err).toBeNull();
  });

  it('names every type and shows unknown codes in hex', () => {
    expect(meshFrameTypeName(MeshFrameType.M_OPEN)).toBe('M_OPEN');
    expect(meshFrameTypeName(0x2f)).toBe('0x2f');
    expect([...MESH_FRAME_RULES.keys()].every((t) => t >= 0x20 && t <= 0x2f)).toBe(true);
  });
});

describe('mesh frames: the tunnel and the mesh refuse each other', () => {
  it('the tunnel decoder refuses every mesh frame as UNKNOWN_TYPE', () => {
    for (const v of VECTORS) {
      expect(decodeFrames(v.encoded(), MAX, () => undefined)?.code).toBe(FrameErrorCode.UNKNOWN_TYPE);
    }
  });

  it('the mesh decoder refuses tunnel frames (0x01..0x0d) as UNKNOWN_TYPE', () => {
    for (let t = 0x01; t <= 0x0d; t++) {
      expect(decodeAll(hex(`01 ${t.toString(16).padStart(2, '0')} 0000 00000001 00000000`)).err?.code).toBe(FrameErrorCode.UNKNOWN_TYPE);
    }
  });
});

describe('decodeMeshFrames: every error code', () => {
  const fin = (): Buffer => encodeMeshFin(1, 1, 1);

  it('UNSUPPORTED_VERSION', () => {
    const b = fin();
    b[0] = 2;
    expect(decodeAll(b).err?.code).toBe(FrameErrorCode.UNSUPPORTED_VERSION);
  });

  it('UNKNOWN_TYPE for unused mesh codes 0x2a..0x2f', () => {
    for (let t = 0x2a; t <= 0x2f; t++) {
      const b = fin();
      b[1] = t;
      expect(decodeAll(b).err?.code).toBe(FrameErrorCode.UNKNOWN_TYPE);
    }
  });

  it('RESERVED_FLAGS', () => {
    const b = fin();
    b.writeUInt16BE(0x8000, 2);
    expect(decodeAll(b).err?.code).toBe(FrameErrorCode.RESERVED_FLAGS);
  });

  it('FRAME_TOO_LARGE (inclusive limit)', () => {
    const b = encodeMeshData(1, 1, 1, Buffer.alloc(100));
    expect(decodeAll(b, b.length).err).toBeNull();
    expect(decodeAll(b, b.length - 1).err?.code).toBe(FrameErrorCode.FRAME_TOO_LARGE);
  });

  it('INVALID_FLOW_ID: cid 0 on a flow frame, a non-zero cid on a link frame', () => {
    const b = fin();
    b.writeUInt32BE(0, 4);
    expect(decodeAll(b).err?.code).toBe(FrameErrorCode.INVALID_FLOW_ID);
    const h = encodeMeshHello('a');
    h.writeUInt32BE(9, 4);
    expect(decodeAll(h).err?.code).toBe(FrameErrorCode.INVALID_FLOW_ID);
  });

  it('INVALID_PAYLOAD: lengths outside each type`s bounds', () => {
    for (const [type, rule] of MESH_FRAME_RULES) {
      const cid = rule.link ? 0 : 1;
      if (rule.minPayload > 0) {
        const tooShort = Buffer.alloc(HEADER_BYTES + rule.minPayload - 1);
        tooShort.writeUInt8(1, 0);
        tooShort.writeUInt8(type, 1);
        tooShort.writeUInt32BE(cid, 4);
        tooShort.writeUInt32BE(rule.minPayload - 1, 8);
        expect([type, decodeAll(tooShort).err?.code]).toEqual([type, FrameErrorCode.INVALID_PAYLOAD]);
      }
      if (rule.maxPayload !== undefined) {
        const tooLong = Buffer.alloc(HEADER_BYTES + rule.maxPayload + 1);
        tooLong.writeUInt8(1, 0);
        tooLong.writeUInt8(type, 1);
        tooLong.writeUInt32BE(cid, 4);
        tooLong.writeUInt32BE(rule.maxPayload + 1, 8);
        expect([type, decodeAll(tooLong).err?.code]).toEqual([type, FrameErrorCode.INVALID_PAYLOAD]);
      }
    }
  });

  it('INVALID_PAYLOAD: epoch or seq past 2^53-1', () => {
    const b = fin();
    b.writeUInt32BE(0x00200000, HEADER_BYTES);
    expect(decodeAll(b).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    const c = fin();
    c.writeUInt32BE(0xffffffff, HEADER_BYTES + 8);
    expect(decodeAll(c).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('INVALID_PAYLOAD: M_HELLO identity fields of the wrong size; the encoder refuses them too', () => {
    const good = encodeMeshHello('abc', { nonce: Buffer.alloc(16), proof: Buffer.alloc(64) });
    const withLength = (b: Buffer): Buffer => {
      b.writeUInt32BE(b.length - HEADER_BYTES, 8);
      return b;
    };
    const shortNonce = withLength(Buffer.concat([good.subarray(0, HEADER_BYTES + 4 + 10)]));
    const badProofLen = Buffer.from(good);
    badProofLen[HEADER_BYTES + 4 + 16] = 63;
    const trailing = withLength(Buffer.concat([good, Buffer.from([0])]));
    for (const b of [shortNonce, badProofLen, trailing]) expect(decodeAll(b).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    expect(() => encodeMeshHello('abc', { nonce: Buffer.alloc(15), proof: undefined })).toThrow(RangeError);
    expect(() => encodeMeshHello('abc', { nonce: Buffer.alloc(16), proof: Buffer.alloc(32) })).toThrow(RangeError);
  });

  it('INVALID_PAYLOAD: bad names in M_HELLO and M_OPEN', () => {
    const hello = encodeMeshHello('abc');
    hello[HEADER_BYTES + 1] = 0x2f; // '/'
    expect(decodeAll(hello).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    const helloLen = encodeMeshHello('abc');
    helloLen[HEADER_BYTES] = 2; // name shorter than the payload: trailing byte
    expect(decodeAll(helloLen).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    const open = (): Buffer => encodeMeshOpen({ cid: 1, epoch: 1, seq: 1, connector: 'db', agentId: 'ag', window: 10 });
    const at = HEADER_BYTES + MESH_FLOW_PREFIX_BYTES + 4;
    const badConnector = open();
    badConnector[at + 1] = 0x20; // space
    expect(decodeAll(badConnector).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    const zeroLen = open();
    zeroLen[at] = 0;
    expect(decodeAll(zeroLen).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    const overLen = open();
    overLen[at + 3] = 9; // agent length runs past the end
    expect(decodeAll(overLen).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    const highBit = open();
    highBit[at + 4] = 0xe9; // non-ASCII byte in the agent id
    expect(decodeAll(highBit).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('INVALID_PAYLOAD: zero or oversized windows, zero increments', () => {
    const at = HEADER_BYTES + MESH_FLOW_PREFIX_BYTES;
    for (const w of [0, 0x40000001, 0xffffffff]) {
      const open = encodeMeshOpen({ cid: 1, epoch: 1, seq: 1, connector: 'db', agentId: 'ag', window: 10 });
      open.writeUInt32BE(w, at);
      expect(decodeAll(open).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
      const ack = encodeMeshOpenAck(1, 1, 1, 10);
      ack.writeUInt32BE(w, at);
      expect(decodeAll(ack).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    }
    const wu = encodeMeshWindowUpdate(1, 1, 1, 5);
    wu.writeUInt32BE(0, at);
    expect(decodeAll(wu).err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('TRUNCATED header and payload', () => {
    expect(decodeAll(fin().subarray(0, 5)).err?.code).toBe(FrameErrorCode.TRUNCATED);
    expect(decodeAll(fin().subarray(0, HEADER_BYTES + 3)).err?.code).toBe(FrameErrorCode.TRUNCATED);
  });

  it('delivers frames before a bad one and reports the bad frame`s offset', () => {
    const good = encodeMeshHello('a');
    const bad = fin();
    bad[0] = 9;
    const { frames, err } = decodeAll(Buffer.concat([good, bad, encodeMeshHello('b')]));
    expect(frames).toHaveLength(1);
    expect(err?.offset).toBe(good.length);
  });

  it('unknown RST and GOAWAY reason codes decode as UNSPECIFIED', () => {
    const rst = encodeMeshRst(1, 1, 1, MeshRstReason.LIMIT);
    rst[HEADER_BYTES + MESH_FLOW_PREFIX_BYTES] = 0x7f;
    expect(decodeOne(rst)).toMatchObject({ reason: MeshRstReason.UNSPECIFIED });
    const lost = encodeMeshRst(1, 1, 1, MeshRstReason.LIMIT);
    lost[HEADER_BYTES + MESH_FLOW_PREFIX_BYTES] = MeshRstReason.LINK_LOST;
    expect(decodeOne(lost)).toMatchObject({ reason: MeshRstReason.UNSPECIFIED });
    const goaway = encodeMeshGoaway(MeshGoawayReason.SHUTDOWN);
    goaway[HEADER_BYTES] = 0xee;
    expect(decodeOne(goaway)).toEqual({ type: MeshFrameType.M_GOAWAY, reason: MeshGoawayReason.UNSPECIFIED });
  });

  it('an empty message is no frames and no error', () => {
    expect(decodeAll(Buffer.alloc(0))).toEqual({ frames: [], err: null });
  });
});

describe('mesh encoders refuse bad arguments (caller bugs)', () => {
  it.each<[string, () => Buffer]>([
    ['cid 0', () => encodeMeshFin(0, 1, 1)],
    ['cid 2^32', () => encodeMeshFin(2 ** 32, 1, 1)],
    ['negative epoch', () => encodeMeshFin(1, -1, 1)],
    ['unsafe seq', () => encodeMeshFin(1, 1, 2 ** 53)],
    ['fractional seq', () => encodeMeshFin(1, 1, 1.5)],
    ['bad connector', () => encodeMeshOpen({ cid: 1, epoch: 1, seq: 1, connector: 'a b', agentId: 'x', window: 1 })],
    ['bad agent id', () => encodeMeshOpen({ cid: 1, epoch: 1, seq: 1, connector: 'a', agentId: '', window: 1 })],
    ['zero window', () => encodeMeshOpenAck(1, 1, 1, 0)],
    ['empty data', () => encodeMeshData(1, 1, 1, Buffer.alloc(0))],
    ['zero increment', () => encodeMeshWindowUpdate(1, 1, 1, 0)],
    ['short ping', () => encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(7))],
    ['bad replica id', () => encodeMeshHello('-x')],
    ['LINK_LOST on the wire', () => encodeMeshRst(1, 1, 1, MeshRstReason.LINK_LOST)],
  ])('%s', (_name, fn) => {
    expect(fn).toThrow(RangeError);
  });
});
