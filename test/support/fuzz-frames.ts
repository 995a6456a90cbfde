/**
 * fast-check generators of hostile /tunnel and /mesh traffic, and a small WebSocket driver that
 * feeds it to a real hub and reports how the hub answered (a frame, or the close code).
 * Frames are written by hand (rawFrame) so every header field can be wrong, not only the ones the
 * product encoders allow.
 */
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import WebSocket from 'ws';
import {
  decodeFrames,
  decodeMeshFrames,
  encodeMeshData,
  encodeMeshFin,
  encodeMeshOpen,
  encodeMeshPing,
  encodeMeshRst,
  encodeMeshWindowUpdate,
  FrameType,
  HEADER_BYTES,
  MeshFrameType,
  type Frame,
  type MeshFrame,
} from '@nowconnect/frames';

/** Distinctive bytes carried inside fuzzed payloads; no log line may ever contain them. */
export const FUZZ_MARKER = `NCFUZZ-${crypto.randomBytes(6).toString('hex')}-PAYLOAD`;

/** A frame with every header field chosen by the caller (length defaults to the payload's). */
export function rawFrame(o: { version?: number; type: number; flags?: number; id: number; payload?: Uint8Array; length?: number }): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = o.version ?? 1;
  h[1] = o.type & 0xff;
  h.writeUInt16BE((o.flags ?? 0) & 0xffff, 2);
  h.writeUInt32BE(o.id >>> 0, 4);
  h.writeUInt32BE((o.length ?? payload.length) >>> 0, 8);
  return Buffer.concat([h, payload]);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000) >>> 0, 0);
  b.writeUInt32BE(n % 0x1_0000_0000 >>> 0, 4);
  return b;
};

/** Payload bytes: random, the marker, or both. */
export const payloadArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.from(FUZZ_MARKER)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.concat([Buffer.from(b), Buffer.from(FUZZ_MARKER)])),
);

/** Flow ids: the ones a session may really have, 0, and extremes. */
const flowIdArb = (live: number[]): fc.Arbitrary<number> =>
  fc.oneof(fc.constantFrom(0, 1, 2, 3, 0xffffffff, 0x80000000), ...(live.length > 0 ? [fc.constantFrom(...live)] : []), fc.nat());

/** One tunnel frame as an agent could (mis)send it, after HELLO. */
export function tunnelFrameArb(live: number[] = []): fc.Arbitrary<Buffer> {
  const id = flowIdArb(live);
  const json = fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null'));
  return fc.oneof(
    fc.tuple(id, payloadArb).map(([i, p]) => rawFrame({ type: FrameType.DATA, id: i, payload: p })),
    fc.tuple(id, fc.string({ maxLength: 40 })).map(([i, s]) => rawFrame({ type: FrameType.OPEN, id: i, payload: Buffer.from(s) })),
    id.map((i) => rawFrame({ type: FrameType.OPEN_ACK, id: i })),
    id.map((i) => rawFrame({ type: FrameType.FIN, id: i })),
    fc.tuple(id, fc.integer({ min: 0, max: 255 })).map(([i, r]) => rawFrame({ type: FrameType.RST, id: i, payload: Buffer.from([r]) })),
    fc.tuple(id, fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff), fc.nat())).map(([i, n]) => rawFrame({ type: FrameType.WINDOW_UPDATE, id: i, payload: u32(n) })),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => rawFrame({ type: FrameType.PING, id: 0, payload: o })),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => rawFrame({ type: FrameType.PONG, id: 0, payload: o })),
    json.map((p) => rawFrame({ type: FrameType.GOAWAY, id: 0, payload: p })),
    json.map((p) => rawFrame({ type: FrameType.HELLO, id: 0, payload: p })),
    json.map((p) => rawFrame({ type: FrameType.HELLO_ACK, id: 0, payload: p })),
    fc.tuple(id, json).map(([i, p]) => rawFrame({ type: FrameType.TARGET_HEALTH, id: i, payload: p })),
    // unknown, mesh-reserved, bad version, reserved flags, lying length
    fc.tuple(fc.integer({ min: 0x0e, max: 0xff }), id, payloadArb).map(([t, i, p]) => rawFrame({ type: t, id: i, payload: p })),
    fc.tuple(fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1), payloadArb).map(([v, p]) => rawFrame({ version: v, type: FrameType.DATA, id: 1, payload: p })),
    fc.tuple(fc.integer({ min: 1, max: 0xffff }), id).map(([f, i]) => rawFrame({ type: FrameType.FIN, id: i, flags: f })),
    fc.tuple(id, payloadArb, fc.oneof(fc.nat({ max: 400 }), fc.constant(0xffffffff))).map(([i, p, l]) => rawFrame({ type: FrameType.DATA, id: i, payload: p, length: l })),
  );
}

/**
 * Well-formed but hostile tunnel frames that do not end the link by themselves: DATA, FIN, RST
 * and WINDOW_UPDATE for flows that do not exist (or the live one), PINGs and unsolicited PONGs.
 * Long storms of them test the session's bookkeeping rather than the decoder's first check.
 */
