import fc from 'fast-check';
import { FrameError, FrameErrorCode } from './frame-error';

/** Cut points as fractions, so one arbitrary fits any buffer length. */
export const cutFractions = (maxLength = 12): fc.Arbitrary<number[]> => fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength });

/** `buf` cut at the given fractions of its length (views, in order; empty pieces possible). */
export function splitAt(buf: Buffer, fractions: readonly number[]): Buffer[] {
  const points = fractions.map((x) => Math.floor(x * buf.length)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** What a decoder made of some messages: frames as comparable strings, the first error. */
export interface DecodeOutcome {
  readonly frames: readonly string[];
  readonly err: FrameError | null;
  /** Streaming decoders: pieces of a frame went out before an error cut it short. */
  readonly partial?: boolean;
}

/**
 * A streaming decoder (`got`) agrees with its whole-message decoder (`want`): the same error
 * code and offset, the same frames before it; pieces of an unfinished frame only when it was
 * cut short (TRUNCATED).
 */
export function expectSameDecode(got: DecodeOutcome, want: DecodeOutcome): void {
  expect(got.err === null).toBe(want.err === null);
  if (want.err !== null) {
    expect(got.err!.code).toBe(want.err.code);
    expect(got.err!.offset).toBe(want.err.offset);
    expect(Object.values(FrameErrorCode)).toContain(got.err!.code);
  }
  expect(got.frames).toEqual(want.frames);
  if (got.partial === true) expect(want.err?.code).toBe(FrameErrorCode.TRUNCATED);
}

/** Feeds each message's pieces to a streaming decoder, ending each message; returns the first error. */
export function feedMessages(
  dec: { push(buf: Buffer): FrameError | null; endMessage(): FrameError | null },
  messages: readonly (readonly Buffer[])[],
): FrameError | null {
  for (const pieces of messages) {
    for (const p of pieces) {
      const err = dec.push(p);
      if (err !== null) return err;
    }
    const err = dec.endMessage();
    if (err !== null) return err;
  }
  return null;
}
