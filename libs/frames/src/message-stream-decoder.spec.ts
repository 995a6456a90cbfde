import fc from 'fast-check';
import { cutFractions, expectSameDecode, feedMessages, splitAt } from './split.test-util';
import { decodeFrames } from './decode';
import { encodeData, encodeFin, encodeFrame, encodeWindowUpdate } from './encode';
import type { Frame } from './frame';
import { FrameError, FrameErrorCode } from './frame-error';
import { FrameType, HEADER_BYTES } from './frame-types';
import { MessageStreamDecoder } from './message-stream-decoder';

const MAX = 4096;

interface Got {
  /** Frames as type/flow/payload-hex; a DATA frame's pieces are joined. */
  frames: string[];
  /** DATA pieces as delivered (lengths), to check there was no reassembly. */
  pieces: number[];
  /** A DATA frame whose pieces started but did not all arrive. */
  partial: boolean;
}

const view = (type: number, flowId: number, payload: Uint8Array): string => `${type}/${flowId}/${Buffer.from(payload).toString('hex')}`;

/** Feeds each message as the given pieces; returns what came out and the first error. */
function stream(messages: readonly (readonly Buffer[])[], max = MAX): Got & { err: FrameError | null } {
  const got: Got = { frames: [], pieces: [], partial: false };
  let data: Buffer[] = [];
  let dataFlow = 0;
  const flushData = () => {
    if (data.length > 0) got.frames.push(view(FrameType.DATA, dataFlow, Buffer.concat(data)));
    data = [];
  };
  const dec = new MessageStreamDecoder(max, {
    frame: (f: Frame) => {
      flushData();
      got.frames.push(view(f.type, f.flowId, f.payload));
    },
    data: (flowId, piece, first) => {
      if (first) {
        flushData();
        dataFlow = flowId;
      }
      expect(flowId).toBe(dataFlow);
      data.push(Buffer.from(piece));
      got.pieces.push(piece.length);
      if (dec.remainingPayload === 0) flushData();
    },
  });
  const err = feedMessages(dec, messages);
  // A DATA frame cut short by an error: its pieces were delivered, but it is not a frame.
  if (err !== null && data.length > 0) {
    got.partial = true;
    data = [];
  }
  flushData();
  return { ...got, err };
}

function whole(messages: readonly Buffer[], max = MAX): { frames: string[]; err: FrameError | null } {
  const frames: string[] = [];
  for (const m of messages) {
    const err = decodeFrames(m, max, (f) => frames.push(view(f.type, f.flowId, f.payload)));
    if (err !== null) return { frames, err };
  }
  return { frames, err: null };
}


