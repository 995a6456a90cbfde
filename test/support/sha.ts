import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { connectTcp } from './tcp';

export interface PumpResult {
  sentBytes: number;
  sentSha: string;
  recvBytes: number;
  recvSha: string;
  elapsedMs: number;
}

export interface PumpOptions {
  host?: string;
  chunkBytes?: number;
  timeoutMs?: number;
  /** Use an already-connected socket instead of connecting to port. */
  socket?: net.Socket;
}

/** write() that resolves when the socket can take more (awaits 'drain'), rejects if it closes first. */
export function writeAsync(s: net.Socket, chunk: Buffer): Promise<void> {
  if (s.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      s.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      s.off('drain', onDrain);
      reject(new Error('socket closed while waiting for drain'));
    };
    s.once('drain', onDrain);
    s.once('close', onClose);
  });
}

/**
 * Connect to port, send `bytes` random bytes with backpressure, half-close, and collect everything
 * coming back until the peer ends. For an echo path, sentSha === recvSha.
 */
export async function pumpEcho(port: number, bytes: number, opts: PumpOptions = {}): Promise<PumpResult> {
  const start = Date.now();
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const s = opts.socket ?? (await connectTcp(port, opts.host ?? '127.0.0.1'));
  const sentHash = crypto.createHash('sha256');
  const recvHash = crypto.createHash('sha256');
  let recvBytes = 0;

  const received = new Promise<void>((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      recvBytes += d.length;
      recvHash.update(d);
    });
    s.once('end', () => resolve());
    s.once('error', reject);
    s.once('close', () => reject(new Error(`socket closed before end (received ${recvBytes}/${bytes} bytes)`)));
    s.resume(); // a socket handed in paused (e.g. from connectViaProxy) must flow
  });
  received.catch(() => undefined); // observed below

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`pumpEcho: not done after ${timeoutMs} ms (received ${recvBytes}/${bytes} bytes)`));
    }, timeoutMs);
  });

  const send = async (): Promise<void> => {
    let sent = 0;
    while (sent < bytes) {
      const n = Math.min(chunkBytes, bytes - sent);
      const chunk = crypto.randomBytes(n);
      sentHash.update(chunk);
      sent += n;
      await writeAsync(s, chunk);
    }
    s.end(); // half-close: our FIN
  };

  try {
    await Promise.race([Promise.all([send(), received]), timeout]);
  } finally {
    clearTimeout(timer);
    s.destroy();
  }
  return {
    sentBytes: bytes,
    sentSha: sentHash.digest('hex'),
    recvBytes,
    recvSha: recvHash.digest('hex'),
    elapsedMs: Date.now() - start,
  };
}

/** sha256 hex of a buffer. */
export function sha256(data: Buffer | string): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}
