import fc from 'fast-check';
import { cutFractions, expectSameDecode, feedMessages, splitAt } from './split.test-util';
import { FrameError, FrameErrorCode } from './frame-error';
import { MeshFrameType } from './mesh-frame-types';
import { decodeMeshFrames, encodeMeshData, encodeMeshFin, encodeMeshHello, encodeMeshPing, encodeMeshWindowUpdate, MeshFrame } from './mesh-frames';
import { MeshStreamDecoder } from './mesh-stream-decoder';

const MAX = 2048;

/** A frame as a comparable string; M_DATA with its payload. */
function show(f: MeshFrame): string {
  return JSON.stringify(f, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v));
}

function stream(messages: readonly (readonly Buffer[])[], max = MAX): { frames: string[]; err: FrameError | null; partial: boolean } {
  const frames: string[] = [];
  let data: { start: Extract<MeshFrame, { type: MeshFrameType.M_DATA }>; left: number; pieces: Buffer[] } | null = null;
  const dec = new MeshStreamDecoder(max, {
    frame: (f) => {
      expect(data).toBeNull();
      frames.push(show(f));
    },
    dataStart: (f, length) => {
      expect(data).toBeNull();
      expect(f.payload.length).toBe(0);
      data = { start: f, left: length, pieces: [] };
    },
    data: (piece) => {
      data!.pieces.push(Buffer.from(piece));
      data!.left -= piece.length;
      if (data!.left === 0) {
        frames.push(show({ ...data!.start, payload: Buffer.concat(data!.pieces) }));
        data = null;
      }
    },
  });
  const err = feedMessages(dec, messages);
  return { frames, err, partial: data !== null };
}

function whole(messages: readonly Buffer[], max = MAX): { frames: string[]; err: FrameError | null } {
  const frames: string[] = [];
  for (const m of messages) {
    const err = decodeMeshFrames(m, max, (f) => frames.push(show(f)));
    if (err !== null) return { frames, err };
  }
  return { frames, err: null };
}


const cid = fc.integer({ min: 1, max: 0xffffffff });
const u53 = fc.maxSafeNat();
const frameBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ cid, epoch: u53, seq: u53, p: fc.uint8Array({ minLength: 1, maxLength: 400 }) }).map((r) => encodeMeshData(r.cid, r.epoch, r.seq, r.p)),
  fc.record({ cid, epoch: u53, seq: u53 }).map((r) => encodeMeshFin(r.cid, r.epoch, r.seq)),
  fc.record({ cid, epoch: u53, seq: u53, n: fc.integer({ min: 1, max: 0xffffffff }) }).map((r) => encodeMeshWindowUpdate(r.cid, r.epoch, r.seq, r.n)),
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => encodeMeshPing(MeshFrameType.M_PING, o)),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).map((id) => encodeMeshHello(id)),
);
const cuts = cutFractions(10);

describe('MeshStreamDecoder', () => {
  it('decodes any split of valid messages exactly as decodeMeshFrames decodes them whole, M_DATA payload as views', () => {
    const payload = Buffer.alloc(300, 9);
    const msg = encodeMeshData(7, 3, 11, payload);
    const views: Buffer[] = [];
    const dec = new MeshStreamDecoder(MAX, { frame: () => undefined, dataStart: () => undefined, data: (p) => views.push(p) });
    expect(dec.push(msg.subarray(0, 20))).toBeNull(); // header + part of the epoch/seq prefix
    expect(dec.push(msg.subarray(20, 100))).toBeNull();
    expect(dec.push(msg.subarray(100))).toBeNull();
    expect(dec.endMessage()).toBeNull();
    expect(views.map((v) => v.length)).toEqual([100 - 28, msg.length - 100]);
    expect(views[1]!.buffer).toBe(msg.buffer); // a view: no copy
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.array(frameBytes, { minLength: 1, maxLength: 5 }), cuts), { minLength: 1, maxLength: 3 }), (msgs) => {
        const bufs = msgs.map(([fs]) => Buffer.concat(fs));
        const want = whole(bufs);
        expect(want.err).toBeNull();
        expectSameDecode(stream(msgs.map(([, c], i) => splitAt(bufs[i]!, c))), want);
      }),
      { numRuns: 300 },
    );
  });

  it('on random bytes, any split: the same error, offset and frames before it as decodeMeshFrames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 120 }), { minLength: 1, maxLength: 3 }), cuts, fc.option(frameBytes), (raw, c, valid) => {
        const msgs = raw.map((r, i) => (i === 0 && valid !== null ? Buffer.concat([valid, Buffer.from(r)]) : Buffer.from(r)));
        expectSameDecode(stream(msgs.map((m) => splitAt(m, c)), 256), whole(msgs, 256));
      }),
      { numRuns: 1000 },
    );
  });

  it('checks epoch and seq before any M_DATA payload goes out', () => {
    const msg = encodeMeshData(5, 1, 1, Buffer.from('abc'));
    msg.writeUInt32BE(0xffffffff, 12); // epoch high word: beyond 2^53 - 1
    const got = stream([[msg.subarray(0, 15), msg.subarray(15)]]);
    expect(got.err?.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    expect(got.frames).toEqual([]);
    expect(got.partial).toBe(false);
  });
});
