import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { zeroMask } from '@nowconnect/flow';
import { CloudConnectError, classifyConnectError, errorCode } from './connect-error';
import { resolveProxy } from './proxy-resolver';
import { proxyConnect } from './http-connect';

export interface DialCloudOptions {
  /** Hub URL, ws:// or wss:// (one entry of the fail-over list). */
  url: string;
  /** Bearer token sent as `Authorization: Bearer <token>`; never appears in errors. */
  token: string;
  /** Extra PEM bundle trusted for wss:// on top of the system roots (SPEC `ca_file`). */
  caFile?: string;
  /** Explicit HTTP CONNECT proxy (SPEC `proxy_url`); wins over the environment. */
  proxyUrl?: string;
  /** Environment for HTTPS_PROXY / HTTP_PROXY / NO_PROXY; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** ws `maxPayload`: the largest frame the hub may send us. */
  maxPayload: number;
  /** Deadline for the whole dial: TCP, proxy CONNECT, TLS and the WebSocket upgrade. */
  handshakeTimeoutMs: number;
}

export interface CloudConnection {
  /** An OPEN WebSocket (binaryType 'nodebuffer', no permessage-deflate). */
  ws: WebSocket;
  /**
   * The stream ws reads and writes: a tls.TLSSocket for wss://, else the net.Socket. Listen to its
   * 'drain' for backpressure. It is the socket we handed to ws through `createConnection`, which ws
   * keeps as `ws._socket` and which is also the upgrade response's `socket`.
   */
  socket: net.Socket;
}

const noop = (): void => undefined;
type Phase = 'connect' | 'proxy' | 'tls' | 'upgrade';

/**
 * Dials the hub and resolves once the WebSocket is OPEN. Rejects only with CloudConnectError.
 *
 * We do the transport ourselves (TCP, then an HTTP CONNECT through the proxy if any, then TLS for
 * wss://) and give the ready socket to ws via its `createConnection` option. ws 8 puts that option
 * on the http(s).request options it builds (lib/websocket.js `initAsClient`), and node's
 * ClientRequest calls `createConnection(opts, cb)` instead of using an agent, taking a returned
 * socket as the request's socket; ws then writes the GET/Upgrade over it. This works the same for
 * ws:// and wss:// because ws only falls back to its own net/tls dial when createConnection is unset.
 * Owning the transport tells us which phase failed (proxy vs hub) without reading error messages.
 *
 * One timer covers the whole dial; ws's own `handshakeTimeout` is not used, because its timeout
 * error has no code and could only be told apart by message.
 */
export async function dialCloud(opts: DialCloudOptions): Promise<CloudConnection> {
  const hub = parseHubUrl(opts.url);
  const label = `${hub.url.protocol}//${hub.url.host}${hub.url.pathname}`;
  checkToken(opts.token);

  let proxy: URL | undefined;
  try {
    proxy = resolveProxy(opts.url, opts.proxyUrl, opts.env ?? process.env);
  } catch (err) {
    throw new CloudConnectError('proxy', `proxy configuration: ${(err as Error).message}`, { permanent: true });
  }
  const ca = hub.secure && opts.caFile !== undefined ? await readCa(opts.caFile) : undefined;

  const sockets: net.Socket[] = [];
  let ws: WebSocket | undefined;
  let phase: Phase = proxy ? 'proxy' : 'connect';
  let timedOut = false;
  let firstError: unknown;
  const abort = (): void => {
    ws?.terminate();
    for (const s of sockets) s.destroy();
  };
  // Guards every socket for the whole dial so an 'error' between two steps cannot go unhandled.
  const guard = (err: Error): void => {
    firstError ??= err;
    abort();
  };
  const track = <S extends net.Socket>(s: S): S => {
    sockets.push(s);
    s.on('error', guard);
    return s;
  };
  const timer = setTimeout(() => {
    timedOut = true;
    abort();
  }, opts.handshakeTimeoutMs);

  try {
    const dialHost = proxy ? proxy.hostname.replace(/^\[|\]$/g, '') : hub.host;
    const dialPort = proxy ? Number(proxy.port || 80) : hub.port;
    const raw = track(net.connect({ host: dialHost, port: dialPort }));
    await waitFor(raw, 'connect', phase);

    if (proxy) {
      await proxyConnect(raw, hub.host, hub.port, proxy, hub.secure);
      phase = 'connect';
    }

    let sock: net.Socket = raw;
    if (hub.secure) {
      phase = 'tls';
      sock = track(
        tls.connect({
          socket: raw,
          host: hub.host, // hostname / IP checked against the certificate
          servername: net.isIP(hub.host) === 0 ? hub.host : undefined, // no SNI for IP literals
          ca: ca === undefined ? undefined : [...tls.rootCertificates, ca],
          ALPNProtocols: ['http/1.1'],
        }),
      );
      await waitFor(sock, 'secureConnect', phase);
    }

    phase = 'upgrade';
    const upgraded = sock;
    ws = new WebSocket(opts.url, {
      headers: { Authorization: `Bearer ${opts.token}` },
      perMessageDeflate: false,
      maxPayload: opts.maxPayload,
      followRedirects: false,
      createConnection: () => upgraded,
      // A zero mask: ws then skips masking on send and the hub skips unmasking (both are
      // full-payload XOR passes). Masking protects browser-era HTTP intermediaries from cache
      // poisoning by hostile scripts; the agent runs no foreign code and the payload is
      // ours, typically inside TLS. Measured in bench/throughput.js.
      generateMask: zeroMask,
      skipUTF8Validation: true,
    });
    ws.binaryType = 'nodebuffer';
    await waitForOpen(ws);

    clearTimeout(timer);
    for (const s of sockets) s.removeListener('error', guard);
    return { ws, socket: sock };
  } catch (caught) {
    clearTimeout(timer);
    abort();
    ws?.on('error', noop); // ws may still emit its abort error; the failure is reported by us
    for (const s of sockets) s.on('error', noop);
    throw toConnectError(timedOut, firstError ?? caught, phase, label, opts.handshakeTimeoutMs);
  }
}