describe('MessageStreamDecoder', () => {
  it('hands a DATA payload on as views of the input, piece by piece, without joining them', () => {
    const payload = Buffer.alloc(1000, 7);
    const msg = encodeData(5, payload);
    const pieces = [msg.subarray(0, 5), msg.subarray(5, 400), msg.subarray(400, 700), msg.subarray(700)];
    const seen: Buffer[] = [];
    const firsts: boolean[] = [];
    const dec = new MessageStreamDecoder(MAX, {
      frame: () => {
        throw new Error('no other frame');
      },
      data: (flowId, piece, first) => {
        expect(flowId).toBe(5);
        seen.push(piece);
        firsts.push(first);
      },
    });
    for (const p of pieces) expect(dec.push(p)).toBeNull();
    expect(dec.endMessage()).toBeNull();
    expect(seen.map((b) => b.length)).toEqual([400 - HEADER_BYTES, 300, HEADER_BYTES + 1000 - 700]);
    expect(firsts).toEqual([true, false, false]);
    // Views of the input buffers: the same memory, not copies.
    expect(seen[1]!.buffer).toBe(msg.buffer);
    expect(seen[1]!.byteOffset).toBe(msg.byteOffset + 400);
    expect(Buffer.concat(seen).equals(payload)).toBe(true);
  });

  it('delivers a control frame split across pieces whole, and one frame per header', () => {
    const msg = Buffer.concat([encodeWindowUpdate(9, 65536), encodeFin(9), encodeData(9, Buffer.from('hi'))]);
    const got = stream([[msg.subarray(0, 3), msg.subarray(3, 14), msg.subarray(14, 20), msg.subarray(20)]]);
    expect(got.err).toBeNull();
    expect(got.frames).toEqual([
      view(FrameType.WINDOW_UPDATE, 9, Buffer.from([0, 1, 0, 0])),
      view(FrameType.FIN, 9, Buffer.alloc(0)),
      view(FrameType.DATA, 9, Buffer.from('hi')),
    ]);
  });

  it('reports a frame cut short by the end of its message as TRUNCATED, with the offset decodeFrames gives', () => {
    const msg = Buffer.concat([encodeFin(1), encodeData(2, Buffer.alloc(100, 1))]).subarray(0, HEADER_BYTES + HEADER_BYTES + 40);
    const got = stream([[msg]]);
    expect(got.err?.code).toBe(FrameErrorCode.TRUNCATED);
    expect(got.err?.offset).toBe(HEADER_BYTES);
    expect(got.err).toEqual(whole([msg]).err);
    const headerOnly = stream([[encodeFin(1).subarray(0, 7)]]);
    expect(headerOnly.err).toEqual(whole([encodeFin(1).subarray(0, 7)]).err);
  });

  it('checks every header before any of its payload goes out', () => {
    const big = encodeFrame(FrameType.DATA, 3, Buffer.alloc(MAX)); // header + MAX > MAX
    const got = stream([[big.subarray(0, 20), big.subarray(20)]]);
    expect(got.err?.code).toBe(FrameErrorCode.FRAME_TOO_LARGE);
    expect(got.pieces).toEqual([]);
  });

  it('stays failed after an error', () => {
    const dec = new MessageStreamDecoder(MAX, { frame: () => undefined, data: () => undefined });
    const bad = Buffer.alloc(HEADER_BYTES, 0xff);
    const err = dec.push(bad);
    expect(err?.code).toBe(FrameErrorCode.UNSUPPORTED_VERSION);
    expect(dec.push(encodeFin(1))).toBe(err);
    expect(dec.endMessage()).toBe(err);
  });

  it('decodes any split of valid messages exactly as decodeFrames decodes them whole', () => {
    const frame = fc.oneof(
      fc.record({ t: fc.constant(FrameType.DATA), id: fc.integer({ min: 1, max: 9 }), p: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
      fc.record({ t: fc.constant(FrameType.FIN), id: fc.integer({ min: 1, max: 9 }), p: fc.constant(new Uint8Array(0)) }),
      fc.record({ t: fc.constant(FrameType.OPEN), id: fc.integer({ min: 1, max: 9 }), p: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
      fc.record({ t: fc.constant(FrameType.PING), id: fc.constant(0), p: fc.uint8Array({ minLength: 8, maxLength: 8 }) }),
    );
    const message = fc.array(frame, { minLength: 1, maxLength: 6 }).map((fs) => Buffer.concat(fs.map((f) => encodeFrame(f.t, f.id, f.p))));
    fc.assert(
      fc.property(fc.array(fc.tuple(message, cutFractions(10)), { minLength: 1, maxLength: 4 }), (msgs) => {
        const want = whole(msgs.map(([m]) => m));
        expect(want.err).toBeNull();
        expectSameDecode(stream(msgs.map(([m, cuts]) => splitAt(m, cuts))), want);
      }),
      { numRuns: 300 },
    );
  });

  it('on random bytes, any split: the same error and the same frames before it as decodeFrames (a cut-short DATA frame aside)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { minLength: 1, maxLength: 3 }),
        cutFractions(8),
        fc.boolean(),
        (raw, cuts, validPrefix) => {
          // Half the time start from a valid frame so garbage is reached mid-stream.
          const msgs = raw.map((r, i) => (validPrefix && i === 0 ? Buffer.concat([encodeData(1, Buffer.from('ok')), Buffer.from(r)]) : Buffer.from(r)));
          const got = stream(msgs.map((m) => splitAt(m, cuts)), 256);
          const want = whole(msgs, 256);
          expectSameDecode(got, want);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
