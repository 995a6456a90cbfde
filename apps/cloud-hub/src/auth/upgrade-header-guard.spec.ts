import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { guardUpgradeHeaders, UPGRADE_HEADER_TIMEOUT_MS, type UpgradeHeaderGuard } from './upgrade-header-guard';

const TIMEOUT_MS = 300;

let server: http.Server;
let guard: UpgradeHeaderGuard;
let port: number;
const timedOut: Array<string | undefined> = [];
const sockets: net.Socket[] = [];

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
    sockets.push(s);
  });
}

/** Resolves with how long the socket stayed open (ms); rejects after `limitMs`. */
function closedWithin(s: net.Socket, limitMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
    s.resume();
  });
}

function responseOn(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        s.off('data', onData);
        resolve(text);
      }
    };
    s.on('data', onData);
  });
}

beforeAll(async () => {
  server = http.createServer((_req, res) => res.end('ok'));
  server.on('upgrade', (_req, socket: net.Socket) => {
    sockets.push(socket);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
  });
  guard = guardUpgradeHeaders(server, { headerTimeoutMs: TIMEOUT_MS, onTimeout: (a) => timedOut.push(a) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  guard.stop();
  for (const s of sockets) s.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('guardUpgradeHeaders', () => {
  it('defaults to 10 s and sets a tighter server.headersTimeout', () => {
    expect(UPGRADE_HEADER_TIMEOUT_MS).toBe(10_000);
    expect(server.headersTimeout).toBe(TIMEOUT_MS);
  });

  it('closes a connection that sends nothing, and reports it once', async () => {
    const before = timedOut.length;
    const s = await connect();
    const ms = await closedWithin(s, TIMEOUT_MS * 20);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(timedOut.length).toBe(before + 1);
    expect(timedOut.at(-1)).toMatch(/127\.0\.0\.1$/);
  });

  it('closes a slow-loris upgrade that trickles header bytes but never ends the head', async () => {
    const before = timedOut.length;
    const s = await connect();
    const head = 'GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Pad: ';
    s.write(head);
    const trickle = setInterval(() => !s.destroyed && s.write('a'), TIMEOUT_MS / 6);
    try {
      await closedWithin(s, TIMEOUT_MS * 20);
    } finally {
      clearInterval(trickle);
    }
    expect(timedOut.length).toBe(before + 1);
  });

  it('leaves alone a connection whose upgrade head arrived in time', async () => {
    const before = timedOut.length;
    const s = await connect();
    const answered = responseOn(s);
    s.write('GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
    expect(await answered).toMatch(/^HTTP\/1\.1 101/);
    // Well past the timeout the upgraded socket is still open (bounded wait, not a sleep for sync).
    await expect(closedWithin(s, TIMEOUT_MS * 4)).rejects.toThrow(/still open/);
    expect(timedOut.length).toBe(before);
    expect(guard.pending).toBe(0);
    s.destroy();
  });

  it('leaves alone a keep-alive connection after a complete plain request', async () => {
    const before = timedOut.length;
    const s = await connect();
    const answered = responseOn(s);
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await answered).toMatch(/^HTTP\/1\.1 200/);
    expect(guard.pending).toBe(0);
    expect(timedOut.length).toBe(before);
    s.destroy();
  });

  it('forgets a connection the client closed itself', async () => {
    const s = await connect();
    const deadline = Date.now() + 5000;
    while (guard.pending === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(guard.pending).toBeGreaterThanOrEqual(1);
    const gone = closedWithin(s, 5000);
    s.destroy();
    await gone;
    while (guard.pending !== 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(guard.pending).toBe(0);
  });

  it('rejects a non-positive timeout', () => {
    expect(() => guardUpgradeHeaders(http.createServer(), { headerTimeoutMs: 0, onTimeout: () => undefined })).toThrow();
  });
});
