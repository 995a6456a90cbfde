import * as net from 'node:net';

/**
 * Ports this process was handed already. The kernel may give a port that was just listened on and
 * closed to the very next `listen(0)`, so two freePort() calls in a row (a hub's bind and its
 * listener's) could name the same port; the second process to bind it then fails.
 */
const handedOut = new Set<number>();

/** A TCP port that was free on 127.0.0.1 a moment ago and that this process was not handed before. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = await probeFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('freePort: the kernel kept giving ports already handed out');
}

/** Listen on :0, read the port, close. */
function probeFreePort(): Promise<number> {
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
