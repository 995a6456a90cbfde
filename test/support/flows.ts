import * as fs from 'node:fs';
import type * as net from 'node:net';
import { pollUntil } from './http';
import { metricValue, scrape } from './metrics';

/** Resident set size and its peak (kB) of a running process, from /proc/<pid>/status. */
export function procMemKiB(pid: number): { rssKiB: number; hwmKiB: number } {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (m?.[1] === undefined) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(m[1]);
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Several metric values from one scrape, keyed by the caller's names. */
export async function snapshot(
  httpUrl: string,
  wanted: Record<string, { name: string; labels?: Record<string, string> }>,
): Promise<Record<string, number>> {
  const text = await scrape(httpUrl);
  const out: Record<string, number> = {};
  for (const [key, w] of Object.entries(wanted)) out[key] = metricValue(text, w.name, w.labels ?? {});
  return out;
}

/** Resolves with the socket's error code (or undefined) once it has closed; rejects after timeoutMs. */
export function waitClosed(s: net.Socket, timeoutMs = 10_000): Promise<{ error: string | undefined; elapsedMs: number }> {
  const start = Date.now();
  let error: string | undefined;
  s.on('error', (e: NodeJS.ErrnoException) => {
    error ??= e.code ?? e.message;
  });
  if (s.destroyed && s.closed) return Promise.resolve({ error, elapsedMs: 0 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ error, elapsedMs: Date.now() - start });
    });
  });
}

/** Resolves once `n` bytes have arrived on `s` (collecting them); rejects on close/timeout first. */
export function readExactly(s: net.Socket, n: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const cleanup = (): void => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('close', onClose);
    };
    const onData = (d: Buffer): void => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        cleanup();
        s.pause();
        const all = Buffer.concat(chunks);
        if (all.length > n) s.unshift(all.subarray(n));
        resolve(all.subarray(0, n));
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`socket closed after ${got}/${n} bytes`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`only ${got}/${n} bytes within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', onData);
    s.once('close', onClose);
    s.resume();
  });
}

/**
 * Writes `chunk` repeatedly (up to totalBytes) honouring backpressure; when write() returns false
 * and no 'drain' follows within quietMs, the peer is considered stalled and the promise resolves.
 */
export async function writeUntilStalled(
  s: net.Socket,
  chunk: Buffer,
  totalBytes: number,
  quietMs: number,
): Promise<{ written: number; stalled: boolean }> {
  let written = 0;
  const maxIters = Math.ceil(totalBytes / chunk.length);
  for (let i = 0; i < maxIters; i++) {
    const ok = s.write(chunk);
    written += chunk.length;
    if (ok) continue;
    const drained = await new Promise<boolean>((resolve, reject) => {
      const onDrain = (): void => {
        clearTimeout(timer);
        s.off('close', onClose);
        resolve(true);
      };
      const onClose = (): void => {
        clearTimeout(timer);
        s.off('drain', onDrain);
        reject(new Error(`socket closed while writing (${written} bytes written)`));
      };
      const timer = setTimeout(() => {
        s.off('drain', onDrain);
        s.off('close', onClose);
        resolve(false);
      }, quietMs);
      s.once('drain', onDrain);
      s.once('close', onClose);
    });
    if (!drained) return { written, stalled: true };
  }
  return { written, stalled: false };
}

/** Poll GET <url> until it answers `status` or `abort()` names a reason to stop; returns the time it took. */
export async function waitStatus(
  get: () => Promise<{ status: number }>,
  status: number,
  opts: { timeoutMs: number; abort?: () => string | undefined },
): Promise<number> {
  const start = Date.now();
  let last: number | undefined;
  await pollUntil(
    async () => {
      last = (await get()).status;
      return last === status ? true : undefined;
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 20, abort: opts.abort, what: () => `status ${status} (last ${String(last)})` },
  );
  return Date.now() - start;
}
