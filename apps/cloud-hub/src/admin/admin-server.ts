import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '@nowconnect/ha-config';

/**
 * The admin listener on server.admin_bind: `GET /status` (JSON) and nothing else. A plain Node
 * server, apart from Nest's, so /status can never leak onto the public server.bind.
 */
export class AdminServer {
  private readonly server: http.Server;

  constructor(status: () => unknown) {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/status') return send(res, 404, { error: 'not found' });
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
      try {
        send(res, 200, status());
      } catch {
        send(res, 500, { error: 'status unavailable' });
      }
    });
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 10_000;
  }

  /** Resolves with the bound port; rejects with the listen error (EADDRINUSE, EACCES, ...). */
  listen(bind: HostPort): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(bind.port, bind.host, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
