import { checkHeader, decodeFrames, FrameDecoder } from './decode';
import { encodeControl, encodeData, encodeFin, encodeFrame, encodeOpen, encodeOpenAck, encodePing, encodeRst, encodeWindowUpdate } from './encode';
import type { Frame } from './frame';
import { FrameError, FrameErrorCode } from './frame-error';
import { DEFAULT_MAX_FRAME_BYTES, FrameType, RstReason } from './frame-types';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MAX = DEFAULT_MAX_FRAME_BYTES;

interface Seen {
  readonly type: number;
  readonly flowId: number;
  readonly payload: string;
}
const seen = (f: Frame): Seen => ({ type: f.type, flowId: f.flowId, payload: f.payload.toString('hex') });

function decodeWhole(buf: Buffer, max = MAX): { frames: Seen[]; err: FrameError | null } {
  const frames: Seen[] = [];
  const err = decodeFrames(buf, max, (f) => frames.push(seen(f)));
  return { frames, err };
}

function decodeChunks(chunks: readonly Buffer[], max = MAX): { frames: Seen[]; err: FrameError | null } {
  const frames: Seen[] = [];
  const d = new FrameDecoder(max);
  let err: FrameError | null = null;
  for (const c of chunks) {
    err = d.push(c, (f) => frames.push(seen(f)));
    if (err !== null) return { frames, err };
  }
  return { frames, err: d.end() };
}

function errorOf(bytes: string, max = MAX): FrameError {
  const { frames, err } = decodeWhole(hex(bytes), max);
  expect(frames).toEqual([]);
  expect(err).toBeInstanceOf(FrameError);
  return err!;
}

/** Every frame type, including edge payload sizes. */
const STREAM: readonly Buffer[] = [
  encodeControl(FrameType.HELLO, { agent_id: 'a', connectors: ['b'], version: '1' }),
  encodeControl(FrameType.HELLO_ACK, { replica_id: 'r', flow_window_bytes: 65536, max_frame_bytes: 1048576, keepalive_sec: 15 }),
  encodeOpen(1, 'db'),
  encodeOpenAck(1),
  encodeData(1, Buffer.from('hello, world')),
  encodeData(0xffffffff, Buffer.from([0])),
  encodeWindowUpdate(1, 1),
  encodeFrame(FrameType.RST, 2),
  encodeRst(3, RstReason.NO_ROUTE),
  encodePing(FrameType.PING, hex('0001020304050607')),
  encodePing(FrameType.PONG, hex('0706050403020100')),
  encodeFin(1),
  encodeFrame(FrameType.GOAWAY, 0),
  encodeControl(FrameType.GOAWAY, { reason: 'drain' }),
];
const STREAM_BYTES = Buffer.concat(STREAM);

