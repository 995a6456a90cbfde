import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { applyRequestTimeout } from './request-timeout';

const TIMEOUT_MS = 400;
/** Node checks every min(1 s, timeout): the close comes within timeout + one check + slack. */
const CLOSE_BOUND_MS = 2 * TIMEOUT_MS + 400;

let server: http.Server;
let port: number;
let timedOut = 0;
const sockets: net.Socket[] = [];

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
    sockets.push(s);
  });
}

/** Resolves with what the socket received before closing, and how long it stayed open after `from`. */
function closed(s: net.Socket, from: number): Promise<{ text: string; ms: number }> {
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  return new Promise((resolve) => s.once('close', () => resolve({ text, ms: Date.now() - from })));
}

/** Writes `piece` every `everyMs` until the socket closes (bounded by the socket's life). */
function trickle(s: net.Socket, piece: string, everyMs: number): void {
  const t = setInterval(() => (s.destroyed || !s.writable ? clearInterval(t) : s.write(piece)), everyMs);
  s.once('close', () => clearInterval(t));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  applyRequestTimeout(server, { timeoutMs: TIMEOUT_MS, onTimeout: () => timedOut++ });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('applyRequestTimeout', () => {
  it('sets requestTimeout, headersTimeout and a check interval of at most 1 s', () => {
    expect(server.requestTimeout).toBe(TIMEOUT_MS);
    expect(server.headersTimeout).toBe(TIMEOUT_MS);
    expect((server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval).toBeLessThanOrEqual(1000);
  });

  it('closes a request whose body trickles in, with 408, and reports it', async () => {
    const before = timedOut;
    const s = await connect();
    const start = Date.now();
    const end = closed(s, start);
    s.write('POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\na');
    trickle(s, 'a', 50);
    const r = await end;
    expect(r.text).toContain('408');
    expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(r.ms).toBeLessThan(CLOSE_BOUND_MS);
    expect(timedOut).toBe(before + 1);
  });

  it('times the second request of a keep-alive connection from its first byte', async () => {
    const before = timedOut;
    const s = await connect();
    const first = new Promise<void>((resolve) => s.once('data', () => resolve()));
    s.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await first;
    const start = Date.now();
    const end = closed(s, start);
    s.write('GET / HTTP/1.1\r\n');
    trickle(s, 'X-a: b\r\n', 50);
    const r = await end;
    expect(r.ms).toBeLessThan(CLOSE_BOUND_MS);
    expect(timedOut).toBe(before + 1);
  });

  it('leaves a prompt request alone and answers a malformed one with 400 (Node default)', async () => {
    const before = timedOut;
    const ok = await connect();
    const okDone = closed(ok, Date.now());
    ok.end('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect((await okDone).text).toContain('200 OK');
    const bad = await connect();
    const badDone = closed(bad, Date.now());
    bad.write('NOT HTTP\r\n\r\n');
    expect((await badDone).text).toContain('400 Bad Request');
    expect(timedOut).toBe(before);
  });
});
