/**
 * A deliberately faulty TCP forwarder, used to prove the checker detects what it must: it forwards
 * client -> upstream untouched and damages the upstream -> client direction after `afterBytes`.
 */
import * as net from 'node:net';

export type FaultMode =
  | 'pass' // forward faithfully (control)
  | 'corrupt' // flip one byte at offset afterBytes
  | 'duplicate' // send the chunk that crosses afterBytes twice
  | 'reorder' // swap two chunks after afterBytes
  | 'truncate' // after afterBytes, send a clean FIN to the client and drop the rest (silent truncation)
  | 'reset' // after afterBytes, reset the client (visible)
  | 'blackhole' // after afterBytes, stop forwarding and never close (hang)
  | 'refuse'; // close every connection at accept, before any byte

export interface FaultProxy {
  port: number;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, mode: FaultMode, afterBytes = 1000): Promise<FaultProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    const up = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
    client.pipe(up);
    let passed = 0;
    let damaged = false;
    up.on('data', (d: Buffer) => {
      const start = passed;
      passed += d.length;
      if (damaged || passed <= afterBytes || mode === 'pass') {
        if (mode === 'blackhole' && damaged) return;
        client.write(d);
        return;
      }
      damaged = true;
      const cut = afterBytes - start;
      switch (mode) {
        case 'corrupt': {
          const copy = Buffer.from(d);
          copy[cut] = (copy[cut] ?? 0) ^ 0xff;
          client.write(copy);
          return;
        }
        case 'duplicate':
          client.write(d);
          client.write(d);
          return;
        case 'reorder': {
          // swap the two halves of what follows the offset (needs >= 2 bytes after it in this chunk)
          const rest = d.subarray(cut);
          const half = rest.length >> 1;
          client.write(d.subarray(0, cut));
          client.write(rest.subarray(half));
          client.write(rest.subarray(0, half));
          return;
        }
        case 'truncate':
          client.write(d.subarray(0, cut));
          client.end();
          up.destroy();
          return;
        case 'reset':
          client.write(d.subarray(0, cut));
          client.resetAndDestroy();
          up.destroy();
          return;
        case 'blackhole':
          client.write(d.subarray(0, cut));
          return;
      }
    });
    up.on('end', () => {
      if (mode === 'truncate' && damaged) return;
      if (mode !== 'blackhole' || !damaged) client.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
