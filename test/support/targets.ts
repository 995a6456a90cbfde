import * as crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';

export interface TargetServer {
  port: number;
  host: string;
  /** Connections accepted so far. */
  accepted(): number;
  /** Resolves once at least n connections have been accepted. */
  waitForConnections(n: number, timeoutMs?: number): Promise<void>;
  /** Destroy every open socket and close the listener. */
  close(): Promise<void>;
}

function track(server: net.Server, host: string): Promise<TargetServer & { sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const emitter = new EventEmitter();
  let count = 0;
  server.on('connection', (s) => {
    count++;
    sockets.add(s);
    s.on('error', () => undefined); // resets from the far end are expected in tests
    s.once('close', () => sockets.delete(s));
    emitter.emit('accept', count);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      server.off('error', reject);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('unexpected server address'));
        return;
      }
      resolve({
        port: addr.port,
        host,
        sockets,
        accepted: () => count,
        waitForConnections: (n, timeoutMs = 10_000) =>
          new Promise<void>((res, rej) => {
            if (count >= n) {
              res();
              return;
            }
            const onAccept = (c: number): void => {
              if (c >= n) {
                clearTimeout(timer);
                emitter.off('accept', onAccept);
                res();
              }
            };
            const timer = setTimeout(() => {
              emitter.off('accept', onAccept);
              rej(new Error(`only ${count}/${n} connections accepted within ${timeoutMs} ms`));
            }, timeoutMs);
            emitter.on('accept', onAccept);
          }),
        close: () =>
          new Promise<void>((res) => {
            for (const s of sockets) s.destroy();
            server.close(() => res());
          }),
      });
    });
  });
}

/**
 * Echo server with half-close support: everything received is written back; when the client
 * half-closes (FIN), the server ends its side after echoing everything.
 */
export async function startEchoServer(host = '127.0.0.1'): Promise<TargetServer> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.pipe(s); // pipe() respects backpressure and calls end() on 'end'
  });
  return track(server, host);
}

export interface SinkResult {
  bytes: number;
  sha256: string;
  /** true when the peer half-closed/ended cleanly, false when the socket errored or was reset. */
  ended: boolean;
}

export interface SinkServer extends TargetServer {
  /** Bytes received so far over all connections (live). */
  totalBytes(): number;
  /** Results of connections that have finished, in finishing order. */
  results: SinkResult[];
  /** Resolves with the result of the next (or an already) finished connection not yet returned. */
  nextResult(timeoutMs?: number): Promise<SinkResult>;
}

/**
 * Reads and discards everything, counting bytes and hashing them per connection. When the client
 * half-closes, the sink ends its side too. An optional reply is written on connect.
 */
export async function startSinkServer(opts: { host?: string; greeting?: Buffer | string } = {}): Promise<SinkServer> {
  const results: SinkResult[] = [];
  const emitter = new EventEmitter();
  let total = 0;
  let handedOut = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const h = crypto.createHash('sha256');
    let bytes = 0;
    let done = false;
    const finish = (ended: boolean): void => {
      if (done) return;
      done = true;
      results.push({ bytes, sha256: h.digest('hex'), ended });
      emitter.emit('result');
    };
    if (opts.greeting !== undefined) s.write(opts.greeting);
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      total += d.length;
      h.update(d);
    });
    s.on('end', () => {
      finish(true);
      s.end();
    });
    s.on('close', () => finish(false));
  });
  const base = await track(server, opts.host ?? '127.0.0.1');
  return {
    ...base,
    results,
    totalBytes: () => total,
    nextResult: (timeoutMs = 20_000) =>
      new Promise<SinkResult>((resolve, reject) => {
        const take = (): boolean => {
          const r = results[handedOut];
          if (r === undefined) return false;
          handedOut++;
          resolve(r);
          return true;
        };
        if (take()) return;
        const onResult = (): void => {
          if (take()) {
            clearTimeout(timer);
            emitter.off('result', onResult);
          }
        };
        const timer = setTimeout(() => {
          emitter.off('result', onResult);
          reject(new Error(`sink: no finished connection within ${timeoutMs} ms (received ${total} bytes)`));
        }, timeoutMs);
        emitter.on('result', onResult);
      }),
  };
}

/** Accepts connections and never reads from them (pauseOnConnect), so the sender fills its buffers. */
export async function startStallServer(host = '127.0.0.1'): Promise<TargetServer> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, () => undefined);
  return track(server, host);
}
