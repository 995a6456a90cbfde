import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

/**
 * `server.request_timeout_sec` on server.bind: the whole request, head and body, must arrive within
 * the timeout, for the first request of a connection and for every later one of a keep-alive
 * connection (Node measures each from its first byte). Node's own `requestTimeout` and
 * `headersTimeout` do the measuring; by default Node checks them only every 30 s
 * (`connectionsCheckingInterval`) and answers 408 silently, so a slow second head was held 30.8 s
 * and a slow body 313 s with nothing counted. Here the check runs every CHECK_INTERVAL_MS at most
 * and every expiry is reported through `onTimeout` (the caller counts and logs it).
 *
 * An upgraded WebSocket (`/tunnel`, `/mesh`) is no longer an HTTP request: Node stops timing it.
 */
export const CHECK_INTERVAL_MS = 1000;

export interface RequestTimeoutOptions {
  readonly timeoutMs: number;
  /**
   * One request timed out and its connection is being closed (408 when nothing was answered yet).
   */
  readonly onTimeout: (socket: Socket) => void;
}

const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const BAD_REQUEST_RESPONSE = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const HEADER_OVERFLOW_RESPONSE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';
const CHUNK_EXT_OVERFLOW_RESPONSE = 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n';

type HttpSocket = Socket & { _httpMessage?: { _headerSent?: boolean } | null };

/** Sets the timeouts on `server` (call before listen: the check interval starts on 'listening'). */
export function applyRequestTimeout(server: HttpServer | HttpsServer, opts: RequestTimeoutOptions): void {
  const timeoutMs = opts.timeoutMs;
  if (!(timeoutMs > 0)) throw new Error('applyRequestTimeout: timeoutMs must be > 0');
  server.requestTimeout = timeoutMs;
  server.headersTimeout = timeoutMs;
  // In Node >= 18.10 (not in @types/node 18): read when the server starts listening.
  (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(CHECK_INTERVAL_MS, timeoutMs);
  // With a 'clientError' listener Node leaves the answer to us: the same answers as its default.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: HttpSocket) => {
    const code = err.code;
    if (code === 'ERR_HTTP_REQUEST_TIMEOUT') opts.onTimeout(socket);
    // As Node does: answer only when no response has started on this connection.
    if (socket.writable && (socket._httpMessage == null || socket._httpMessage._headerSent !== true)) {
      socket.write(
        code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? REQUEST_TIMEOUT_RESPONSE
          : code === 'HPE_HEADER_OVERFLOW'
            ? HEADER_OVERFLOW_RESPONSE
            : code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
              ? CHUNK_EXT_OVERFLOW_RESPONSE
              : BAD_REQUEST_RESPONSE,
      );
    }
    socket.destroy(err);
  });
}
