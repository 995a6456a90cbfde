import * as net from 'node:net';
import { Client, SizeLimitExceededError } from 'ldapts';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Connects with a deadline; the socket is returned paused-free with an error listener attached. */
export function connect(ep: Endpoint, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: ep.host, port: ep.port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect to ${ep.host}:${ep.port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.on('error', () => undefined);
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`connect to ${ep.host}:${ep.port}: ${e.code ?? e.message}`));
    });
  });
}

export type SocketOutcome =
  | { readonly kind: 'data'; readonly bytes: number; readonly afterMs: number }
  | { readonly kind: 'held'; readonly afterMs: number }
  | { readonly kind: 'closed'; readonly reset: boolean; readonly bytes: number; readonly afterMs: number };

/**
 * Watches a connected socket: resolves at its first data (when `untilData`), when it closes or is
 * reset, or when `holdMs` passes with the connection still open.
 */
export function watch(sock: net.Socket, holdMs: number, untilData: boolean): Promise<SocketOutcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let bytes = 0;
    let reset = false;
    const finish = (o: SocketOutcome): void => {
      clearTimeout(timer);
      sock.removeListener('data', onData);
      sock.removeListener('close', onClose);
      resolve(o);
    };
    const onData = (c: Buffer): void => {
      bytes += c.length;
      if (untilData) finish({ kind: 'data', bytes, afterMs: Date.now() - t0 });
    };
    const onClose = (): void => finish({ kind: 'closed', reset, bytes, afterMs: Date.now() - t0 });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
    });
    sock.on('end', () => sock.end()); // answer a FIN so 'close' follows
    sock.on('data', onData);
    sock.on('close', onClose);
    const timer = setTimeout(() => finish({ kind: 'held', afterMs: Date.now() - t0 }), holdMs);
  });
}

/** Half-closes and waits (bounded) for the socket to close; destroys it at the deadline. */
export function closeGently(sock: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve();
    const timer = setTimeout(() => {
      sock.destroy();
      resolve();
    }, timeoutMs);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    sock.resume();
    sock.end();
  });
}

export interface LdapSearchResult {
  readonly entries: number;
  readonly ms: number;
  /** The server stopped at the size limit (still a complete round trip). */
  readonly sizeLimited: boolean;
}

export const LDAP_SIZE_LIMIT = 100;

/** An anonymous LDAP search (no bind request: LDAPv3 anonymous) through `ep`. */
export async function ldapSearch(
  ep: Endpoint,
  q: { base: string; scope: 'base' | 'one' | 'sub'; filter: string },
  timeoutMs: number,
): Promise<LdapSearchResult> {
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  const client = new Client({ url: `ldap://${host}:${ep.port}`, timeout: timeoutMs, connectTimeout: timeoutMs });
  const t0 = Date.now();
  try {
    const res = await client.search(q.base, { scope: q.scope, filter: q.filter, sizeLimit: LDAP_SIZE_LIMIT });
    return { entries: res.searchEntries.length, ms: Date.now() - t0, sizeLimited: false };
  } catch (e) {
    if (e instanceof SizeLimitExceededError) return { entries: LDAP_SIZE_LIMIT, ms: Date.now() - t0, sizeLimited: true };
    throw e;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