export function tunnelStormFrameArb(live: number[] = []): fc.Arbitrary<Buffer> {
  const id = fc.oneof(fc.integer({ min: 1, max: 0xffffffff }), ...(live.length > 0 ? [fc.constantFrom(...live)] : []));
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(id, payloadArb).map(([i, p]) => rawFrame({ type: FrameType.DATA, id: i, payload: p })) },
    id.map((i) => rawFrame({ type: FrameType.FIN, id: i })),
    fc.tuple(id, fc.integer({ min: 0, max: 255 })).map(([i, r]) => rawFrame({ type: FrameType.RST, id: i, payload: Buffer.from([r]) })),
    fc.tuple(id, fc.integer({ min: 1, max: 0xffffffff })).map(([i, n]) => rawFrame({ type: FrameType.WINDOW_UPDATE, id: i, payload: u32(n) })),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => rawFrame({ type: FrameType.PING, id: 0, payload: o })),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => rawFrame({ type: FrameType.PONG, id: 0, payload: o })),
  );
}

/** One mesh frame as a peer could (mis)send it, after M_HELLO. */
export function meshFrameArb(ctx: { agentId: string; connector: string; epoch: number }): fc.Arbitrary<Buffer> {
  const cid = fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 0xffffffff), fc.nat());
  const epoch = fc.oneof(fc.constant(ctx.epoch), fc.constantFrom(0, ctx.epoch + 1, 2 ** 53 - 1), fc.nat());
  const seq = fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.nat());
  const prefix = fc.tuple(epoch, seq).map(([e, s]) => Buffer.concat([u64(e), u64(s)]));
  const flow = (type: MeshFrameType, body: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> =>
    fc.tuple(cid, prefix, body).map(([c, p, b]) => rawFrame({ type, id: c, payload: Buffer.concat([p, b]) }));
  const name = fc.oneof(fc.constant(ctx.connector), fc.constant(ctx.agentId), fc.constant(''), fc.string({ maxLength: 20 }));
  const lenStr = (s: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(s) & 0xff]), Buffer.from(s)]);
  const openBody = fc
    .tuple(name, fc.oneof(fc.constant(ctx.agentId), name), fc.oneof(fc.constantFrom(0, 1, 65536, 0xffffffff), fc.nat()))
    .map(([c, a, w]) => Buffer.concat([u32(w), lenStr(c), lenStr(a)]));
  // A well-formed M_OPEN to the real agent (odd cid: the dialer's), then data on it: real flows.
  const goodOpen = fc
    .tuple(fc.integer({ min: 0, max: 1000 }), payloadArb)
    .map(([k, p]) => {
      const c = 2 * k + 1;
      return Buffer.concat([
        encodeMeshOpen({ cid: c, epoch: ctx.epoch, seq: 1, connector: ctx.connector, agentId: ctx.agentId, window: 65536 }),
        encodeMeshData(c, ctx.epoch, 2, p),
      ]);
    });
  return fc.oneof(
    { weight: 2, arbitrary: goodOpen },
    flow(MeshFrameType.M_OPEN, openBody),
    flow(MeshFrameType.M_OPEN_ACK, fc.nat().map(u32)),
    flow(MeshFrameType.M_DATA, payloadArb),
    flow(MeshFrameType.M_FIN, fc.constant(Buffer.alloc(0))),
    flow(MeshFrameType.M_RST, fc.integer({ min: 0, max: 255 }).map((r) => Buffer.from([r]))),
    flow(MeshFrameType.M_WINDOW_UPDATE, fc.oneof(fc.constantFrom(0, 1, 0xffffffff), fc.nat()).map(u32)),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => rawFrame({ type: MeshFrameType.M_PING, id: 0, payload: o })),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => rawFrame({ type: MeshFrameType.M_PONG, id: 0, payload: o })),
    fc.integer({ min: 0, max: 255 }).map((r) => rawFrame({ type: MeshFrameType.M_GOAWAY, id: 0, payload: Buffer.from([r]) })),
    fc.string({ maxLength: 30 }).map((s) => rawFrame({ type: MeshFrameType.M_HELLO, id: 0, payload: lenStr(s) })),
    // tunnel types on a mesh link, unknown types, truncated flow prefixes
    fc.tuple(fc.integer({ min: 0, max: 0xff }), cid, payloadArb).map(([t, c, p]) => rawFrame({ type: t, id: c, payload: p })),
    fc.tuple(fc.integer({ min: 0x21, max: 0x26 }), cid, fc.uint8Array({ maxLength: 15 })).map(([t, c, p]) => rawFrame({ type: t, id: c, payload: p })),
  );
}

