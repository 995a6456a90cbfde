import fc from 'fast-check';
import { decodeGoaway, decodeHello, decodeHelloAck, decodeOpen, decodeRstReason, decodeWindowIncrement, isStripeKey, isValidName, MAX_ACK_REPLICAS, MAX_ACK_STRIPES, MAX_HELD_REPLICAS, MAX_STRIPE_OF_KEYS } from './control';
import { FrameError, FrameErrorCode } from './frame-error';
import { RstReason } from './frame-types';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');
const codeOf = (r: unknown): FrameErrorCode | undefined => (r instanceof FrameError ? r.code : undefined);
const HELLO = { agent_id: 'agent-1', connectors: ['db', 'web.prod'], version: '1.2.3' };
const ACK = { replica_id: 'hub-a', flow_window_bytes: 262144, max_frame_bytes: 1048576, keepalive_sec: 15 };

describe('isValidName', () => {
  it.each(['a', 'A9', 'db.prod', 'x:y', 'a-b_c', 'a'.repeat(128)])('accepts %j', (n) => {
    expect(isValidName(n)).toBe(true);
  });

  it.each(['', '.a', '-a', '_a', ':a', 'a b', 'a/b', 'a\n', '\na', 'é', 'a'.repeat(129), 'a\u0000'])('refuses %j', (n) => {
    expect(isValidName(n)).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const v of [undefined, null, 1, ['a'], { a: 1 }, true]) expect(isValidName(v)).toBe(false);
  });
});

