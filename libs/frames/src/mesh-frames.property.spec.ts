import fc from 'fast-check';
import { FrameError, FrameErrorCode } from './frame-error';
import { HEADER_BYTES } from './frame-types';
import { MESH_MAX_WINDOW_BYTES, MeshFrameType, MeshGoawayReason, MeshRstReason } from './mesh-frame-types';
import {
  decodeMeshFrames,
  encodeMeshData,
  encodeMeshFin,
  encodeMeshGoaway,
  encodeMeshHello,
  encodeMeshOpen,
  encodeMeshOpenAck,
  encodeMeshPing,
  encodeMeshRst,
  encodeMeshWindowUpdate,
  MeshFrame,
} from './mesh-frames';

const MAX = 2048;
const CODES = new Set<string>(Object.values(FrameErrorCode));

const cid = fc.integer({ min: 1, max: 0xffffffff });
const u53 = fc.maxSafeNat();
const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/);
const window = fc.integer({ min: 1, max: MESH_MAX_WINDOW_BYTES });
const rstReason = fc.constantFrom(
  ...Object.values(MeshRstReason).filter((v): v is MeshRstReason => typeof v === 'number' && v !== MeshRstReason.LINK_LOST),
);
const goawayReason = fc.constantFrom(...Object.values(MeshGoawayReason).filter((v): v is MeshGoawayReason => typeof v === 'number'));

/** Any frame the codec must round-trip, with its expected decoded form. */
const validFrame: fc.Arbitrary<MeshFrame> = fc.oneof(
  name.map((replicaId): MeshFrame => ({ type: MeshFrameType.M_HELLO, replicaId })),
  fc
    .record({ cid, epoch: u53, seq: u53, connector: name, agentId: name, window })
    .map((r): MeshFrame => ({ type: MeshFrameType.M_OPEN, ...r })),
  fc.record({ cid, epoch: u53, seq: u53, window }).map((r): MeshFrame => ({ type: MeshFrameType.M_OPEN_ACK, ...r })),
  fc
    .record({ cid, epoch: u53, seq: u53, payload: fc.uint8Array({ minLength: 1, maxLength: MAX - HEADER_BYTES - 16 }) })
    .map((r): MeshFrame => ({ type: MeshFrameType.M_DATA, ...r, payload: Buffer.from(r.payload) })),
  fc.record({ cid, epoch: u53, seq: u53 }).map((r): MeshFrame => ({ type: MeshFrameType.M_FIN, ...r })),
  fc.record({ cid, epoch: u53, seq: u53, reason: rstReason }).map((r): MeshFrame => ({ type: MeshFrameType.M_RST, ...r })),
  fc
    .record({ cid, epoch: u53, seq: u53, increment: fc.integer({ min: 1, max: 0xffffffff }) })
    .map((r): MeshFrame => ({ type: MeshFrameType.M_WINDOW_UPDATE, ...r })),
  fc
    .record({ type: fc.constantFrom(MeshFrameType.M_PING, MeshFrameType.M_PONG), opaque: fc.uint8Array({ minLength: 8, maxLength: 8 }) })
    .map((r): MeshFrame => ({ type: r.type, opaque: Buffer.from(r.opaque) })),
  goawayReason.map((reason): MeshFrame => ({ type: MeshFrameType.M_GOAWAY, reason })),
);

function encode(f: MeshFrame): Buffer {
  switch (f.type) {
    case MeshFrameType.M_HELLO:
      return encodeMeshHello(f.replicaId);
    case MeshFrameType.M_OPEN:
      return encodeMeshOpen(f);
    case MeshFrameType.M_OPEN_ACK:
      return encodeMeshOpenAck(f.cid, f.epoch, f.seq, f.window);
    case MeshFrameType.M_DATA:
      return encodeMeshData(f.cid, f.epoch, f.seq, f.payload);
    case MeshFrameType.M_FIN:
      return encodeMeshFin(f.cid, f.epoch, f.seq);
    case MeshFrameType.M_RST:
      return encodeMeshRst(f.cid, f.epoch, f.seq, f.reason);
    case MeshFrameType.M_WINDOW_UPDATE:
      return encodeMeshWindowUpdate(f.cid, f.epoch, f.seq, f.increment);
    case MeshFrameType.M_PING:
    case MeshFrameType.M_PONG:
      return encodeMeshPing(f.type, f.opaque);
    case MeshFrameType.M_GOAWAY:
      return encodeMeshGoaway(f.reason);
  }
}

function decode(buf: Buffer): { frames: MeshFrame[]; err: FrameError | null } {
  const frames: MeshFrame[] = [];
  let err: FrameError | null = null;
  expect(() => {
    err = decodeMeshFrames(buf, MAX, (f) => frames.push(f));
  }).not.toThrow();
  return { frames, err };
}

describe('mesh codec properties', () => {
  it('every valid sequence of frames round-trips in one message', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { maxLength: 8 }), (frames) => {
        const { frames: out, err } = decode(Buffer.concat(frames.map(encode)));
        expect(err).toBeNull();
        expect(out).toEqual(frames);
      }),
      { numRuns: 400 },
    );
  });

  it('random bytes never throw; an error has a known code and sits right after the frames delivered', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const { frames, err } = decode(buf);
        // Re-encoding reproduces each frame's length (unknown reason codes normalise to UNSPECIFIED, same size).
        const prefix = Buffer.concat(frames.map(encode));
        if (err === null) {
          expect(prefix.length).toBe(buf.length);
        } else {
          expect(CODES.has((err as FrameError).code)).toBe(true);
          expect((err as FrameError).offset).toBe(prefix.length);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a valid header followed by garbage payload never throws (mutation near the structure)', () => {
    fc.assert(
      fc.property(
        validFrame,
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
        (frame, edits) => {
          const buf = Buffer.from(encode(frame));
          for (const e of edits) buf[e.at % buf.length] = e.value;
          const { frames, err } = decode(buf);
          if (err === null) {
            // What decodes is canonical: encoding it again decodes to the same frames.
            expect(decode(Buffer.concat(frames.map(encode))).frames).toEqual(frames);
          } else {
            expect(CODES.has((err as FrameError).code)).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('truncating a valid message at any point yields TRUNCATED (or a clean prefix at a boundary)', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { minLength: 1, maxLength: 4 }), fc.double({ min: 0, max: 1, noNaN: true }), (frames, at) => {
        const whole = Buffer.concat(frames.map(encode));
        const cut = Math.floor(at * whole.length);
        const { frames: out, err } = decode(whole.subarray(0, cut));
        const boundaries = new Set<number>([0]);
        let sum = 0;
        for (const f of frames) boundaries.add((sum += encode(f).length));
        if (boundaries.has(cut)) expect(err).toBeNull();
        else expect((err as FrameError | null)?.code).toBe(FrameErrorCode.TRUNCATED);
        expect(out).toEqual(frames.slice(0, out.length));
      }),
      { numRuns: 500 },
    );
  });
});
