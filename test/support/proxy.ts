import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface ConnectRecord {
  target: string;
  /** Status the proxy answered: 200, 407 (auth), 403 (refused by allow), 502 (upstream failed). */
  status: number;
  authHeader: string | undefined;
}

export interface ConnectProxy {
  port: number;
  /** http://[user:pass@]127.0.0.1:<port> */
  url: string;
  /** Every CONNECT request seen, in order. */
  connects: ConnectRecord[];
  /** Number of CONNECTs answered 200. */
  connectCount(): number;
  close(): Promise<void>;
}

export interface ConnectProxyOptions {
  /** Require Basic auth with these credentials (407 otherwise). */
  auth?: { user: string; pass: string };
  /** Refuse (403) targets for which this returns false. */
  allow?: (host: string, port: number) => boolean;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      const a = server.address();
      if (a === null || typeof a === 'string') reject(new Error('unexpected address'));
      else resolve(a.port);
    });
  });
}

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const destroyBoth = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', destroyBoth);
  b.on('error', destroyBoth);
  // A clean close lets the other side flush and FIN (pipe already ended it); an abortive one resets.
  a.on('close', (hadError: boolean) => (hadError ? b.destroy() : b.end()));
  b.on('close', (hadError: boolean) => (hadError ? a.destroy() : a.end()));
}

/** A real HTTP CONNECT proxy on 127.0.0.1 with optional Basic auth. */
export async function startConnectProxy(opts: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const sockets = new Set<net.Socket>();
  const connects: ConnectRecord[] = [];
  const expectedAuth = opts.auth
    ? `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.pass}`).toString('base64')}`
    : undefined;

  const server = http.createServer((_req, res) => {
    res.writeHead(405, { 'content-type': 'text/plain' });
    res.end('CONNECT only\n');
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    const authHeader = req.headers['proxy-authorization'];
    const rec: ConnectRecord = { target, status: 0, authHeader };
    connects.push(rec);
    client.on('error', () => undefined);
    const answer = (status: number, text: string, extra = ''): void => {
      rec.status = status;
      client.end(`HTTP/1.1 ${status} ${text}\r\n${extra}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (expectedAuth !== undefined && authHeader !== expectedAuth) {
      answer(407, 'Proxy Authentication Required', 'Proxy-Authenticate: Basic realm="nc-test"\r\n');
      return;
    }
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    const host = m?.[1];
    const port = Number(m?.[2]);
    if (host === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
      answer(400, 'Bad Request');
      return;
    }
    if (opts.allow && !opts.allow(host, port)) {
      answer(403, 'Forbidden');
      return;
    }
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.once('error', () => {
      if (rec.status === 0) answer(502, 'Bad Gateway');
    });
    upstream.once('connect', () => {
      rec.status = 200;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      pipeBoth(client, upstream);
    });
  });

  const port = await listen(server);
  const cred = opts.auth ? `${encodeURIComponent(opts.auth.user)}:${encodeURIComponent(opts.auth.pass)}@` : '';
  return {
    port,
    url: `http://${cred}127.0.0.1:${port}`,
    connects,
    connectCount: () => connects.filter((c) => c.status === 200).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TlsProxy {
  port: number;
  /** TLS connections accepted. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A TLS-terminating reverse proxy: accepts TLS on 127.0.0.1:<port> with the given cert and pipes
 * the plaintext to targetHost:targetPort (e.g. a TLS ingress in front of a plain hub, for wss://).
 */
export async function tlsTerminatingProxy(opts: {
  certFile: string;
  keyFile: string;
  targetPort: number;
  targetHost?: string;
}): Promise<TlsProxy> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = tls.createServer(
    { cert: fs.readFileSync(opts.certFile), key: fs.readFileSync(opts.keyFile), allowHalfOpen: true },
    (client) => {
      count++;
      const upstream = net.connect({
        host: opts.targetHost ?? '127.0.0.1',
        port: opts.targetPort,
        allowHalfOpen: true,
      });
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      pipeBoth(client, upstream);
    },
  );
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  const port = await listen(server);
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Open a TCP tunnel through an HTTP CONNECT proxy; resolves with the socket (ready for payload)
 * paused (attach a 'data' listener, then resume()), or rejects with the status when it is not 200.
 */
export function connectViaProxy(
  proxyPort: number,
  target: string,
  opts: { auth?: { user: string; pass: string }; timeoutMs?: number } = {},
): Promise<net.Socket> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`CONNECT ${target} via :${proxyPort}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.once('error', fail);
    s.once('connect', () => {
      const auth = opts.auth
        ? `Proxy-Authorization: Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.pass}`).toString('base64')}\r\n`
        : '';
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
    });
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > 16 * 1024) fail(new Error('CONNECT: oversized proxy response head'));
        return;
      }
      s.off('data', onData);
      s.pause(); // nothing may be lost before the caller attaches its reader
      const statusLine = buf.subarray(0, buf.indexOf('\r\n')).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
      if (status !== 200) {
        fail(Object.assign(new Error(`CONNECT ${target}: ${statusLine}`), { status }));
        return;
      }
      clearTimeout(timer);
      s.off('error', fail);
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) s.unshift(rest);
      resolve(s);
    };
    s.on('data', onData);
  });
}
