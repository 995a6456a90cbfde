import type * as net from 'node:net';
import { isIP } from 'node:net';
import { CloudConnectError } from './connect-error';
import { redactProxyUrl } from './proxy-resolver';

/** Largest CONNECT answer head we buffer; proxies send a few hundred bytes. */
const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Runs an HTTP CONNECT on `socket` (already connected to the proxy) and resolves once the proxy
 * answered 2xx, leaving `socket` as a raw tunnel to host:port.
 *
 * Request: `CONNECT host:port HTTP/1.1`, `Host: host:port`, and `Proxy-Authorization: Basic ...`
 * when the proxy URL carries user:pass (percent-decoded). The answer head is read in paused mode
 * ('readable' + read(), as https-proxy-agent does) so no byte of the tunnel is consumed by us: any
 * byte past the head is unshifted back for the next reader. For a TLS tunnel such early bytes are a
 * protocol violation (the client speaks first), so they fail the dial.
 *
 * Rejects with CloudConnectError 'proxy' (with `status` for a non-2xx answer). Socket errors
 * propagate as they are; the caller maps errors during this phase to 'proxy'.
 */
export function proxyConnect(
  socket: net.Socket,
  host: string,
  port: number,
  proxy: URL,
  tunnelIsTls: boolean,
): Promise<void> {
  const authority = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  const where = redactProxyUrl(proxy);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username !== '' || proxy.password !== '') {
    const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(creds, 'utf8').toString('base64')}`);
  }

  return new Promise<void>((resolve, reject) => {
    let head = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.removeListener('readable', onReadable);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const fail = (message: string, status?: number): void => {
      cleanup();
      reject(new CloudConnectError('proxy', `proxy ${where}: ${message}`, status === undefined ? {} : { status }));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => fail(`closed the connection before answering CONNECT ${authority}`);
    const onReadable = (): void => {
      let chunk: unknown;
      while ((chunk = socket.read()) !== null) {
        head = Buffer.concat([head, chunk as Buffer]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HEAD_BYTES) return fail('CONNECT answer head too large');
          continue;
        }
        return finish(head.subarray(0, end), head.subarray(end + 4));
      }
    };
    const finish = (responseHead: Buffer, rest: Buffer): void => {
      const statusLine = responseHead.toString('latin1').split('\r\n', 1)[0] ?? '';
      const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
      if (!m || m[1] === undefined) return fail('malformed answer to CONNECT (not an HTTP/1.x status line)');
      const status = Number(m[1]);
      if (status < 200 || status > 299) return fail(`refused CONNECT ${authority}: HTTP ${status}`, status);
      if (rest.length > 0 && tunnelIsTls) return fail('sent data before the TLS handshake');
      cleanup();
      if (rest.length > 0) socket.unshift(rest);
      resolve();
    };
    socket.on('readable', onReadable);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}