/** Well-formed mesh flow frames for cids that mostly do not exist, plus real opens and pings. */
export function meshStormFrameArb(ctx: { agentId: string; connector: string; epoch: number }): fc.Arbitrary<Buffer> {
  const cid = fc.integer({ min: 1, max: 0xffffffff });
  const ep = fc.oneof(fc.constant(ctx.epoch), fc.nat());
  const seq = fc.nat();
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(cid, ep, seq, payloadArb).map(([c, e, q, p]) => encodeMeshData(c, e, q, p)) },
    fc.tuple(cid, ep, seq).map(([c, e, q]) => encodeMeshFin(c, e, q)),
    fc.tuple(cid, ep, seq, fc.integer({ min: 0, max: 10 })).map(([c, e, q, r]) => encodeMeshRst(c, e, q, r)),
    fc.tuple(cid, ep, seq, fc.integer({ min: 1, max: 0xffffffff })).map(([c, e, q, n]) => encodeMeshWindowUpdate(c, e, q, n)),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => encodeMeshPing(MeshFrameType.M_PING, o)),
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((o) => encodeMeshPing(MeshFrameType.M_PONG, o)),
    fc.tuple(fc.integer({ min: 0, max: 1000 }), payloadArb).map(([k, p]) =>
      Buffer.concat([
        encodeMeshOpen({ cid: 2 * k + 1, epoch: ctx.epoch, seq: 1, connector: ctx.connector, agentId: ctx.agentId, window: 65536 }),
        encodeMeshData(2 * k + 1, ctx.epoch, 2, p),
      ]),
    ),
  );
}

/** Flip one byte of one frame of a list (or none). */
export function withFlip(frames: fc.Arbitrary<Buffer[]>): fc.Arbitrary<Buffer[]> {
  return fc.tuple(frames, fc.option(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 })), { freq: 3 })).map(([fs, flip]) => {
    if (flip === null || fs.length === 0) return fs;
    const [which, at, xor] = flip;
    const out = fs.map((f) => Buffer.from(f));
    const f = out[which % out.length]!;
    if (f.length > 0) f[at % f.length] = f[at % f.length]! ^ xor;
    return out;
  });
}

/** Group frames into WebSocket messages (several frames may share one message): cut after frame i when cuts[i] is not false. */
export function group(frames: Buffer[], cuts: boolean[]): Buffer[] {
  const out: Buffer[] = [];
  let cur: Buffer[] = [];
  frames.forEach((f, i) => {
    cur.push(f);
    if (cuts[i] !== false) {
      out.push(Buffer.concat(cur));
      cur = [];
    }
  });
  if (cur.length > 0) out.push(Buffer.concat(cur));
  return out;
}

export type Outcome<F> = { kind: 'frame'; frame: F } | { kind: 'closed'; code: number; reason: string } | { kind: 'timeout' };

/** A fuzzing WebSocket client: records decoded frames and the close; waits for either. */
export class FuzzSocket<F extends Frame | MeshFrame> {
  readonly frames: F[] = [];
  closeInfo: { code: number; reason: string } | undefined;
  private waiters = new Set<() => void>();

  private constructor(
    readonly ws: WebSocket,
    mesh: boolean,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      const buf = Buffer.from(data);
      if (mesh) decodeMeshFrames(buf, 64 * 1024 * 1024, (f) => this.frames.push(structuredClone(f) as F));
      else decodeFrames(buf, 64 * 1024 * 1024, (f) => this.frames.push({ ...f, payload: Buffer.from(f.payload) } as F));
      this.notify();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      this.notify();
    });
    ws.on('error', () => undefined); // 'close' follows
  }

  static open<F extends Frame | MeshFrame>(url: string, opts: { token?: string; mesh: boolean; timeoutMs?: number }): Promise<FuzzSocket<F>> {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
      headers: opts.token !== undefined ? { Authorization: `Bearer ${opts.token}` } : {},
      handshakeTimeout: opts.timeoutMs ?? 10_000,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new FuzzSocket<F>(ws, opts.mesh)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode ?? 0}`)));
      ws.once('error', reject);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Sends each message; stops quietly once the socket is no longer open. */
  async send(messages: Buffer[]): Promise<number> {
    let sent = 0;
    for (const m of messages) {
      if (this.ws.readyState !== WebSocket.OPEN) break;
      await new Promise<void>((resolve) => this.ws.send(m, { binary: true }, () => resolve()));
      sent++;
    }
    return sent;
  }

  /** The first frame (already seen or coming) matching pred, or the close, or a timeout. */
  until(pred: (f: F) => boolean, timeoutMs: number): Promise<Outcome<F>> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const hit = this.frames.find(pred);
        if (hit !== undefined) {
          done({ kind: 'frame', frame: hit });
          return true;
        }
        if (this.closeInfo !== undefined) {
          done({ kind: 'closed', ...this.closeInfo });
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
      const done = (o: Outcome<F>): void => {
        clearTimeout(timer);
        this.waiters.delete(onEvent);
        resolve(o);
      };
      const onEvent = (): void => void check();
      if (!check()) this.waiters.add(onEvent);
    });
  }

  /** Closes from our side (if still open) and resolves once closed (terminates after timeoutMs). */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closeInfo !== undefined) return;
    this.ws.close(1000);
    const r = await this.until(() => false, timeoutMs);
    if (r.kind === 'timeout') this.ws.terminate();
  }
}