function toConnectError(
  timedOut: boolean,
  err: unknown,
  phase: Phase,
  label: string,
  timeoutMs: number,
): CloudConnectError {
  if (timedOut) {
    return new CloudConnectError('timeout', `cloud dial to ${label}: no open WebSocket within ${timeoutMs} ms (stuck in ${phase})`);
  }
  if (err instanceof CloudConnectError) return err;
  const code = errorCode(err);
  const reason = phase === 'proxy' ? 'proxy' : classifyConnectError(err);
  const detail = err instanceof Error ? err.message : String(err);
  return new CloudConnectError(reason, `cloud dial to ${label} failed during ${phase}: ${detail}`, {
    cause: err,
    ...(code === undefined ? {} : { code }),
  });
}

interface HubTarget {
  url: URL;
  host: string;
  port: number;
  secure: boolean;
}

function parseHubUrl(raw: string): HubTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CloudConnectError('network', 'hub URL is not a valid URL (expected ws:// or wss://)', { permanent: true });
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new CloudConnectError('network', `hub URL scheme "${url.protocol}" is not ws: or wss:`, { permanent: true });
  }
  const secure = url.protocol === 'wss:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { url, host, port: url.port === '' ? (secure ? 443 : 80) : Number(url.port), secure };
}

function checkToken(token: string): void {
  // Visible ASCII only: node would throw on CR/LF anyway; an empty token is a misconfiguration.
  if (token === '' || !/^[\x21-\x7e]+$/.test(token)) {
    throw new CloudConnectError('auth', 'token is empty or holds characters not allowed in an HTTP header');
  }
}

async function readCa(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = errorCode(err);
    throw new CloudConnectError('tls', `cannot read ca_file ${path}${code ? ` (${code})` : ''}`, {
      cause: err,
      ...(code === undefined ? {} : { code }),
    });
  }
}

/** Resolves on `ok`; rejects on 'error', or on 'close' before `ok`. */
function waitFor(emitter: EventEmitter, ok: string, phase: Phase): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      emitter.removeListener(ok, onOk);
      emitter.removeListener('error', onError);
      emitter.removeListener('close', onClose);
    };
    const onOk = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new CloudConnectError(phase === 'proxy' ? 'proxy' : 'reset', `connection closed during ${phase}`));
    };
    emitter.on(ok, onOk);
    emitter.on('error', onError);
    emitter.on('close', onClose);
  });
}

/** Resolves on 'open'; a non-101 answer becomes 'auth' (401/403) or 'http'. */
function waitForOpen(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      ws.removeListener('open', onOpen);
      ws.removeListener('error', onError);
      ws.removeListener('close', onClose);
      ws.removeListener('unexpected-response', onResponse);
    };
    const onOpen = (): void => {
      cleanup();
      resolve();
    };
    const failed = (): void => {
      cleanup();
      ws.on('error', noop); // ws emits its own abort error later; the failure is reported by us
    };
    const onError = (err: Error): void => {
      failed();
      reject(err);
    };
    const onClose = (): void => {
      failed();
      reject(new CloudConnectError('reset', 'WebSocket closed during the upgrade'));
    };
    const onResponse = (_req: unknown, res: { statusCode?: number; resume(): unknown }): void => {
      failed();
      res.resume();
      const status = res.statusCode ?? 0;
      const auth = status === 401 || status === 403;
      // permanent: false even for auth, the token file is re-read on each reconnect (rotation).
      reject(
        new CloudConnectError(auth ? 'auth' : 'http', `hub refused the WebSocket upgrade: HTTP ${status}`, {
          status,
          permanent: false,
        }),
      );
    };
    ws.on('open', onOpen);
    ws.on('error', onError);
    ws.on('close', onClose);
    ws.on('unexpected-response', onResponse);
  });
}
