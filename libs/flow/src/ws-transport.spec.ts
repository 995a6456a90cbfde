import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeFrames, encodeFin, encodeFrame, encodeWindowUpdate, Frame, FrameType } from '@nowconnect/frames';
import { WsTransport } from './ws-transport';

/** A real ws server and client on loopback, each end wrapped in a WsTransport. */
interface Pair {
  readonly server: WebSocket;
  readonly client: WebSocket;
  readonly serverSocket: Socket;
  readonly clientSocket: Socket;
  /** Binary messages each end received, in order. */
  readonly atServer: Buffer[];
  readonly atClient: Buffer[];
  close(): Promise<void>;
}

async function wsPair(): Promise<Pair> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  const accepted = once(wss, 'connection') as Promise<[WebSocket, IncomingMessage]>;
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  const [upgrade] = (await once(client, 'upgrade')) as [IncomingMessage];
  const [server, req] = await accepted;
  if (client.readyState !== WebSocket.OPEN) await once(client, 'open');
  const atServer: Buffer[] = [];
  const atClient: Buffer[] = [];
  server.on('message', (d: Buffer, binary: boolean) => binary && atServer.push(d));
  client.on('message', (d: Buffer, binary: boolean) => binary && atClient.push(d));
  return {
    server,
    client,
    serverSocket: req.socket as Socket,
    clientSocket: upgrade.socket as Socket,
    atServer,
    atClient,
    async close() {
      client.terminate();
      server.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Resolves once `list` has `n` entries (checked on every message of `ws`). */
async function messages(ws: WebSocket, list: Buffer[], n: number): Promise<void> {
  while (list.length < n) await once(ws, 'message');
}

function frames(buf: Buffer): Frame[] {
  const out: Frame[] = [];
  const err = decodeFrames(buf, 64 << 20, (f) => out.push({ ...f, payload: Buffer.from(f.payload) }));
  expect(err).toBeNull();
  return out;
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 7) & 0xff;
  return b;
}

let pair: Pair;
beforeEach(async () => {
  pair = await wsPair();
});
afterEach(async () => {
  await pair.close();
});

describe('WsTransport', () => {
  it.each([
    ['server to client (unmasked)', 'server'],
    ['client to server (mask bit, zero key)', 'client'],
  ] as const)('batches the frames of one turn into one binary message, %s', async (_name, side) => {
    const ws = side === 'server' ? pair.server : pair.client;
    const socket = side === 'server' ? pair.serverSocket : pair.clientSocket;
    const peer = side === 'server' ? pair.client : pair.server;
    const received = side === 'server' ? pair.atClient : pair.atServer;
    const t = new WsTransport(ws, socket, 1 << 20);
    // Sizes cover the 7-bit, 16-bit and 64-bit WebSocket length forms and both copy paths.
    const small = bytes(3, 1);
    const medium = bytes(5000, 2);
    const large = bytes(70_000, 3);
    t.sendData(1, small);
    t.send(encodeWindowUpdate(2, 4096));
    t.sendData(3, medium);
    t.sendData(4, large);
    t.send(encodeFin(1));
    await messages(peer, received, 1);
    expect(received).toHaveLength(1);
    const got = frames(received[0]!);
    expect(got.map((f) => [f.type, f.flowId, f.payload.length])).toEqual([
      [FrameType.DATA, 1, 3],
      [FrameType.WINDOW_UPDATE, 2, 4],
      [FrameType.DATA, 3, 5000],
      [FrameType.DATA, 4, 70_000],
      [FrameType.FIN, 1, 0],
    ]);
    expect(got[0]!.payload.equals(small)).toBe(true);
    expect(got[2]!.payload.equals(medium)).toBe(true);
    expect(got[3]!.payload.equals(large)).toBe(true);

    // A lone tiny frame (7-bit length form) in a later turn is a message of its own.
    t.sendData(9, Buffer.from('x'));
    await messages(peer, received, 2);
    expect(frames(received[1]!).map((f) => [f.flowId, f.payload.toString()])).toEqual([[9, 'x']]);
  });

  it('never lets a message exceed maxMessageBytes, keeping the order of frames', async () => {
    const t = new WsTransport(pair.server, pair.serverSocket, 1 << 20);
    t.maxMessageBytes = 1000;
    const payloads = Array.from({ length: 7 }, (_, i) => bytes(400 + i, i));
    payloads.forEach((p, i) => t.sendData(i + 1, p));
    t.flush();
    await messages(pair.client, pair.atClient, 4);
    expect(pair.atClient.every((m) => m.length <= 1000)).toBe(true);
    const got = pair.atClient.flatMap(frames);
    expect(got.map((f) => f.flowId)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    got.forEach((f, i) => expect(f.payload.equals(payloads[i]!)).toBe(true));
  });

  it('writes a batch of the flush threshold at once, without waiting for the turn to end', () => {
    const t = new WsTransport(pair.server, pair.serverSocket, 64 << 20);
    const written: number[] = [];
    const write = pair.serverSocket.write.bind(pair.serverSocket);
    jest.spyOn(pair.serverSocket, 'write').mockImplementation(((chunk: Buffer, ...rest: unknown[]) => {
      written.push(chunk.length);
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof pair.serverSocket.write);
    for (let i = 0; i < 4; i++) t.sendData(1, bytes(64 * 1024, i));
    // 4 x (64 KiB + 12) crosses 256 KiB: written synchronously, a 10-byte WebSocket header,
    // then each frame header and its payload as they are (8 writes, one writev).
    expect(written).toEqual([10 + 12, 65536, 12, 65536, 12, 65536, 12, 65536]);
  });

  it('random sends, flushes and message limits: every flow gets its bytes in order, every message within its limit', async () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 5; round++) {
      pair.atClient.length = 0;
      const t = new WsTransport(pair.server, pair.serverSocket, 64 << 20);
      t.maxMessageBytes = 20_000 + rnd(300_000);
      const sent = new Map<number, Buffer[]>();
      const controls: number[] = [];
      for (let op = 0; op < 300; op++) {
        const k = rnd(10);
        if (k < 7) {
          const flow = 1 + rnd(3);
          const sizes = [1, 100, 4095, 4096, 5000, 65536];
          const n = Math.min(sizes[rnd(sizes.length)]!, t.maxMessageBytes - 12);
          const payload = bytes(n, op);
          sent.set(flow, [...(sent.get(flow) ?? []), payload]);
          t.sendData(flow, payload);
        } else if (k < 9) {
          controls.push(op);
          t.send(encodeWindowUpdate(100 + op, op + 1));
        } else {
          t.flush();
        }
      }
      t.flush();
      const total = [...sent.values()].flat().reduce((a, b) => a + b.length, 0);
      // Read until every byte (and every control frame) has arrived.
      const got: Frame[] = [];
      let have = 0;
      let consumed = 0;
      while (have < total || got.filter((f) => f.type === FrameType.WINDOW_UPDATE).length < controls.length) {
        if (consumed === pair.atClient.length) await once(pair.client, 'message');
        while (consumed < pair.atClient.length) {
          const m = pair.atClient[consumed++]!;
          expect(m.length).toBeLessThanOrEqual(t.maxMessageBytes);
          for (const f of frames(m)) {
            got.push(f);
            if (f.type === FrameType.DATA) have += f.payload.length;
          }
        }
      }
      for (const [flow, parts] of sent) {
        const received = Buffer.concat(got.filter((f) => f.type === FrameType.DATA && f.flowId === flow).map((f) => f.payload));
        expect(received.equals(Buffer.concat(parts))).toBe(true);
      }
      expect(got.filter((f) => f.type === FrameType.WINDOW_UPDATE).map((f) => f.flowId - 100)).toEqual(controls);
    }
  });

  it('counts the batch not yet written as congestion', () => {
    const t = new WsTransport(pair.server, pair.serverSocket, 100);
    expect(t.congested).toBe(false);
    t.sendData(1, bytes(50, 0));
    expect(t.congested).toBe(false);
    t.sendData(1, bytes(50, 1));
    expect(t.congested).toBe(true); // 2 x 62 bytes batched > 100
    t.flush();
    expect(pair.serverSocket.writableLength).toBe(0); // loopback takes it at once
    expect(t.congested).toBe(false);
  });

  it('is congested while ws.bufferedAmount is above the high-water mark', () => {
    const t = new WsTransport(pair.server, pair.serverSocket, 100);
    const spy = jest.spyOn(pair.server, 'bufferedAmount', 'get');
    spy.mockReturnValue(100);
    expect(t.congested).toBe(false);
    spy.mockReturnValue(101);
    expect(t.congested).toBe(true);
  });

  it("relays every 'drain' of the underlying socket", () => {
    const t = new WsTransport(pair.server, pair.serverSocket, 100);
    let drains = 0;
    t.onDrain(() => drains++);
    pair.serverSocket.emit('drain');
    pair.serverSocket.emit('drain');
    expect(drains).toBe(2);
  });

  it('flush() before close delivers the batch ahead of the close frame; after close, frames are dropped', async () => {
    const t = new WsTransport(pair.server, pair.serverSocket, 1 << 20);
    t.send(encodeFrame(FrameType.GOAWAY, 0, Buffer.from('{}')));
    t.flush();
    const closed = once(pair.client, 'close');
    pair.server.close(1000, 'bye');
    t.sendData(5, bytes(10, 0)); // after close: silently dropped, never written after the close frame
    t.flush();
    const [code] = (await closed) as [number];
    expect(code).toBe(1000);
    expect(pair.atClient.flatMap(frames).map((f) => f.type)).toEqual([FrameType.GOAWAY]);
  });
});
