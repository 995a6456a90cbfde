import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** Test-only (not exported from the barrel): loopback TCP pairs, closed by `closeSocketPairs()`. */
const servers: Server[] = [];
const sockets: Socket[] = [];

/** A loopback TCP pair: `mine` is carried by the flow, `app` is the program at the other end. */
export async function socketPair(): Promise<{ mine: Socket; app: Socket }> {
  const server = createServer({ allowHalfOpen: true });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const app = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  sockets.push(app);
  app.on('error', () => undefined); // resets are expected; tests await 'error' where they matter
  const [[mine]] = await Promise.all([accepted, once(app, 'connect')]);
  sockets.push(mine);
  return { mine, app };
}

export async function closeSocketPairs(): Promise<void> {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
}
