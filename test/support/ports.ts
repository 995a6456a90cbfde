import * as net from 'node:net';

/** A TCP port that was free on 127.0.0.1 a moment ago (listen on :0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: unexpected address'));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Several distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  for (let i = 0; i < n * 10 && out.size < n; i++) out.add(await freePort());
  if (out.size < n) throw new Error(`freePorts: could not find ${n} distinct ports`);
  return [...out];
}
