/**
 * Fuzzing the HELLO handshake and the other control payloads (issue 6 item 3, unit half):
 * structured mutations of valid HELLO / HELLO_ACK / OPEN / GOAWAY bodies, byte flips and
 * whole frames run through the frame decoder first. Whatever comes in, the decoders never throw,
 * refuse with INVALID_PAYLOAD only, and anything they accept satisfies the wire invariants.
 * The number of cases per property is printed (FUZZ_CASES) so CI logs show what ran.
 */
import fc from 'fast-check';
import { decodeGoaway, decodeHello, decodeHelloAck, decodeOpen, decodeRstReason, decodeWindowIncrement, isStripeKey, isValidName, MAX_ACK_REPLICAS, MAX_ACK_STRIPES, MAX_HELD_REPLICAS, MAX_STRIPE_OF_KEYS } from './control';
import { decodeFrames } from './decode';
import { encodeControl, encodeFrame } from './encode';
import { FrameError, FrameErrorCode } from './frame-error';
import { FrameType, HEADER_BYTES, MAX_CONTROL_PAYLOAD_BYTES, RstReason } from './frame-types';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');
let totalCases = 0;
function run(prop: Parameters<typeof fc.assert>[0], numRuns: number): void {
  fc.assert(prop as fc.IRawProperty<unknown>, { numRuns });
  totalCases += numRuns;
}
afterAll(() => {
  process.stdout.write(`FUZZ_CASES control.fuzz.spec: ${totalCases} fast-check cases\n`);
});

/** Names: mostly valid, sometimes just wrong (leading dot, space, unicode, too long, empty). */
const validName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/);
const nastyName = fc.oneof(
  fc.constant(''),
  fc.constant('a'.repeat(129)),
  fc.constant('.hidden'),
  fc.constant('a b'),
  fc.constant('agent\n{"event":"forged"}'),
  fc.constant('é'),
  fc.constant('__proto__'),
  fc.constant('constructor'),
  fc.string({ maxLength: 40 }),
);
const anyName = fc.oneof({ weight: 3, arbitrary: validName }, { weight: 1, arbitrary: nastyName });
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** A HELLO body: the right shape with wrong values, wrong types, extra and missing keys. */
const helloBody = fc.record(
  {
    agent_id: fc.oneof({ weight: 4, arbitrary: anyName }, { weight: 1, arbitrary: anyJson }),
    connectors: fc.oneof(
      { weight: 4, arbitrary: fc.array(anyName, { maxLength: 6 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1020, max: 1030 }).map((n) => Array.from({ length: n }, (_, i) => `c${i}`)) },
      { weight: 1, arbitrary: anyJson },
    ),
    version: fc.oneof(fc.string({ maxLength: 100 }), anyJson),
    held_replicas: fc.oneof(
      { weight: 4, arbitrary: fc.array(anyName, { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.integer({ min: 14, max: 18 }).map((n) => Array.from({ length: n }, (_, i) => `hub-${i}`)) },
      { weight: 1, arbitrary: anyJson },
    ),
    stripe_of: fc.oneof(
      { weight: 3, arbitrary: fc.array(fc.stringMatching(/^[0-9a-f]{32}$/), { minLength: 1, maxLength: 4 }) },
      { weight: 1, arbitrary: fc.array(fc.stringMatching(/^[0-9a-fA-F]{30,34}$/), { maxLength: 3 }) },
      { weight: 1, arbitrary: fc.integer({ min: 14, max: 18 }).map((n) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(32, '0'))) },
      { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{32}$/) },
      { weight: 1, arbitrary: anyJson },
    ),
    extra: anyJson,
  },
  { requiredKeys: [] },
);

/** Byte-level mutation of an encoded body: flip, truncate, or splice garbage. */
const mutateBytes = (buf: Buffer): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => {
      const out = Buffer.from(buf);
      if (out.length > 0) out[at % out.length] = out[at % out.length]! ^ xor;
      return out;
    }),
    fc.nat().map((n) => buf.subarray(0, buf.length === 0 ? 0 : n % buf.length)),
    fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([at, junk]) => {
      const i = buf.length === 0 ? 0 : at % buf.length;
      return Buffer.concat([buf.subarray(0, i), Buffer.from(junk), buf.subarray(i)]);
    }),
  );

