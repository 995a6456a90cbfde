/**
 * Real local servers for the dialer specs (not part of the agent; nothing imports it but *.spec.ts).
 * Everything listens on 127.0.0.1 ephemeral ports and is torn down by `close()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tls from 'node:tls';
import { WebSocketServer } from 'ws';

const HOST = '127.0.0.1';

export interface Closable {
  close(): Promise<void>;
}

/** Starts listening on 127.0.0.1:0 and tracks every TCP connection so close() can destroy them. */
async function listenTracked(server: net.Server): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, close };
}

export interface WsHub extends Closable {
  port: number;
  /** SNI names seen on TLS connections ('' when the client sent none). */
  servernames: string[];
  upgrades: number;
}

/**
 * A ws hub: upgrades only with `Authorization: Bearer <token>`, else answers 401 before any
 * WebSocket frame (SPEC §5). Echoes every message back.
 */
export async function startWsHub(token: string, tlsOpts?: { key: string; cert: string }): Promise<WsHub> {
  const servernames: string[] = [];
  const server = tlsOpts ? https.createServer(tlsOpts) : http.createServer();
  if (tlsOpts) {
    server.on('secureConnection', (s: tls.TLSSocket) => {
      const name = (s as tls.TLSSocket & { servername?: string | false }).servername; // set by node, untyped
      servernames.push(typeof name === 'string' ? name : '');
    });
  }
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(426).end());
  const wss = new WebSocketServer({ noServer: true });
  const hub = { port: 0, servernames, upgrades: 0, close: async () => undefined } as WsHub;
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      hub.upgrades += 1;
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  const { port, close } = await listenTracked(server);
  hub.port = port;
  hub.close = async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await close();
  };
  return hub;
}

export interface ConnectProxy extends Closable {
  port: number;
  /** The request targets of every CONNECT received, e.g. `127.0.0.1:40123`. */
  connects: string[];
}

/**
 * A minimal HTTP CONNECT proxy. With `auth` ("user:pass") it answers 407 to a missing or wrong
 * Proxy-Authorization. `route` maps the requested host:port to where it really dials (always a
 * 127.0.0.1 port in these tests), so names like hub.test can be exercised without DNS.
 */
export async function startConnectProxy(
  opts: { auth?: string; route?: (host: string, port: number) => number } = {},
): Promise<ConnectProxy> {
  const connects: string[] = [];
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    connects.push(target);
    client.on('error', () => undefined);
    if (opts.auth !== undefined) {
      const expected = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      if (req.headers['proxy-authorization'] !== expected) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n');
        return;
      }
    }
    const sep = target.lastIndexOf(':');
    const host = target.slice(0, sep).replace(/^\[|\]$/g, '');
    const port = Number(target.slice(sep + 1));
    const upstream = net.connect({ host: HOST, port: opts.route ? opts.route(host, port) : port });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  });
  const { port, close } = await listenTracked(server);
  return { port, connects, close };
}

/** Accepts TCP connections and never sends a byte. */
export async function startSilentServer(): Promise<Closable & { port: number }> {
  const server = net.createServer((s) => s.on('error', () => undefined));
  return listenTracked(server);
}

/** A 127.0.0.1 port that nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = await startSilentServer();
  await s.close();
  return s.port;
}

export interface TestPki {
  dir: string;
  caFile: string;
  key: string;
  cert: string;
  remove(): void;
}

/**
 * A private CA and a server certificate it issues for IP:127.0.0.1, DNS:localhost, DNS:hub.test,
 * made with the openssl CLI in a fresh temp dir.
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'nc-dialer-pki-'));
  const p = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2',
    '-subj', '/CN=NowConnect Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=nowconnect-test-hub');
  writeFileSync(
    p('server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:hub.test',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
    ].join('\n'),
  );
  ssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-set_serial', '0x1001',
    '-days', '2', '-extfile', p('server.ext'), '-out', p('server.crt'));
  return {
    dir,
    caFile: p('ca.pem'),
    key: readFileSync(p('server.key'), 'utf8'),
    cert: readFileSync(p('server.crt'), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Answers every WebSocket upgrade with a fixed HTTP status (e.g. 503 from a draining hub). */
export async function startStatusServer(status: number): Promise<Closable & { port: number }> {
  const server = http.createServer((_req, res) => res.writeHead(status).end());
  server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Status'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  return listenTracked(server);
}
