import fc from 'fast-check';
import { decodeFrames } from './decode';
import { encodeControl } from './encode';
import { FrameError, FrameErrorCode } from './frame-error';
import { FrameType, HEADER_BYTES } from './frame-types';
import { decodeTargetHealth, TARGET_FAILURE_REASONS, type TargetHealthBody } from './target-health';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');

const GOOD: TargetHealthBody = {
  v: 1,
  connectors: [
    {
      name: 'addomain',
      targets: [
        { target: 'dc1:389', up: true },
        { target: '[::1]:636', up: false },
      ],
      failures: { refused: 3, timeout: 1 },
    },
  ],
};

describe('TARGET_HEALTH codec', () => {
  it('round-trips a v1 body through encodeControl and the frame decoder', () => {
    const wire = encodeControl(FrameType.TARGET_HEALTH, GOOD);
    const length = (wire.length - HEADER_BYTES).toString(16).padStart(8, '0');
    // version 1, type 0x0c, flags 0, flow id 0, payload length
    expect(wire.subarray(0, HEADER_BYTES).toString('hex')).toBe(`010c0000` + `00000000` + length);
    const frames: Buffer[] = [];
    expect(decodeFrames(wire, 1024 * 1024, (f) => frames.push(Buffer.from(f.payload)))).toBeNull();
    expect(decodeTargetHealth(frames[0]!)).toEqual(GOOD);
  });

  it('fills failures with {} when absent, accepts an empty connector list', () => {
    expect(decodeTargetHealth(json({ v: 1, connectors: [{ name: 'a', targets: [{ target: 'h:1', up: true }] }] }))).toEqual({
      v: 1,
      connectors: [{ name: 'a', targets: [{ target: 'h:1', up: true }], failures: {} }],
    });
    expect(decodeTargetHealth(json({ v: 1, connectors: [] }))).toEqual({ v: 1, connectors: [] });
  });

  it('refuses a newer version with UNSUPPORTED_VERSION (the hub ignores it, never closes)', () => {
    const r = decodeTargetHealth(json({ ...GOOD, v: 2 }));
    expect(r).toBeInstanceOf(FrameError);
    expect((r as FrameError).code).toBe(FrameErrorCode.UNSUPPORTED_VERSION);
  });

  it.each([
    ['not JSON', Buffer.from('{"v":1,')],
    ['an array', json([1])],
    ['no v', json({ connectors: [] })],
    ['v 0', json({ v: 0, connectors: [] })],
    ['v as text', json({ v: '1', connectors: [] })],
    ['connectors missing', json({ v: 1 })],
    ['bad connector name', json({ v: 1, connectors: [{ name: 'a b', targets: [{ target: 'h:1', up: true }] }] })],
    ['no targets', json({ v: 1, connectors: [{ name: 'a', targets: [] }] })],
    ['33 targets', json({ v: 1, connectors: [{ name: 'a', targets: Array.from({ length: 33 }, (_, i) => ({ target: `h:${i + 1}`, up: true })) }] })],
    ['target with a newline', json({ v: 1, connectors: [{ name: 'a', targets: [{ target: 'h:1\n{"event":"x"}', up: true }] }] })],
    ['up as 1', json({ v: 1, connectors: [{ name: 'a', targets: [{ target: 'h:1', up: 1 }] }] })],
    ['duplicate target', json({ v: 1, connectors: [{ name: 'a', targets: [{ target: 'h:1', up: true }, { target: 'h:1', up: false }] }] })],
    ['duplicate connector', json({ v: 1, connectors: [GOOD.connectors[0], GOOD.connectors[0]] })],
    ['unknown failure reason', json({ v: 1, connectors: [{ name: 'a', targets: [{ target: 'h:1', up: true }], failures: { boom: 1 } }] })],
    ['negative failure count', json({ v: 1, connectors: [{ name: 'a', targets: [{ target: 'h:1', up: true }], failures: { refused: -1 } }] })],
    ['__proto__ failure key', Buffer.from('{"v":1,"connectors":[{"name":"a","targets":[{"target":"h:1","up":true}],"failures":{"__proto__":1}}]}')],
  ])('refuses %s with INVALID_PAYLOAD', (_what, payload) => {
    const r = decodeTargetHealth(payload);
    expect(r).toBeInstanceOf(FrameError);
    expect((r as FrameError).code).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('never throws on garbage; whatever it accepts keeps the invariants (fast-check)', () => {
    const anyJson = fc.jsonValue({ maxDepth: 4 });
    const target = fc.record({ target: fc.oneof(fc.string({ maxLength: 12 }), fc.constant('dc1:389'), anyJson), up: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] });
    const connector = fc.record(
      {
        name: fc.oneof(fc.constant('addomain'), fc.string({ maxLength: 8 }), anyJson),
        targets: fc.oneof(fc.array(target, { maxLength: 4 }), anyJson),
        failures: fc.oneof(fc.dictionary(fc.constantFrom(...TARGET_FAILURE_REASONS, 'x'), fc.oneof(fc.nat(), fc.integer(), anyJson)), anyJson),
      },
      { requiredKeys: [] },
    );
    const body = fc.record({ v: fc.oneof(fc.constant(1), anyJson), connectors: fc.oneof(fc.array(connector, { maxLength: 3 }), anyJson) }, { requiredKeys: [] });
    const payload = fc.oneof(
      body.map(json),
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      fc.tuple(body.map(json), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, at, xor]) => {
        const out = Buffer.from(b);
        if (out.length > 0) out[at % out.length] = (out[at % out.length] ?? 0) ^ xor;
        return out;
      }),
    );
    fc.assert(
      fc.property(payload, (p) => {
        const r = decodeTargetHealth(p);
        if (r instanceof FrameError) {
          expect([FrameErrorCode.INVALID_PAYLOAD, FrameErrorCode.UNSUPPORTED_VERSION]).toContain(r.code);
          return;
        }
        expect(r.v).toBe(1);
        for (const c of r.connectors) {
          expect(c.targets.length).toBeGreaterThan(0);
          for (const t of c.targets) expect(typeof t.up).toBe('boolean');
          for (const [k, n] of Object.entries(c.failures)) {
            expect(TARGET_FAILURE_REASONS).toContain(k);
            expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