function checkHello(payload: Buffer): void {
  const r = decodeHello(payload);
  if (r instanceof FrameError) {
    expect(r.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
    return;
  }
  expect(isValidName(r.agent_id)).toBe(true);
  expect(r.connectors.length).toBeGreaterThanOrEqual(1);
  expect(r.connectors.length).toBeLessThanOrEqual(1024);
  expect(r.connectors.every(isValidName)).toBe(true);
  expect(new Set(r.connectors).size).toBe(r.connectors.length);
  expect(typeof r.version).toBe('string');
  expect(r.version.length).toBeLessThanOrEqual(64);
  if (r.held_replicas !== undefined) {
    expect(r.held_replicas.length).toBeLessThanOrEqual(MAX_HELD_REPLICAS);
    expect(r.held_replicas.every(isValidName)).toBe(true);
    expect(new Set(r.held_replicas).size).toBe(r.held_replicas.length);
  }
  if (r.stripe_of !== undefined) {
    expect(r.stripe_of.length).toBeGreaterThanOrEqual(1);
    expect(r.stripe_of.length).toBeLessThanOrEqual(MAX_STRIPE_OF_KEYS);
    expect(r.stripe_of.every(isStripeKey)).toBe(true);
    expect(new Set(r.stripe_of).size).toBe(r.stripe_of.length);
  }
}

describe('HELLO fuzz', () => {
  it('structurally mutated HELLO bodies: never throw; accepted ones obey the wire rules', () => {
    run(
      fc.property(helloBody, (body) => {
        checkHello(json(body));
        // A valid agent id and a valid, non-empty connector list is exactly what gets accepted.
        const b = body as Record<string, unknown>;
        const ok =
          isValidName(b.agent_id) &&
          Array.isArray(b.connectors) &&
          b.connectors.length >= 1 &&
          b.connectors.length <= 1024 &&
          b.connectors.every(isValidName) &&
          (b.held_replicas === undefined ||
            (Array.isArray(b.held_replicas) && b.held_replicas.length <= MAX_HELD_REPLICAS && b.held_replicas.every(isValidName))) &&
          (b.stripe_of === undefined ||
            (Array.isArray(b.stripe_of) &&
              b.stripe_of.length >= 1 &&
              b.stripe_of.length <= MAX_STRIPE_OF_KEYS &&
              b.stripe_of.every((k) => typeof k === 'string' && /^[0-9a-f]{32}$/.test(k))));
        expect(decodeHello(json(body)) instanceof FrameError).toBe(!ok);
      }),
      3000,
    );
  });

  it('byte-mutated valid HELLOs: never throw', () => {
    const valid = fc
      .record({ agent_id: validName, connectors: fc.array(validName, { minLength: 1, maxLength: 4 }), version: fc.string({ maxLength: 10 }) })
      .map(json);
    run(fc.property(valid.chain(mutateBytes), (payload) => checkHello(payload)), 2000);
  });

  it('HELLO frames with a flipped byte anywhere go through the frame decoder, then decodeHello, without a throw', () => {
    const frame = fc
      .record({ agent_id: validName, connectors: fc.array(validName, { minLength: 1, maxLength: 3 }) })
      .map((h) => encodeControl(FrameType.HELLO, { ...h, version: 'fuzz' }));
    run(
      fc.property(frame.chain(mutateBytes), (bytes) => {
        let frames = 0;
        const err = decodeFrames(bytes, HEADER_BYTES + MAX_CONTROL_PAYLOAD_BYTES, (f) => {
          frames++;
          if (f.type === FrameType.HELLO) checkHello(Buffer.from(f.payload));
        });
        if (err !== null) expect(Object.values(FrameErrorCode)).toContain(err.code);
        expect(frames).toBeLessThanOrEqual(1 + bytes.length / HEADER_BYTES);
      }),
      1500,
    );
  });
});

describe('other control payloads fuzz', () => {
  it('HELLO_ACK: accepted bodies carry in-range limits', () => {
    const num = fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 53), fc.constant(-1), fc.constant(0));
    const body = fc.record(
      { replica_id: fc.oneof(fc.string(), anyJson), flow_window_bytes: num, max_frame_bytes: num, keepalive_sec: num, epoch: num, replicas: fc.oneof(num, fc.constant(MAX_ACK_REPLICAS), fc.constant(MAX_ACK_REPLICAS + 1), anyJson), stripe_key: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), anyJson), stripes: fc.oneof(num, fc.integer({ min: 0, max: MAX_ACK_STRIPES + 1 }), anyJson) },
      { requiredKeys: [] },
    );
    run(
      fc.property(fc.oneof(body.map(json), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b))), (payload) => {
        const r = decodeHelloAck(payload);
        if (r instanceof FrameError) {
          expect(r.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
          return;
        }
        expect(Number.isInteger(r.flow_window_bytes) && r.flow_window_bytes >= 1).toBe(true);
        expect(r.max_frame_bytes).toBeGreaterThan(HEADER_BYTES);
        expect(r.keepalive_sec).toBeGreaterThanOrEqual(1);
        expect(r.keepalive_sec).toBeLessThanOrEqual(3600);
        if (r.replicas !== undefined) expect(Number.isInteger(r.replicas) && r.replicas >= 1 && r.replicas <= MAX_ACK_REPLICAS).toBe(true);
        expect(r.stripe_key === undefined).toBe(r.stripes === undefined);
        if (r.stripe_key !== undefined) expect(isStripeKey(r.stripe_key) && Number.isInteger(r.stripes) && r.stripes! >= 1 && r.stripes! <= MAX_ACK_STRIPES).toBe(true);
      }),
      1500,
    );
  });

  it('OPEN, GOAWAY, RST and WINDOW_UPDATE payloads: never throw, results bounded', () => {
    run(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), anyName.map((n) => Buffer.from(n)), anyJson.map(json)), (payload) => {
        const open = decodeOpen(payload);
        if (open instanceof FrameError) expect(open.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
        else expect(isValidName(open)).toBe(true);
        const goaway = decodeGoaway(payload);
        expect(typeof goaway.reason).toBe('string');
        expect(goaway.reason.length).toBeLessThanOrEqual(128);
        expect(Object.values(RstReason)).toContain(decodeRstReason(payload));
        if (payload.length >= 4) {
          const inc = decodeWindowIncrement(payload);
          expect(inc).toBeGreaterThanOrEqual(0);
          expect(inc).toBeLessThanOrEqual(0xffffffff);
        }
      }),
      1500,
    );
  });

  it('a HELLO is never confused with another frame type: re-typed control frames decode as what they say', () => {
    run(
      fc.property(
        fc.constantFrom(...Object.values(FrameType).filter((v): v is FrameType => typeof v === 'number')),
        fc.integer({ min: 0, max: 3 }),
        (type, flowId) => {
          const bytes = encodeFrame(type, flowId, json({ agent_id: 'a', connectors: ['b'] }));
          const seen: number[] = [];
          const err = decodeFrames(bytes, 1 << 20, (f) => seen.push(f.type));
          if (err === null) expect(seen).toEqual([type]);
          else expect(seen).toEqual([]);
        },
      ),
      500,
    );
  });
});