describe('decodeHello', () => {
  it('decodes a valid body', () => {
    expect(decodeHello(json(HELLO))).toEqual(HELLO);
  });

  it('removes duplicate connectors, keeping first-seen order', () => {
    expect(decodeHello(json({ ...HELLO, connectors: ['b', 'a', 'b', 'a', 'c'] }))).toEqual({ ...HELLO, connectors: ['b', 'a', 'c'] });
  });

  it('defaults a missing or non-string version and caps a long one at 64 chars', () => {
    expect(decodeHello(json({ agent_id: 'a', connectors: ['b'] }))).toEqual({ agent_id: 'a', connectors: ['b'], version: 'unknown' });
    expect(decodeHello(json({ agent_id: 'a', connectors: ['b'], version: 7 }))).toEqual({ agent_id: 'a', connectors: ['b'], version: 'unknown' });
    const long = decodeHello(json({ ...HELLO, version: 'v'.repeat(100_000) }));
    expect(long).not.toBeInstanceOf(FrameError);
    expect((long as { version: string }).version).toBe('v'.repeat(64));
  });

  it.each([
    ['non-JSON', Buffer.from('{agent_id:')],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['a JSON array', json([HELLO])],
    ['a JSON string', json('hello')],
    ['JSON null', json(null)],
    ['a number', json(42)],
    ['an empty object', json({})],
    ['a missing agent_id', json({ connectors: ['a'] })],
    ['a numeric agent_id', json({ ...HELLO, agent_id: 5 })],
    ['a bad agent_id', json({ ...HELLO, agent_id: '../etc' })],
    ['a huge agent_id', json({ ...HELLO, agent_id: 'a'.repeat(1_000_000) })],
    ['no connectors', json({ ...HELLO, connectors: [] })],
    ['connectors as a string', json({ ...HELLO, connectors: 'db' })],
    ['connectors as an object', json({ ...HELLO, connectors: { 0: 'db', length: 1 } })],
    ['a bad connector name', json({ ...HELLO, connectors: ['db', 'bad name'] })],
    ['a non-string connector', json({ ...HELLO, connectors: ['db', 1] })],
    ['a nested connector list', json({ ...HELLO, connectors: [['db']] })],
    ['more than 1024 connectors', json({ ...HELLO, connectors: Array.from({ length: 1025 }, (_, i) => `c${i}`) })],
    ['deeply nested JSON', Buffer.from('['.repeat(100_000) + ']'.repeat(100_000))],
    ['a BOM before the object', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(HELLO)])],
  ])('refuses %s with INVALID_PAYLOAD', (_what, payload) => {
    expect(codeOf(decodeHello(payload))).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('carries held_replicas (duplicates removed) when the agent sends them; older agents send none', () => {
    expect(decodeHello(json({ ...HELLO, held_replicas: ['hub-a', 'hub-b', 'hub-a'] }))).toEqual({ ...HELLO, held_replicas: ['hub-a', 'hub-b'] });
    expect(decodeHello(json({ ...HELLO, held_replicas: [] }))).toEqual({ ...HELLO, held_replicas: [] });
    expect(decodeHello(json(HELLO))).not.toHaveProperty('held_replicas');
    const max = Array.from({ length: MAX_HELD_REPLICAS }, (_, i) => `hub-${i}`);
    expect(decodeHello(json({ ...HELLO, held_replicas: max }))).toEqual({ ...HELLO, held_replicas: max });
  });

  it.each([
    ['held_replicas as a string', json({ ...HELLO, held_replicas: 'hub-a' })],
    ['held_replicas as null', json({ ...HELLO, held_replicas: null })],
    ['held_replicas as an object', json({ ...HELLO, held_replicas: { 0: 'hub-a' } })],
    ['a bad held replica name', json({ ...HELLO, held_replicas: ['hub a'] })],
    ['a numeric held replica', json({ ...HELLO, held_replicas: [1] })],
    ['an empty held replica name', json({ ...HELLO, held_replicas: [''] })],
    ['too many held replicas', json({ ...HELLO, held_replicas: Array.from({ length: MAX_HELD_REPLICAS + 1 }, (_, i) => `hub-${i}`) })],
  ])('refuses %s with INVALID_PAYLOAD', (_what, payload) => {
    expect(codeOf(decodeHello(payload))).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('carries stripe_of (a list of 128-bit hex keys, duplicates dropped) when the HELLO opens a stripe; others send none', () => {
    const key = '0123456789abcdef0123456789abcdef';
    const other = 'fedcba9876543210fedcba9876543210';
    expect(decodeHello(json({ ...HELLO, stripe_of: [key] }))).toEqual({ ...HELLO, stripe_of: [key] });
    expect(decodeHello(json({ ...HELLO, stripe_of: [key, other, key] }))).toEqual({ ...HELLO, stripe_of: [key, other] });
    const most = Array.from({ length: MAX_STRIPE_OF_KEYS }, (_, i) => i.toString(16).padStart(32, '0'));
    expect(decodeHello(json({ ...HELLO, stripe_of: most }))).toEqual({ ...HELLO, stripe_of: most });
    expect(decodeHello(json(HELLO))).not.toHaveProperty('stripe_of');
  });

  it.each([
    ['an uppercase key', ['0123456789ABCDEF0123456789ABCDEF']],
    ['a short key', ['0123456789abcdef']],
    ['a long key', ['0123456789abcdef0123456789abcdef0']],
    ['a non-hex key', ['g123456789abcdef0123456789abcdef']],
    ['an empty key', ['']],
    ['a numeric key', [1234]],
    ['a null key', [null]],
    ['a good key beside a bad one', ['0123456789abcdef0123456789abcdef', 'nope']],
    ['an empty list', []],
    ['too many keys', Array.from({ length: MAX_STRIPE_OF_KEYS + 1 }, (_, i) => i.toString(16).padStart(32, '0'))],
    ['a bare key (not a list)', '0123456789abcdef0123456789abcdef'],
    ['null', null],
    ['an object', { key: '0123456789abcdef0123456789abcdef' }],
  ])('refuses stripe_of as %s with INVALID_PAYLOAD', (_what, stripe_of) => {
    expect(codeOf(decodeHello(json({ ...HELLO, stripe_of })))).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('accepts exactly 1024 connectors', () => {
    const connectors = Array.from({ length: 1024 }, (_, i) => `c${i}`);
    expect(decodeHello(json({ ...HELLO, connectors }))).toEqual({ ...HELLO, connectors });
  });

  it('ignores a __proto__ key and never reads inherited fields', () => {
    const payload = Buffer.from('{"__proto__":{"agent_id":"x","connectors":["y"]},"version":"1"}');
    expect(codeOf(decodeHello(payload))).toBe(FrameErrorCode.INVALID_PAYLOAD);
    expect(({} as Record<string, unknown>)['agent_id']).toBeUndefined();
  });

  it('uses the last of duplicate JSON keys', () => {
    const payload = Buffer.from('{"agent_id":"bad name","agent_id":"good","connectors":["a"],"version":"1"}');
    expect(decodeHello(payload)).toEqual({ agent_id: 'good', connectors: ['a'], version: '1' });
  });

  it('never throws on arbitrary bytes or arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.jsonValue().map(json)), (payload) => {
        const r = decodeHello(payload);
        if (r instanceof FrameError) {
          expect(r.code).toBe(FrameErrorCode.INVALID_PAYLOAD);
        } else {
          expect(isValidName(r.agent_id)).toBe(true);
          expect(r.connectors.every(isValidName)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('decodeHelloAck', () => {
  it('decodes a valid body and drops unknown fields', () => {
    expect(decodeHelloAck(json({ ...ACK, extra: true }))).toEqual(ACK);
  });

  it.each([
    ['non-JSON', Buffer.from('nope')],
    ['an array', json([ACK])],
    ['a missing replica_id', json({ ...ACK, replica_id: undefined })],
    ['a numeric replica_id', json({ ...ACK, replica_id: 1 })],
    ['a zero window', json({ ...ACK, flow_window_bytes: 0 })],
    ['a negative window', json({ ...ACK, flow_window_bytes: -1 })],
    ['a fractional window', json({ ...ACK, flow_window_bytes: 1.5 })],
    ['a string window', json({ ...ACK, flow_window_bytes: '262144' })],
    ['a zero keepalive', json({ ...ACK, keepalive_sec: 0 })],
    ['a null max_frame_bytes', json({ ...ACK, max_frame_bytes: null })],
    // A frame limit with no room for DATA makes every DATA payload empty (maxDataPayload <= 0).
    ['max_frame_bytes no larger than a header', json({ ...ACK, max_frame_bytes: 12 })],
    ['max_frame_bytes below header + control payload', json({ ...ACK, max_frame_bytes: 12 + 65536 - 1 })],
    ['max_frame_bytes beyond 64 MiB', json({ ...ACK, max_frame_bytes: 64 * 1024 * 1024 + 1 })],
    // Windows must fit the flow's 31-bit credit and 32-bit WINDOW_UPDATE increments.
    ['a window beyond 1 GiB', json({ ...ACK, flow_window_bytes: 1024 * 1024 * 1024 + 1 })],
    ['an astronomically large window', Buffer.from('{"replica_id":"r","flow_window_bytes":1e300,"max_frame_bytes":1048576,"keepalive_sec":15}')],
    // keepalive_sec * 1000 must stay a valid timer delay (Node clamps > 2^31-1 ms to 1 ms).
    ['a keepalive beyond an hour', json({ ...ACK, keepalive_sec: 3601 })],
    ['a zero epoch', json({ ...ACK, epoch: 0 })],
    ['a fractional epoch', json({ ...ACK, epoch: 2.5 })],
    ['a string epoch', json({ ...ACK, epoch: '7' })],
    ['an epoch beyond 2^53', Buffer.from('{"replica_id":"r","flow_window_bytes":1,"max_frame_bytes":1048576,"keepalive_sec":15,"epoch":9007199254740993}')],
    ['a zero window ceiling', json({ ...ACK, max_flow_window_bytes: 0 })],
    ['a window ceiling beyond 1 GiB', json({ ...ACK, max_flow_window_bytes: 1024 * 1024 * 1024 + 1 })],
    ['a string window ceiling', json({ ...ACK, max_flow_window_bytes: '16777216' })],
    ['zero replicas', json({ ...ACK, replicas: 0 })],
    ['negative replicas', json({ ...ACK, replicas: -2 })],
    ['fractional replicas', json({ ...ACK, replicas: 1.5 })],
    ['string replicas', json({ ...ACK, replicas: '2' })],
    ['null replicas', json({ ...ACK, replicas: null })],
    ['too many replicas', json({ ...ACK, replicas: MAX_ACK_REPLICAS + 1 })],
    ['a stripe key without a stripe count', json({ ...ACK, stripe_key: 'ab'.repeat(16) })],
    ['a stripe count without a key', json({ ...ACK, stripes: 4 })],
    ['a bad stripe key', json({ ...ACK, stripe_key: 'AB'.repeat(16), stripes: 4 })],
    ['zero stripes', json({ ...ACK, stripe_key: 'ab'.repeat(16), stripes: 0 })],
    ['fractional stripes', json({ ...ACK, stripe_key: 'ab'.repeat(16), stripes: 1.5 })],
    ['too many stripes', json({ ...ACK, stripe_key: 'ab'.repeat(16), stripes: MAX_ACK_STRIPES + 1 })],
  ])('refuses %s with INVALID_PAYLOAD', (_what, payload) => {
    expect(codeOf(decodeHelloAck(payload))).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });

  it('accepts the bounds the hub config allows', () => {
    const low = { replica_id: 'r', flow_window_bytes: 1, max_frame_bytes: 12 + 65536, keepalive_sec: 1 };
    const high = { replica_id: 'r', flow_window_bytes: 1024 * 1024 * 1024, max_frame_bytes: 64 * 1024 * 1024, keepalive_sec: 3600 };
    expect(decodeHelloAck(json(low))).toEqual(low);
    expect(decodeHelloAck(json(high))).toEqual(high);
  });

  it('carries the window ceiling (limits.max_flow_window_bytes) when the hub sends one; older hubs do not', () => {
    expect(decodeHelloAck(json({ ...ACK, max_flow_window_bytes: 16 * 1024 * 1024 }))).toEqual({ ...ACK, max_flow_window_bytes: 16 * 1024 * 1024 });
    expect(decodeHelloAck(json(ACK))).not.toHaveProperty('max_flow_window_bytes');
  });

  it('carries the alive replica count when the hub sends one; older hubs do not', () => {
    expect(decodeHelloAck(json({ ...ACK, replicas: 1 }))).toEqual({ ...ACK, replicas: 1 });
    expect(decodeHelloAck(json({ ...ACK, replicas: MAX_ACK_REPLICAS }))).toEqual({ ...ACK, replicas: MAX_ACK_REPLICAS });
    expect(decodeHelloAck(json(ACK))).not.toHaveProperty('replicas');
  });

  it('carries the stripe key and count when the hub takes stripes; older hubs send neither', () => {
    const key = 'ab'.repeat(16);
    expect(decodeHelloAck(json({ ...ACK, stripe_key: key, stripes: 4 }))).toEqual({ ...ACK, stripe_key: key, stripes: 4 });
    expect(decodeHelloAck(json({ ...ACK, stripe_key: key, stripes: MAX_ACK_STRIPES }))).toEqual({ ...ACK, stripe_key: key, stripes: MAX_ACK_STRIPES });
    expect(decodeHelloAck(json(ACK))).not.toHaveProperty('stripe_key');
    expect(isStripeKey(key)).toBe(true);
    expect(isStripeKey(key.slice(1))).toBe(false);
  });

  it('carries the HA ownership epoch when the hub sends one', () => {
    expect(decodeHelloAck(json({ ...ACK, epoch: 42 }))).toEqual({ ...ACK, epoch: 42 });
    expect(decodeHelloAck(json({ ...ACK, epoch: Number.MAX_SAFE_INTEGER }))).toEqual({ ...ACK, epoch: Number.MAX_SAFE_INTEGER });
  });
});

describe('decodeGoaway', () => {
  it('reads the reason, capped at 128 chars', () => {
    expect(decodeGoaway(json({ reason: 'drain' }))).toEqual({ reason: 'drain' });
    expect(decodeGoaway(json({ reason: 'x'.repeat(1000) }))).toEqual({ reason: 'x'.repeat(128) });
  });

  it('falls back to "unspecified" for an empty, non-JSON, non-object or reason-less body', () => {
    for (const p of [Buffer.alloc(0), Buffer.from('bye'), json(['drain']), json({ reason: 3 }), json({}), json(null)]) {
      expect(decodeGoaway(p)).toEqual({ reason: 'unspecified' });
    }
  });
});

describe('decodeOpen', () => {
  it('decodes a connector name', () => {
    expect(decodeOpen(Buffer.from('db.prod:5432'))).toBe('db.prod:5432');
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['a space', Buffer.from('db prod')],
    ['a newline at the end', Buffer.from('db\n')],
    ['a NUL', Buffer.from('db\u0000')],
    ['a leading dot', Buffer.from('.db')],
    ['a path', Buffer.from('../db')],
    ['non-ASCII', Buffer.from('dé')],
    ['invalid UTF-8', Buffer.from([0x64, 0xc3])],
    ['129 chars', Buffer.from('a'.repeat(129))],
    ['over 255 bytes', Buffer.from('a'.repeat(10_000))],
    ['JSON', json({ connector: 'db' })],
  ])('refuses %s with INVALID_PAYLOAD', (_what, payload) => {
    expect(codeOf(decodeOpen(payload))).toBe(FrameErrorCode.INVALID_PAYLOAD);
  });
});

describe('decodeRstReason and decodeWindowIncrement', () => {
  it('maps known reason bytes, and unknown or absent ones to UNSPECIFIED', () => {
    expect(decodeRstReason(Buffer.from([RstReason.DNS]))).toBe(RstReason.DNS);
    expect(decodeRstReason(Buffer.from([RstReason.CONNECT_REFUSED]))).toBe(RstReason.CONNECT_REFUSED);
    expect(decodeRstReason(Buffer.from([11]))).toBe(RstReason.AGENT_BUSY);
    expect(decodeRstReason(Buffer.from([12]))).toBe(RstReason.UNSPECIFIED);
    expect(decodeRstReason(Buffer.from([0xff]))).toBe(RstReason.UNSPECIFIED);
    expect(decodeRstReason(Buffer.alloc(0))).toBe(RstReason.UNSPECIFIED);
    expect(decodeRstReason(Buffer.from([1, 2]))).toBe(RstReason.UNSPECIFIED);
  });

  it('reads the increment big-endian and unsigned', () => {
    expect(decodeWindowIncrement(Buffer.from('80000001', 'hex'))).toBe(0x80000001);
    expect(decodeWindowIncrement(Buffer.from('00000100', 'hex'))).toBe(256);
  });
});
