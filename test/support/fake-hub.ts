/**
 * A hand-driven (malicious) hub for agent tests: a WebSocket server on 127.0.0.1 that accepts any
 * bearer token, answers the agent's HELLO with HELLO_ACK, records every frame the agent sends, and
 * lets the test send raw frames (OPEN floods, PING floods) or stop reading.
 */
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeFrames, decodeHello, encodeControl, FrameError, FrameType, type Frame } from '@nowconnect/frames';

export interface FakeHubConn {
  /** From the agent's HELLO. */
  agentId: string;
  ws: WebSocket;
  socket: Socket;
  /** Frames received from the agent (HELLO first), payloads copied. */
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `pred` holds over the frames received (checked on every frame); rejects after timeoutMs. */
  until(pred: (frames: Frame[]) => boolean, timeoutMs: number, what: string): Promise<void>;
  /** Sends one binary message (several frames may share it); resolves when ws has taken it. */
  send(data: Buffer): Promise<void>;
}

export interface FakeHub {
  url: string;
  /** The next connection of `agentId` that completed HELLO (HELLO_ACK sent); others are skipped. */
  nextConn(agentId: string, timeoutMs?: number): Promise<FakeHubConn>;
  close(): Promise<void>;
}

export async function startFakeHub(opts: { keepaliveSec?: number; flowWindowBytes?: number } = {}): Promise<FakeHub> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/tunnel', perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as AddressInfo).port;
  const ready: FakeHubConn[] = [];
  const waiters: Array<{ agentId: string; take: (c: FakeHubConn) => void }> = [];
  wss.on('connection', (ws, req) => {
    const frames: Frame[] = [];
    const checks = new Set<() => void>();
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        for (const c of [...checks]) c();
      }),
    );
    ws.on('error', () => undefined);
    const conn: FakeHubConn = {
      agentId: '',
      ws,
      socket: req.socket as Socket,
      frames,
      closed,
      until: (pred, timeoutMs, what) =>
        new Promise<void>((resolve, reject) => {
          const check = (): void => {
            if (pred(frames)) {
              clearTimeout(timer);
              checks.delete(check);
              resolve();
            }
          };
          const timer = setTimeout(() => {
            checks.delete(check);
            reject(new Error(`fake hub: ${what} not reached within ${timeoutMs} ms (${frames.length} frames)`));
          }, timeoutMs);
          checks.add(check);
          check();
        }),
      send: (data) => new Promise<void>((resolve, reject) => ws.send(data, { binary: true }, (err) => (err ? reject(err) : resolve()))),
    };
    ws.on('message', (data: Buffer) => {
      decodeFrames(data, 64 * 1024 * 1024, (f) => {
        frames.push({ ...f, payload: Buffer.from(f.payload) });
        if (f.type === FrameType.HELLO) {
          const hello = decodeHello(f.payload);
          conn.agentId = hello instanceof FrameError ? '' : hello.agent_id;
          ws.send(
            encodeControl(FrameType.HELLO_ACK, {
              replica_id: 'fake-hub',
              flow_window_bytes: opts.flowWindowBytes ?? 256 * 1024,
              max_frame_bytes: 1024 * 1024,
              keepalive_sec: opts.keepaliveSec ?? 15,
            }),
          );
          const w = waiters.findIndex((x) => x.agentId === conn.agentId);
          if (w >= 0) waiters.splice(w, 1)[0]!.take(conn);
          else ready.push(conn);
        }
      });
      for (const c of [...checks]) c();
    });
  });
  return {
    url: `ws://127.0.0.1:${port}/tunnel`,
    nextConn: (agentId, timeoutMs = 20_000) =>
      new Promise<FakeHubConn>((resolve, reject) => {
        const i = ready.findIndex((c) => c.agentId === agentId);
        if (i >= 0) {
          resolve(ready.splice(i, 1)[0]!);
          return;
        }
        const timer = setTimeout(() => reject(new Error(`fake hub: no HELLO from ${agentId} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          agentId,
          take: (conn) => {
            clearTimeout(timer);
            resolve(conn);
          },
        });
      }),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
