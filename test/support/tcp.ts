import * as net from 'node:net';

/** Connect to host:port; resolves once connected (allowHalfOpen on, so FIN from the peer keeps our side open). */
export function connectTcp(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host, allowHalfOpen: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', onErr);
      resolve(s);
    });
    const onErr = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    s.once('error', onErr);
  });
}

/**
 * Connects and reads until the peer closes, listening from the first moment. A refusal may reset the
 * connection before 'connect' is seen on a loaded machine (the error is then ECONNRESET on connect):
 * that is a close with 0 bytes like any other, not a failed connect.
 */
export function connectAndReadUntilClose(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<CloseInfo> {
  return readUntilClose(net.connect({ port, host, allowHalfOpen: true }), timeoutMs);
}

export interface CloseInfo {
  /** Bytes read before the close. */
  bytes: number;
  data: Buffer;
  /** The peer sent FIN ('end' seen). */
  ended: boolean;
  /** Error code when the socket errored (e.g. 'ECONNRESET'). */
  error: string | undefined;
  /** ms from the call until 'close'. */
  elapsedMs: number;
}

/**
 * Reads from a socket until it closes (it is ended on our side when the peer ends, unless keepOpen).
 * Rejects when it stays open longer than timeoutMs — use it to assert "closed at once, no hang".
 */
export function readUntilClose(s: net.Socket, timeoutMs = 10_000, keepOpen = false): Promise<CloseInfo> {
  const start = Date.now();
  const chunks: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  let error: string | undefined;
  return new Promise((resolve, reject) => {
    if (s.destroyed) {
      resolve({ bytes: 0, data: Buffer.alloc(0), ended: false, error: undefined, elapsedMs: 0 });
      return;
    }
    const timer = setTimeout(() => {
      reject(new Error(`socket still open after ${timeoutMs} ms (read ${bytes} bytes, ended=${ended})`));
    }, timeoutMs);
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      chunks.push(d);
    });
    s.on('end', () => {
      ended = true;
      if (!keepOpen) s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ bytes, data: Buffer.concat(chunks), ended, error, elapsedMs: Date.now() - start });
    });
  });
}
