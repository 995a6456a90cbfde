import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import WebSocket, { WebSocketServer } from 'ws';
import { WsFrameReader, type WsPayloadSink } from './ws-frame-reader';

/** One WebSocket frame as RFC 6455 lays it out (built here, independent of ws's Sender). */
function wsFrame(opts: { fin?: boolean; opcode: number; payload: Buffer; mask?: Buffer; rsv?: number }): Buffer {
  const { payload, mask } = opts;
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (opts.fin === false ? 0 : 0x80) | ((opts.rsv ?? 0) << 4) | opts.opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? n : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(n, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(n), 2);
  let body = payload;
  if (mask) {
    mask.copy(head, 2 + ext);
    body = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]!));
  }
  return Buffer.concat([head, body]);
}

/** ws's own frame parser (exported by ws, not typed by @types/ws). */
type ReceiverLike = EventEmitter & { write(chunk: Buffer): boolean };
const Receiver = (WebSocket as unknown as { Receiver: new (opts: { isServer: boolean; maxPayload?: number }) => ReceiverLike }).Receiver;

class Sink implements WsPayloadSink {
  messages: Buffer[] = [];
  current: Buffer[] = [];
  errors: string[] = [];
  pieces = 0;
  wsPayload(bytes: Buffer): void {
    this.current.push(Buffer.from(bytes));
    this.pieces++;
  }
  wsMessageEnd(): void {
    this.messages.push(Buffer.concat(this.current));
    this.current = [];
  }
  wsProtocolError(code: string): void {
    this.errors.push(code);
  }
}

/** A socket stand-in fed by hand, with a real ws Receiver behind it, as ws wires one up. */
function harness(server: boolean, maxPayload = 0) {
  const socket = new EventEmitter() as EventEmitter & { readableLength: number; pause(): void; paused: boolean };
  socket.readableLength = 0;
  socket.paused = false;
  socket.pause = () => {
    socket.paused = true;
  };
  const receiver = new Receiver({ isServer: server, maxPayload });
  const events: string[] = [];
  receiver.on('ping', (d: Buffer) => events.push(`ping:${d.toString()}`));
  receiver.on('pong', (d: Buffer) => events.push(`pong:${d.toString()}`));
  receiver.on('conclude', (code: number) => events.push(`close:${code}`));
  receiver.on('message', (d: Buffer, binary: boolean) => events.push(`ws-message:${binary ? 'binary' : 'text'}:${d.length}`));
  receiver.on('error', (e: Error & { code?: string }) => events.push(`ws-error:${e.code}`));
  socket.on('data', (chunk: Buffer) => receiver.write(chunk));
  const ws = { _receiver: receiver } as unknown as WebSocket;
  const sink = new Sink();
  const reader = WsFrameReader.attach(ws, socket as unknown as Socket, sink, server);
  const feed = (bytes: Buffer, cuts: readonly number[] = []) => {
    const points = cuts.map((x) => Math.floor(x * bytes.length)).sort((a, b) => a - b);
    let prev = 0;
    for (const p of [...points, bytes.length]) {
      if (p > prev) socket.emit('data', Buffer.from(bytes.subarray(prev, p)));
      prev = Math.max(prev, p);
    }
  };
  return { socket, receiver, ws, sink, events, reader, feed };
}

const MASK = Buffer.from([0x12, 0x34, 0x56, 0x78]);