describe('decodeFrames: every error code', () => {
  it('UNSUPPORTED_VERSION for versions 0, 2 and 255', () => {
    for (const v of ['00', '02', 'ff']) {
      const err = errorOf(`${v} 05 0000 00000001 00000001 61`);
      expect(err.code).toBe(FrameErrorCode.UNSUPPORTED_VERSION);
      expect(err.offset).toBe(0);
    }
  });

  it('UNKNOWN_TYPE for 0x00, 0x0e, 0x1f, 0x30, 0xff', () => {
    for (const t of ['00', '0e', '1f', '30', 'ff']) {
      expect(errorOf(`01 ${t} 0000 00000001 00000000`).code).toBe(FrameErrorCode.UNKNOWN_TYPE);
    }
  });

  it('UNKNOWN_TYPE for every code of the reserved mesh range 0x20..0x2f', () => {
    for (let t = 0x20; t <= 0x2f; t++) {
      const err = errorOf(`01 ${t.toString(16)} 0000 00000001 00000000`);
      expect(err.code).toBe(FrameErrorCode.UNKNOWN_TYPE);
      expect(err.message).toBe(`unknown frame type 0x${t.toString(16)}`);
    }
  });

  it('FRAME_TOO_LARGE when header + payload exceed max_frame_bytes (limit is inclusive)', () => {
    expect(errorOf('01 05 0000 00000001 00000015', 32).code).toBe(FrameErrorCode.FRAME_TOO_LARGE); // 12 + 21 = 33
    expect(decodeWhole(encodeData(1, Buffer.alloc(20)), 32)).toEqual({ frames: [{ type: 5, flowId: 1, payload: '00'.repeat(20) }], err: null });
    expect(errorOf('01 05 0000 00000001 ffffffff').code).toBe(FrameErrorCode.FRAME_TOO_LARGE);
  });

  it('FRAME_TOO_LARGE is reported from the header alone, before the payload arrives', () => {
    const d = new FrameDecoder(MAX);
    const err = d.push(hex('01 05 0000 00000001 00100000'), () => undefined); // 12 + 1 MiB
    expect(err?.code).toBe(FrameErrorCode.FRAME_TOO_LARGE);
  });

  it('INVALID_FLOW_ID: flow id 0 on every flow frame', () => {
    for (const t of ['03', '04', '05', '06', '07', '08']) {
      const len = t === '08' ? '00000004 00000001' : t === '03' || t === '05' ? '00000001 61' : '00000000';
      const err = errorOf(`01 ${t} 0000 00000000 ${len}`);
      expect(err.code).toBe(FrameErrorCode.INVALID_FLOW_ID);
    }
  });

  it('INVALID_FLOW_ID: a non-zero flow id on every session frame', () => {
    for (const [t, body] of [
      ['01', '00000002 7b7d'],
      ['02', '00000002 7b7d'],
      ['09', '00000008 0000000000000000'],
      ['0a', '00000008 0000000000000000'],
      ['0b', '00000000'],
    ] as const) {
      expect(errorOf(`01 ${t} 0000 00000001 ${body}`).code).toBe(FrameErrorCode.INVALID_FLOW_ID);
    }
  });

  it('INVALID_PAYLOAD: payload length out of range for each type', () => {
    const cases = [
      '01 01 0000 00000000 00000001 7b', // HELLO < 2
      '01 01 0000 00000000 00010001', // HELLO > 64 KiB
      '01 02 0000 00000000 00000000', // HELLO_ACK < 2
      '01 03 0000 00000001 00000000', // OPEN empty
      '01 03 0000 00000001 00000100', // OPEN > 255
      '01 04 0000 00000001 00000001 00', // OPEN_ACK with payload
      '01 05 0000 00000001 00000000', // DATA empty
      '01 06 0000 00000001 00000001 00', // FIN with payload
      '01 07 0000 00000001 00000002 0000', // RST > 1
      '01 08 0000 00000001 00000003 000001', // WINDOW_UPDATE 3 bytes
      '01 08 0000 00000001 00000005 0000000100', // WINDOW_UPDATE 5 bytes
      '01 09 0000 00000000 00000007 00000000000000', // PING 7
      '01 0a 0000 00000000 00000009 000000000000000000', // PONG 9
      '01 0b 0000 00000000 00010001', // GOAWAY > 64 KiB
    ];
    for (const c of cases) {
      const err = errorOf(c);
      expect([c, err.code]).toEqual([c, FrameErrorCode.INVALID_PAYLOAD]);
    }
  });

  it('accepts the exact payload bounds', () => {
    const ok = [
      encodeFrame(FrameType.HELLO, 0, Buffer.alloc(65536)),
      encodeFrame(FrameType.OPEN, 1, Buffer.alloc(255, 0x61)),
      encodeFrame(FrameType.OPEN, 1, Buffer.from('a')),
      encodeFrame(FrameType.RST, 1, Buffer.alloc(0)),
      encodeFrame(FrameType.GOAWAY, 0, Buffer.alloc(65536)),
    ];
    expect(decodeWhole(Buffer.concat(ok)).err).toBeNull();
  });

  it('INVALID_PAYLOAD: a zero WINDOW_UPDATE increment', () => {
    const err = errorOf('01 08 0000 00000001 00000004 00000000');
    expect(err.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    expect(err.message).toBe('WINDOW_UPDATE: increment must be positive');
  });

  it('RESERVED_FLAGS for any flag bit', () => {
    for (const flags of ['0001', '8000', 'ffff']) {
      expect(errorOf(`01 05 ${flags} 00000001 00000001 61`).code).toBe(FrameErrorCode.RESERVED_FLAGS);
    }
  });

  it('TRUNCATED header and TRUNCATED payload', () => {
    const h = errorOf('01 05 0000 00000001 000000');
    expect([h.code, h.message, h.offset]).toEqual([FrameErrorCode.TRUNCATED, 'truncated header: 11 of 12 bytes', 0]);
    const p = errorOf('01 05 0000 00000001 00000003 6162');
    expect([p.code, p.message, p.offset]).toEqual([FrameErrorCode.TRUNCATED, 'truncated payload: 2 of 3 bytes', 0]);
    expect(errorOf('01').code).toBe(FrameErrorCode.TRUNCATED);
  });

  it('checks version before type, type before flags, flags before size, size before flow id, flow id before payload', () => {
    expect(errorOf('02 ff ffff 00000000 ffffffff').code).toBe(FrameErrorCode.UNSUPPORTED_VERSION);
    expect(errorOf('01 ff ffff 00000000 ffffffff').code).toBe(FrameErrorCode.UNKNOWN_TYPE);
    expect(errorOf('01 05 ffff 00000000 ffffffff').code).toBe(FrameErrorCode.RESERVED_FLAGS);
    expect(errorOf('01 05 0000 00000000 ffffffff').code).toBe(FrameErrorCode.FRAME_TOO_LARGE);
    expect(errorOf('01 05 0000 00000000 00000000').code).toBe(FrameErrorCode.INVALID_FLOW_ID);
  });
});

describe('decodeFrames: message semantics', () => {
  it('decodes an empty message to no frames and no error', () => {
    expect(decodeWhole(Buffer.alloc(0))).toEqual({ frames: [], err: null });
  });

  it('delivers the frames before a bad one, none after, and reports the bad frame offset', () => {
    const buf = Buffer.concat([encodeData(1, Buffer.from('a')), encodeFin(1), hex('01 05 0001 00000001 00000001 62'), encodeFin(2)]);
    const { frames, err } = decodeWhole(buf);
    expect(frames).toEqual([
      { type: FrameType.DATA, flowId: 1, payload: '61' },
      { type: FrameType.FIN, flowId: 1, payload: '' },
    ]);
    expect(err?.code).toBe(FrameErrorCode.RESERVED_FLAGS);
    expect(err?.offset).toBe(13 + 12);
  });

  it('payloads are views into the message (no copy)', () => {
    const buf = encodeData(1, Buffer.from('xyz'));
    let payload: Buffer | undefined;
    decodeFrames(buf, MAX, (f) => (payload = f.payload));
    buf[12] = 0x41;
    expect(payload?.toString()).toBe('Ayz');
  });

  it('checkHeader returns the payload length of a good header', () => {
    expect(checkHeader(hex('ff ff 01 05 0000 00000009 00000003'), 2, MAX)).toBe(3);
  });
});

describe('FrameDecoder', () => {
  const expected = decodeWhole(STREAM_BYTES);

  it('the reference stream decodes whole', () => {
    expect(expected.err).toBeNull();
    expect(expected.frames.map((f) => f.type)).toEqual(STREAM.map((b) => b[1]));
  });

  it('yields identical frames when the stream is split at every offset', () => {
    for (let i = 0; i <= STREAM_BYTES.length; i++) {
      const r = decodeChunks([STREAM_BYTES.subarray(0, i), STREAM_BYTES.subarray(i)]);
      if (r.err !== null || r.frames.length !== expected.frames.length) throw new Error(`split at ${i}: ${r.err?.code}`);
      expect(r.frames).toEqual(expected.frames);
    }
  });

  it('yields identical frames for every pair of split offsets (three chunks)', () => {
    const n = STREAM_BYTES.length;
    const want = JSON.stringify(expected.frames);
    let checked = 0;
    for (let i = 0; i <= n; i += 3) {
      for (let j = i; j <= n; j += 5) {
        const r = decodeChunks([STREAM_BYTES.subarray(0, i), STREAM_BYTES.subarray(i, j), STREAM_BYTES.subarray(j)]);
        if (r.err !== null || JSON.stringify(r.frames) !== want) throw new Error(`split at ${i},${j}: ${r.err?.code}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('yields identical frames fed one byte at a time', () => {
    const chunks = [...STREAM_BYTES].map((b) => Buffer.from([b]));
    expect(decodeChunks(chunks)).toEqual(expected);
  });

  it('yields identical frames for seeded random chunkings', () => {
    let seed = 0x2545f491;
    const rand = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (let run = 0; run < 300; run++) {
      const chunks: Buffer[] = [];
      for (let off = 0; off < STREAM_BYTES.length; ) {
        const len = rand(40);
        chunks.push(STREAM_BYTES.subarray(off, off + len));
        off += len;
      }
      expect(decodeChunks(chunks)).toEqual(expected);
    }
  });

  it('buffers at most the partial frame and reports bufferedBytes', () => {
    const d = new FrameDecoder(MAX);
    const data = encodeData(4, Buffer.from('abcdef'));
    const frames: Seen[] = [];
    expect(d.push(data.subarray(0, 5), (f) => frames.push(seen(f)))).toBeNull();
    expect(d.bufferedBytes).toBe(5);
    expect(d.push(data.subarray(5, 14), (f) => frames.push(seen(f)))).toBeNull();
    expect(d.bufferedBytes).toBe(14);
    expect(d.push(Buffer.concat([data.subarray(14), data.subarray(0, 1)]), (f) => frames.push(seen(f)))).toBeNull();
    expect(frames).toEqual([{ type: FrameType.DATA, flowId: 4, payload: '616263646566' }]);
    expect(d.bufferedBytes).toBe(1);
    expect(d.push(Buffer.alloc(0), () => undefined)).toBeNull();
    expect(d.bufferedBytes).toBe(1);
  });

  it('end() is null at a frame boundary and TRUNCATED inside a frame, at the frame start offset', () => {
    const clean = new FrameDecoder(MAX);
    expect(clean.push(STREAM_BYTES, () => undefined)).toBeNull();
    expect(clean.end()).toBeNull();
    expect(new FrameDecoder(MAX).end()).toBeNull();

    const d = new FrameDecoder(MAX);
    const first = STREAM[0]!;
    expect(d.push(Buffer.concat([first, encodeData(1, Buffer.from('abc')).subarray(0, 14)]), () => undefined)).toBeNull();
    const err = d.end();
    expect([err?.code, err?.offset, err?.message]).toEqual([FrameErrorCode.TRUNCATED, first.length, 'stream ended inside a frame (14 bytes left)']);
    expect(d.bufferedBytes).toBe(0);
  });

  it('end() with a partial header is TRUNCATED too', () => {
    const d = new FrameDecoder(MAX);
    expect(d.push(hex('0105'), () => undefined)).toBeNull();
    expect(d.end()?.code).toBe(FrameErrorCode.TRUNCATED);
  });

  it('fails stickily: the same error from push and end, and no more frames', () => {
    const d = new FrameDecoder(MAX);
    const frames: Seen[] = [];
    const good = encodeFin(9);
    const err = d.push(Buffer.concat([good, hex('01 05 0000 00000000 00000001 61'), good]), (f) => frames.push(seen(f)));
    expect(err?.code).toBe(FrameErrorCode.INVALID_FLOW_ID);
    expect(err?.offset).toBe(12);
    expect(frames).toHaveLength(1);
    expect(d.push(good, (f) => frames.push(seen(f)))).toBe(err);
    expect(d.end()).toBe(err);
    expect(frames).toHaveLength(1);
    expect(d.bufferedBytes).toBe(0);
  });

  it('reports error offsets relative to the whole stream, across chunks', () => {
    const d = new FrameDecoder(MAX);
    const a = encodeData(1, Buffer.from('hello'));
    expect(d.push(Buffer.concat([a, a.subarray(0, 3)]), () => undefined)).toBeNull();
    const err = d.push(Buffer.concat([a.subarray(3), hex('01 08 0000 00000001 00000004 00000000')]), () => undefined);
    expect([err?.code, err?.offset]).toEqual([FrameErrorCode.INVALID_PAYLOAD, 2 * a.length]);
  });

  it('copies in linear time when a large frame arrives in tiny chunks', () => {
    const frame = encodeData(1, Buffer.alloc(16 * 1024, 0x5a));
    const concat = jest.spyOn(Buffer, 'concat');
    try {
      const d = new FrameDecoder(MAX);
      let got = 0;
      for (let i = 0; i < frame.length; i++) {
        const err = d.push(frame.subarray(i, i + 1), (f) => (got += f.payload.length));
        if (err !== null) throw new Error(err.code);
      }
      expect(got).toBe(16 * 1024);
      const copied = concat.mock.calls.reduce((sum, [list]) => sum + list.reduce((s, b) => s + b.length, 0), 0);
      expect(copied).toBeLessThanOrEqual(2 * frame.length);
    } finally {
      concat.mockRestore();
    }
  });
});
