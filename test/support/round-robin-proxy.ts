import * as net from 'node:net';
import { pipeTracked } from './tcp-proxy';

/**
 * A tiny round-robin TCP load balancer for tests: each accepted connection goes to the next of
 * `targets` (ports on `host`), piped both ways; either side closing or failing destroys both. It
 * stands in for the one load-balanced hub URL an agent gets in front of several HA replicas.
 */
export interface RoundRobinProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startRoundRobinProxy(targets: readonly number[], host = '127.0.0.1'): Promise<RoundRobinProxy> {
  if (targets.length === 0) throw new RangeError('startRoundRobinProxy: no targets');
  const conns = new Set<net.Socket>();
  let next = 0;
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    const port = targets[next++ % targets.length]!;
    pipeTracked(client, net.connect(port, host), conns);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}
