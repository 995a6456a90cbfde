/**
 * Targets for chaos runs: a verifying echo (echoes with backpressure and records, per flow tag, the
 * length and sha256 of what it received — the client->target direction), and a stalling target
 * (accepts, never reads, resets the connection after a while).
 */
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { TAG_BYTES } from '../invariant';

export interface TargetRecord {
  bytes: number;
  sha256: string;
  /** The client side ended cleanly (FIN) rather than being reset. */
  ended: boolean;
}

export interface VerifyingEcho {
  port: number;
  /** Finished flows by tag (hex). */
  records: Map<string, TargetRecord>;
  /** Tags of flows the target has seen (the first TAG_BYTES arrived), finished or not. */
  seen: Set<string>;
  open(): number;
  close(): Promise<void>;
  /** A crash: every connection reset (RST), the listener closed. Returns how many were reset. */
  kill(): Promise<number>;
}

function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Bounded: at most this many finished records are kept (oldest dropped). */
const MAX_RECORDS = 200_000;

/** `port`: listen there (a target coming back on its old address); default any free port. */
export async function startVerifyingEcho(port = 0): Promise<VerifyingEcho> {
  const records = new Map<string, TargetRecord>();
  const seen = new Set<string>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.setNoDelay(true);
    const h = crypto.createHash('sha256');
    let bytes = 0;
    let head = Buffer.alloc(0);
    let tag: string | undefined;
    let done = false;
    const finish = (ended: boolean): void => {
      if (done) return;
      done = true;
      if (tag !== undefined) {
        records.set(tag, { bytes, sha256: h.digest('hex'), ended });
        if (records.size > MAX_RECORDS) records.delete(records.keys().next().value as string);
      }
    };
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      h.update(d);
      if (tag === undefined) {
        head = Buffer.concat([head, d]);
        if (head.length >= TAG_BYTES) {
          tag = head.subarray(0, TAG_BYTES).toString('hex');
          seen.add(tag);
          if (seen.size > MAX_RECORDS) seen.delete(seen.values().next().value as string);
        }
      }
      if (!s.write(d)) s.pause();
    });
    s.on('drain', () => s.resume());
    s.on('end', () => {
      finish(true);
      s.end();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      finish(false);
      sockets.delete(s);
    });
  });
  const bound = await listen(server, port);
  return {
    port: bound,
    records,
    seen,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
    kill: () =>
      new Promise<number>((resolve) => {
        const n = sockets.size;
        for (const s of sockets) s.resetAndDestroy();
        server.close(() => resolve(n));
      }),
  };
}

export interface StallTarget {
  port: number;
  /** Tags of the flows it accepted (it reads the first chunk, then never again). */
  seen: Set<string>;
  accepted(): number;
  /** Connections we reset ourselves after stallMs. */
  resetByUs(): number;
  open(): number;
  close(): Promise<void>;
}

/**
 * Accepts, reads the first chunk (the flow tag) and then never again (the sender fills every
 * buffer on the way), and resets each connection
 * after `stallMs` (0 = never): the tunnel must carry that reset to the client.
 */
export async function startStallTarget(stallMs: number): Promise<StallTarget> {
  const sockets = new Set<net.Socket>();
  const seen = new Set<string>();
  let accepted = 0;
  let byUs = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    // Read the flow tag (first chunk), then stall: never read again.
    s.once('data', (d: Buffer) => {
      s.pause();
      if (d.length >= TAG_BYTES) seen.add(d.subarray(0, TAG_BYTES).toString('hex'));
    });
    const t = stallMs > 0 ? setTimeout(() => {
      byUs++;
      s.resetAndDestroy();
    }, stallMs) : undefined;
    s.on('error', () => undefined);
    s.on('close', () => {
      if (t !== undefined) clearTimeout(t);
      sockets.delete(s);
    });
  });
  const port = await listen(server);
  return {
    port,
    seen,
    accepted: () => accepted,
    resetByUs: () => byUs,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
