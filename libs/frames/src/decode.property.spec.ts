import fc from 'fast-check';
import { cutFractions, splitAt } from './split.test-util';
import { decodeFrames, FrameDecoder } from './decode';
import { encodeFrame } from './encode';
import type { Frame } from './frame';
import { FrameError, FrameErrorCode } from './frame-error';
import { FrameType, HEADER_BYTES } from './frame-types';

/** Small enough that random garbage often trips FRAME_TOO_LARGE, large enough for every valid frame below. */
const MAX = 4096;
const CODES = new Set<string>(Object.values(FrameErrorCode));

interface Spec {
  readonly type: FrameType;
  readonly flowId: number;
  readonly payload: Uint8Array;
}

const flowId = fc.integer({ min: 1, max: 0xffffffff });
const bytes = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength });
const spec = (type: FrameType, id: fc.Arbitrary<number>, payload: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Spec> =>
  fc.record({ type: fc.constant(type), flowId: id, payload });

/** Any frame the decoder must accept. */
const validFrame: fc.Arbitrary<Spec> = fc.oneof(
  spec(FrameType.HELLO, fc.constant(0), bytes(2, 200)),
  spec(FrameType.HELLO_ACK, fc.constant(0), bytes(2, 200)),
  spec(FrameType.OPEN, flowId, bytes(1, 255)),
  spec(FrameType.OPEN_ACK, flowId, bytes(0, 0)),
  spec(FrameType.DATA, flowId, bytes(1, MAX - HEADER_BYTES)),
  spec(FrameType.FIN, flowId, bytes(0, 0)),
  spec(FrameType.RST, flowId, bytes(0, 1)),
  spec(
    FrameType.WINDOW_UPDATE,
    flowId,
    fc.integer({ min: 1, max: 0xffffffff }).map((n) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n, 0);
      return b;
    }),
  ),
  spec(FrameType.PING, fc.constant(0), bytes(8, 8)),
  spec(FrameType.PONG, fc.constant(0), bytes(8, 8)),
  spec(FrameType.GOAWAY, fc.constant(0), bytes(0, 200)),
);

const encode = (s: Spec): Buffer => encodeFrame(s.type, s.flowId, s.payload);
const view = (f: Frame | Spec): string => `${f.type}/${f.flowId}/${Buffer.from(f.payload).toString('hex')}`;

const cuts = cutFractions(12);

interface Outcome {
  readonly frames: string[];
  readonly err: FrameError | null;
  /** The frames as received, re-encoded. */
  readonly reencoded: Buffer;
}

function whole(buf: Buffer): Outcome {
  const frames: string[] = [];
  const again: Buffer[] = [];
  const err = decodeFrames(buf, MAX, (f) => {
    frames.push(view(f));
    again.push(encodeFrame(f.type, f.flowId, f.payload, f.flags));
  });
  return { frames, err, reencoded: Buffer.concat(again) };
}

function incremental(chunks: readonly Buffer[]): Outcome {
  const frames: string[] = [];
  const again: Buffer[] = [];
  const d = new FrameDecoder(MAX);
  const onFrame = (f: Frame): void => {
    frames.push(view(f));
    again.push(encodeFrame(f.type, f.flowId, f.payload, f.flags));
  };
  let err: FrameError | null = null;
  for (const c of chunks) {
    err = d.push(c, onFrame);
    if (err !== null) break;
  }
  if (err === null) err = d.end();
  return { frames, err, reencoded: Buffer.concat(again) };
}

/**
 * What must hold for any input: no throw; success means the input was exactly
 * a sequence of frames; failure carries a known code at a frame boundary that
 * every delivered frame precedes; and the incremental decoder, under any
 * chunking, agrees with the whole-buffer decoder.
 */
function checkAnyInput(buf: Buffer, fractions: readonly number[]): void {
  const w = whole(buf);
  if (w.err === null) {
    expect(w.reencoded.equals(buf)).toBe(true);
  } else {
    expect(w.err).toBeInstanceOf(FrameError);
    expect(CODES.has(w.err.code)).toBe(true);
    expect(w.err.offset).toBe(w.reencoded.length);
    expect(w.reencoded.equals(buf.subarray(0, w.err.offset))).toBe(true);
  }
  const i = incremental(splitAt(buf, fractions));
  expect(i.frames).toEqual(w.frames);
  expect(i.err?.code).toBe(w.err?.code);
  expect(i.err?.offset).toBe(w.err?.offset);
}

describe('codec properties (fast-check)', () => {
  it('random valid frame sequences round-trip through encode -> arbitrary chunking -> FrameDecoder', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { maxLength: 8 }), cuts, (specs, fractions) => {
        const stream = Buffer.concat(specs.map(encode));
        const out = incremental(splitAt(stream, fractions));
        expect(out.err).toBeNull();
        expect(out.frames).toEqual(specs.map(view));
        expect(out.reencoded.equals(stream)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('random valid frame sequences round-trip through decodeFrames as one message', () => {
    fc.assert(
      fc.property(fc.array(validFrame, { maxLength: 8 }), (specs) => {
        const out = whole(Buffer.concat(specs.map(encode)));
        expect(out.err).toBeNull();
        expect(out.frames).toEqual(specs.map(view));
      }),
      { numRuns: 2000 },
    );
  });

  it('random garbage never throws; it decodes or fails with a FrameError, identically at any chunking', () => {
    fc.assert(
      fc.property(bytes(0, 256), cuts, (garbage, fractions) => {
        checkAnyInput(Buffer.from(garbage), fractions);
      }),
      { numRuns: 3000 },
    );
  });

  it('garbage behind a plausible header (version 1, a known type) never throws either', () => {
    const plausible = fc
      .tuple(fc.integer({ min: 1, max: 0x0b }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 300 }), bytes(0, 300))
      .map(([type, id, len, rest]) => {
        const h = Buffer.alloc(HEADER_BYTES);
        h[0] = 1;
        h[1] = type;
        h.writeUInt32BE(id, 4);
        h.writeUInt32BE(len, 8);
        return Buffer.concat([h, rest]);
      });
    fc.assert(
      fc.property(fc.array(plausible, { minLength: 1, maxLength: 4 }), cuts, (parts, fractions) => {
        checkAnyInput(Buffer.concat(parts), fractions);
      }),
      { numRuns: 1500 },
    );
  });

  it('valid frames with one byte flipped never throw; the frames before the flipped one survive', () => {
    fc.assert(
      fc.property(
        fc.array(validFrame, { minLength: 1, maxLength: 6 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 255 }),
        cuts,
        (specs, where, xor, fractions) => {
          const encoded = specs.map(encode);
          const stream = Buffer.concat(encoded);
          const at = Math.min(stream.length - 1, Math.floor(where * stream.length));
          const mutated = Buffer.from(stream);
          mutated[at] = mutated[at]! ^ xor;
          checkAnyInput(mutated, fractions);
          // Every frame that ends before the flipped byte is still delivered, unchanged.
          let end = 0;
          let intact = 0;
          for (const e of encoded) {
            if (end + e.length > at) break;
            end += e.length;
            intact++;
          }
          expect(whole(mutated).frames.slice(0, intact)).toEqual(specs.slice(0, intact).map(view));
        },
      ),
      { numRuns: 2500 },
    );
  });
});
