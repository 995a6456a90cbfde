import * as net from 'node:net';

/**
 * Pipes `client` and `upstream` both ways, tracked in `conns` while open; either side closing or
 * failing destroys both.
 */
export function pipeTracked(client: net.Socket, upstream: net.Socket, conns: Set<net.Socket>): void {
  conns.add(client);
  conns.add(upstream);
  const drop = (): void => {
    client.destroy();
    upstream.destroy();
    conns.delete(client);
    conns.delete(upstream);
  };
  client.on('error', drop).on('close', drop);
  upstream.on('error', drop).on('close', drop);
  client.pipe(upstream);
  upstream.pipe(client);
}

/** A plain TCP forwarder that a test can cut (connections destroyed, port closed) and restore. */
export interface CuttableProxy {
  readonly port: number;
  /** Where new connections go (settable: a proxy may be started before its target). */
  targetPort: number | undefined;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startCuttableProxy(targetPort: number | undefined, port = 0, host = '127.0.0.1'): Promise<CuttableProxy> {
  const conns = new Set<net.Socket>();
  const state = { targetPort };
  let server: net.Server | undefined;
  let bound = port;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = net.createServer((client) => {
        if (state.targetPort === undefined) {
          client.destroy();
          return;
        }
        pipeTracked(client, net.connect(state.targetPort, host), conns);
      });
      s.once('error', reject);
      s.listen(bound, host, () => {
        s.off('error', reject);
        bound = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      for (const c of conns) c.destroy();
      conns.clear();
      const s = server;
      server = undefined;
      if (s === undefined) resolve();
      else s.close(() => resolve());
    });
  await listen();
  return {
    get port() {
      return bound;
    },
    get targetPort() {
      return state.targetPort;
    },
    set targetPort(p: number | undefined) {
      state.targetPort = p;
    },
    cut: stop,
    restore: listen,
    close: stop,
  };
}
