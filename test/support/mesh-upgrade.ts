import WebSocket from 'ws';

/** Tries a /mesh WebSocket upgrade: 'open' once it succeeded, else `http <status>` or `error <message>`. */
export function tryMeshUpgrade(url: string, opts: WebSocket.ClientOptions): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10_000, ...opts });
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      resolve(`http ${res.statusCode ?? 0}`);
    });
    ws.once('error', (err) => resolve(`error ${err.message}`));
  });
}
