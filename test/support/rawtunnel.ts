/**
 * Raw /tunnel clients for black-box tests: the HTTP status of an upgrade, and a hand-driven
 * WebSocket that speaks (or deliberately breaks) the frame protocol.
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import WebSocket from 'ws';
import { decodeFrames, encodeControl, FrameType, type Frame } from '@nowconnect/frames';
import { connectTcp } from './tcp';
import { writeAsync } from './sha';

export interface UpgradeOptions {
  /** Bearer token; undefined sends no Authorization header. */
  token?: string;
  /** A raw Authorization header value (wins over token). */
  authorization?: string;
  /** Extra CA for wss://. */
  ca?: string | Buffer;
  timeoutMs?: number;
}

function headersFor(opts: UpgradeOptions): Record<string, string> {
  if (opts.authorization !== undefined) return { Authorization: opts.authorization };
  if (opts.token !== undefined) return { Authorization: `Bearer ${opts.token}` };
  return {};
}

/**
 * Attempt a WebSocket upgrade and report the HTTP status the server answered: 101 when the
 * upgrade succeeded (the socket is closed again at once), else the refusal status
 * (from the ws client's 'unexpected-response').
 */
export function upgradeStatus(url: string, opts: UpgradeOptions = {}): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: headersFor(opts),
      perMessageDeflate: false,
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    });
    let settled = false;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      ws.terminate();
      done(() => reject(new Error(`upgrade ${url}: no answer within ${timeoutMs} ms`)));
    }, timeoutMs);
    ws.on('unexpected-response', (req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      done(() => resolve(status));
    });
    ws.on('open', () => {
      ws.terminate();
      done(() => resolve(101));
    });
    ws.on('error', (e) => done(() => reject(e)));
  });
}

export interface RawTunnel {
  ws: WebSocket;
  /** Every frame received so far, decoded. */
  frames: Frame[];
  /** Resolves with the close code/reason when the socket closes. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the first frame of `type` (already received or still to come). */
  waitForFrame(type: FrameType, timeoutMs?: number): Promise<Frame>;
  /** Send raw bytes as one binary message. */
  send(data: Buffer): Promise<void>;
}

/** Open /tunnel with a bearer token; resolves once the WebSocket is open. */
export function openRawTunnel(url: string, opts: UpgradeOptions = {}): Promise<RawTunnel> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const ws = new WebSocket(url, {
    headers: headersFor(opts),
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
  });
  const frames: Frame[] = [];
  const listeners = new Set<(f: Frame) => void>();
  let closeInfo: { code: number; reason: string } | undefined;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString('utf8') };
      resolve(closeInfo);
    });
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    decodeFrames(buf, 64 * 1024 * 1024, (f) => {
      const copy: Frame = { ...f, payload: Buffer.from(f.payload) };
      frames.push(copy);
      for (const l of listeners) l(copy);
    });
  });
  const tunnel: RawTunnel = {
    ws,
    frames,
    closed,
    waitForFrame: (type, waitMs = 5000) =>
      new Promise<Frame>((resolve, reject) => {
        const seen = frames.find((f) => f.type === type);
        if (seen !== undefined) {
          resolve(seen);
          return;
        }
        const onFrame = (f: Frame): void => {
          if (f.type !== type) return;
          clearTimeout(timer);
          listeners.delete(onFrame);
          resolve(f);
        };
        const timer = setTimeout(() => {
          listeners.delete(onFrame);
          reject(
            new Error(
              `no frame of type ${type} within ${waitMs} ms (got ${frames.map((f) => f.type).join(',')}; ` +
                `closed=${JSON.stringify(closeInfo)})`,
            ),
          );
        }, waitMs);
        listeners.add(onFrame);
      }),
    send: (data) =>
      new Promise<void>((resolve, reject) => {
        ws.send(data, { binary: true }, (err) => (err ? reject(err) : resolve()));
      }),
  };
  return new Promise<RawTunnel>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`open ${url}: not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.on('error', () => undefined); // 'close' follows
      resolve(tunnel);
    });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      res.resume();
      req.destroy();
      reject(Object.assign(new Error(`open ${url}: HTTP ${res.statusCode ?? 0}`), { status: res.statusCode }));
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Open /tunnel, send a HELLO, and resolve once HELLO_ACK arrived. */
export async function openHelloedTunnel(
  url: string,
  token: string,
  hello: { agent_id: string; connectors: string[] },
  opts: Omit<UpgradeOptions, 'token' | 'authorization'> = {},
): Promise<RawTunnel> {
  const t = await openRawTunnel(url, { ...opts, token });
  await t.send(encodeControl(FrameType.HELLO, { ...hello, version: 'test' }));
  try {
    await t.waitForFrame(FrameType.HELLO_ACK, opts.timeoutMs ?? 5000);
  } catch (e) {
    t.ws.terminate();
    throw e;
  }
  return t;
}


/**
 * An echo flow driven in two halves, so a test can act while the flow is provably in flight:
 * `firstHalf()` sends `bytes/2` and resolves once all of it came back; `finish()` sends the rest,
 * half-closes and resolves with both hashes once the peer ended.
 */
export interface SteppedEcho {
  firstHalf(): Promise<void>;
  finish(): Promise<{ sentBytes: number; sentSha: string; recvBytes: number; recvSha: string }>;
  received(): number;
}

export async function steppedEcho(port: number, bytes: number, timeoutMs = 60_000): Promise<SteppedEcho> {
  const s = await connectTcp(port);
  const sentHash = crypto.createHash('sha256');
  const recvHash = crypto.createHash('sha256');
  const chunkBytes = 64 * 1024;
  const half = Math.floor(bytes / 2);
  let recvBytes = 0;
  let sent = 0;
  let ended = false;
  let failure: Error | undefined;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  s.on('data', (d: Buffer) => {
    recvBytes += d.length;
    recvHash.update(d);
    notify();
  });
  s.once('end', () => {
    ended = true;
    notify();
  });
  s.once('error', (e) => {
    failure = e;
    notify();
  });
  s.once('close', () => {
    failure ??= ended ? undefined : new Error(`socket closed before end (received ${recvBytes} bytes)`);
    notify();
  });
  const until = (cond: () => boolean, what: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (cond()) {
          cleanup();
          resolve();
        } else if (failure !== undefined) {
          cleanup();
          reject(failure);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`steppedEcho: ${what} not reached within ${timeoutMs} ms (received ${recvBytes}, sent ${sent})`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const sendUpTo = async (limit: number): Promise<void> => {
    while (sent < limit) {
      const n = Math.min(chunkBytes, limit - sent);
      const chunk = crypto.randomBytes(n);
      sentHash.update(chunk);
      sent += n;
      await writeAsync(s, chunk);
    }
  };
  return {
    received: () => recvBytes,
    firstHalf: async () => {
      await Promise.all([sendUpTo(half), until(() => recvBytes >= half, `echo of the first ${half} bytes`)]);
    },
    finish: async () => {
      try {
        await sendUpTo(bytes);
        s.end();
        await until(() => ended, 'end of the echo');
      } finally {
        s.destroy();
      }
      return { sentBytes: sent, sentSha: sentHash.digest('hex'), recvBytes, recvSha: recvHash.digest('hex') };
    },
  };
}
