import type { Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

/**
 * Slow-loris guard for `server.bind` (the port that serves `/tunnel` and `/mesh` upgrades):
 * a connection must deliver its first complete HTTP request head (request line and every
 * header) within `headerTimeoutMs` of being accepted (of its TLS handshake completing, with
 * `server.tls`); otherwise it is destroyed, counted and logged. A connection that finished its
 * head (an upgrade, or a plain request such as /metrics) is no longer watched by this guard; the
 * next heads of a keep-alive connection fall under `server.request_timeout_sec` (see request-timeout.ts).
 *
 * Not a SPEC config key: a fixed default (UPGRADE_HEADER_TIMEOUT_MS, 10 s), the same order as
 * `limits.hello_timeout_sec`, which bounds the next stage (upgraded but silent before HELLO).
 */
export const UPGRADE_HEADER_TIMEOUT_MS = 10_000;

export interface UpgradeHeaderGuardOptions {
  /** Default UPGRADE_HEADER_TIMEOUT_MS. */
  readonly headerTimeoutMs?: number;
  /** Called once per connection closed by the guard, with its remote address (unmasked). */
  readonly onTimeout: (remoteAddress: string | undefined) => void;
}

export interface UpgradeHeaderGuard {
  /** Connections accepted and still waiting for their first request head. */
  readonly pending: number;
  /**
   * Another timer (Node's request timeout) is closing `socket`: when it is still waiting for its
   * first head, this guard reports it (onTimeout) and stops watching it; returns whether it did.
   */
  expire(socket: Socket): boolean;
  /** Stops watching new connections and clears every timer (pending connections are left alone). */
  stop(): void;
}

const WATCH = Symbol('ncHeaderTimer');
type Watched = Socket & { [WATCH]?: NodeJS.Timeout };

export function guardUpgradeHeaders(server: HttpServer | HttpsServer, opts: UpgradeHeaderGuardOptions): UpgradeHeaderGuard {
  const timeoutMs = opts.headerTimeoutMs ?? UPGRADE_HEADER_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new Error('guardUpgradeHeaders: headerTimeoutMs must be > 0');
  const watched = new Set<Watched>();

  const release = (socket: Watched): void => {
    const timer = socket[WATCH];
    if (timer === undefined) return;
    clearTimeout(timer);
    delete socket[WATCH];
    watched.delete(socket);
  };

  const onConnection = (socket: Watched): void => {
    if (socket[WATCH] !== undefined) return;
    socket[WATCH] = setTimeout(() => {
      delete socket[WATCH];
      watched.delete(socket);
      if (socket.destroyed) return;
      opts.onTimeout(socket.remoteAddress);
      socket.destroy();
    }, timeoutMs);
    socket[WATCH].unref();
    watched.add(socket);
    socket.once('close', () => release(socket));
  };
  const onHead = (req: { socket: Socket }): void => release(req.socket as Watched);

  // With TLS, 'connection' hands over the raw TCP socket while requests see the TLS socket.
  const connectionEvent = server instanceof HttpsServer ? 'secureConnection' : 'connection';
  server.on(connectionEvent, onConnection);
  server.on('request', onHead);
  server.on('upgrade', onHead);
  server.headersTimeout = Math.min(server.headersTimeout > 0 ? server.headersTimeout : timeoutMs, timeoutMs);

  return {
    get pending() {
      return watched.size;
    },
    expire(socket: Socket) {
      const w = socket as Watched;
      if (w[WATCH] === undefined) return false;
      release(w);
      opts.onTimeout(socket.remoteAddress);
      return true;
    },
    stop() {
      server.off(connectionEvent, onConnection);
      server.off('request', onHead);
      server.off('upgrade', onHead);
      for (const s of [...watched]) release(s);
    },
  };
}