describe('WsFrameReader', () => {
  it('takes over from ws and hands binary payload on as views of the socket reads', () => {
    const h = harness(false);
    expect(h.reader).not.toBeNull();
    expect(h.socket.listenerCount('data')).toBe(1);
    const payload = Buffer.alloc(200_000, 3);
    const chunk = wsFrame({ opcode: 2, payload });
    const seen: Buffer[] = [];
    h.sink.wsPayload = (b) => seen.push(b);
    h.socket.emit('data', chunk);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.buffer).toBe(chunk.buffer); // a view: no copy
    expect(seen[0]!.equals(payload)).toBe(true);
    expect(h.events).toEqual([]); // ws's receiver never saw it
  });

  it('does not take over twice, nor when ws has bytes buffered', () => {
    const h = harness(false);
    expect(WsFrameReader.attach(h.ws, h.socket as unknown as Socket, new Sink(), false)).toBeNull();
    const other = harness(false);
    // Give ws half a frame first: the next reader must not start mid-frame.
    const fresh = new EventEmitter() as unknown as Socket;
    const receiver = new Receiver({ isServer: false });
    (fresh as unknown as EventEmitter).on('data', (c: Buffer) => receiver.write(c));
    receiver.write(wsFrame({ opcode: 2, payload: Buffer.alloc(10) }).subarray(0, 5));
    Object.assign(fresh, { readableLength: 0 });
    expect(WsFrameReader.attach({ _receiver: receiver } as unknown as WebSocket, fresh, new Sink(), false)).toBeNull();
    void other;
  });

  it('unmasks what a client masked (any key, any split), fragmented messages joined by the sink, control frames to ws', () => {
    const frame = fc.oneof(
      fc.record({ kind: fc.constant('msg' as const), parts: fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant('ping' as const), parts: fc.constant([]) }),
      fc.record({ kind: fc.constant('pong' as const), parts: fc.constant([]) }),
    );
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 6 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        (items, key, cuts) => {
          const h = harness(true);
          const wire: Buffer[] = [];
          const wantMessages: string[] = [];
          const wantEvents: string[] = [];
          items.forEach((item, i) => {
            const mask = Buffer.from(key);
            if (item.kind === 'msg') {
              item.parts.forEach((p, j) =>
                wire.push(wsFrame({ opcode: j === 0 ? 2 : 0, fin: j === item.parts.length - 1, payload: Buffer.from(p), mask })),
              );
              wantMessages.push(Buffer.concat(item.parts.map((p) => Buffer.from(p))).toString('hex'));
            } else {
              wire.push(wsFrame({ opcode: item.kind === 'ping' ? 9 : 10, payload: Buffer.from(`c${i}`), mask }));
              wantEvents.push(`${item.kind}:c${i}`);
            }
          });
          h.feed(Buffer.concat(wire), cuts);
          expect(h.sink.messages.map((m) => m.toString('hex'))).toEqual(wantMessages);
          expect(h.events).toEqual(wantEvents);
          expect(h.sink.errors).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('passes a close frame to ws and stops reading', () => {
    const h = harness(false);
    const close = Buffer.alloc(2);
    close.writeUInt16BE(1000);
    h.feed(Buffer.concat([wsFrame({ opcode: 2, payload: Buffer.from('a') }), wsFrame({ opcode: 8, payload: close }), wsFrame({ opcode: 2, payload: Buffer.from('b') })]));
    expect(h.sink.messages.map(String)).toEqual(['a']);
    expect(h.events).toEqual(['close:1000']);
    // Not put back either: ws stops reading after a close frame (it drops its own listener then).
    expect(h.socket.listenerCount('data')).toBe(0);
  });

  it.each([
    ['a text frame', wsFrame({ opcode: 1, payload: Buffer.from('hi'), mask: MASK }), 'ws-message:text:2'],
    ['reserved bits', wsFrame({ opcode: 2, rsv: 4, payload: Buffer.from('x'), mask: MASK }), 'ws-error:WS_ERR_UNEXPECTED_RSV_1'],
    ['an unmasked client frame', wsFrame({ opcode: 2, payload: Buffer.from('x') }), 'ws-error:WS_ERR_EXPECTED_MASK'],
    ['a continuation with no message', wsFrame({ opcode: 0, payload: Buffer.from('x'), mask: MASK }), 'ws-error:WS_ERR_INVALID_OPCODE'],
    ['an unknown opcode', wsFrame({ opcode: 3, payload: Buffer.from('x'), mask: MASK }), 'ws-error:WS_ERR_INVALID_OPCODE'],
    ['a fragmented ping', wsFrame({ opcode: 9, fin: false, payload: Buffer.from('x'), mask: MASK }), 'ws-error:WS_ERR_EXPECTED_FIN'],
    ['a frame over maxPayload', wsFrame({ opcode: 2, payload: Buffer.alloc(2000), mask: MASK }), 'ws-error:WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
  ])('hands %s back to ws, header split or not, so ws reports it as always', async (_name, bad, event) => {
    for (const cuts of [[], [1 / bad.length], [3 / bad.length, 0.9]]) {
      const h = harness(true, 1024);
      const good = wsFrame({ opcode: 2, payload: Buffer.from('ok'), mask: MASK });
      h.feed(Buffer.concat([good, bad]), cuts.map((c) => (good.length + c * bad.length) / (good.length + bad.length)));
      await new Promise((r) => setImmediate(r)); // ws emits its errors on the next tick
      expect(h.sink.messages.map(String)).toEqual(['ok']);
      expect(h.events).toEqual([event]);
    }
  });

  it('reports what ws cannot see once frames bypass it: a new message inside a fragmented one, a fragmented message over maxPayload', () => {
    const h = harness(true, 1024);
    h.feed(Buffer.concat([wsFrame({ opcode: 2, fin: false, payload: Buffer.from('a'), mask: MASK }), wsFrame({ opcode: 2, payload: Buffer.from('b'), mask: MASK })]));
    expect(h.sink.errors).toEqual(['WS_ERR_INVALID_OPCODE']);
    const big = harness(true, 1024);
    big.feed(Buffer.concat([wsFrame({ opcode: 2, fin: false, payload: Buffer.alloc(1000), mask: MASK }), wsFrame({ opcode: 0, payload: Buffer.alloc(1000), mask: MASK })]));
    expect(big.sink.errors).toEqual(['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH']);
  });

  it('hands pings (unmasked) to a sink that takes them, and drops pongs, instead of ws answering each', () => {
    const h = harness(true);
    const pings: string[] = [];
    (h.sink as Sink & { wsPing(p: Buffer): void }).wsPing = (p: Buffer) => pings.push(p.toString());
    h.feed(
      Buffer.concat([
        wsFrame({ opcode: 9, payload: Buffer.from('one'), mask: MASK }),
        wsFrame({ opcode: 10, payload: Buffer.from('unsolicited'), mask: MASK }),
        wsFrame({ opcode: 2, payload: Buffer.from('data'), mask: MASK }),
        wsFrame({ opcode: 9, payload: Buffer.from(''), mask: MASK }),
      ]),
      [0.1, 0.5, 0.7],
    );
    expect(pings).toEqual(['one', '']);
    expect(h.events).toEqual([]);
    expect(h.sink.messages.map(String)).toEqual(['data']);
  });

  describe('on a real WebSocket', () => {
    let wss: WebSocketServer;
    let url: string;
    beforeAll(async () => {
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 4 * 1024 * 1024 });
      await once(wss, 'listening');
      url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    });

    it('carries masked megabytes exactly both ways, answers pings and closes cleanly', async () => {
      const serverSide = once(wss, 'connection') as Promise<[WebSocket, { socket: Socket }]>;
      const client = new WebSocket(url, { perMessageDeflate: false });
      await once(client, 'open');
      const [server, req] = await serverSide;
      const serverSink = new Sink();
      const clientSink = new Sink();
      expect(WsFrameReader.attach(server, req.socket, serverSink, true)).not.toBeNull();
      expect(WsFrameReader.attach(client, (client as unknown as { _socket: Socket })._socket, clientSink, false)).not.toBeNull();
      const up = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < up.length; i++) up[i] = (i * 7) & 0xff;
      const down = Buffer.from(up).reverse();
      client.send(up); // a random mask per frame
      server.send(down);
      const gotPong = once(client, 'pong');
      client.ping(Buffer.from('are you there'));
      expect(String((await gotPong)[0])).toBe('are you there');
      while (serverSink.messages.length < 1 || clientSink.messages.length < 1) await new Promise((r) => setImmediate(r));
      expect(serverSink.messages[0]!.equals(up)).toBe(true);
      expect(clientSink.messages[0]!.equals(down)).toBe(true);
      expect(serverSink.pieces).toBeGreaterThan(1); // streamed as it arrived, not reassembled
      const closed = once(server, 'close');
      client.close(1000, 'bye');
      const [code] = await closed;
      expect(code).toBe(1000);
      await once(client, 'close');
    });
  });
});
