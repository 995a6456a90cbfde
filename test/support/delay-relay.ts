import * as net from 'node:net';

/**
 * A TCP relay that delays every byte by `oneWayMs` in each direction: a WAN round trip of
 * 2 x oneWayMs between two loopback endpoints (e.g. an agent and its hub). Bytes keep their
 * order; the link has no rate limit of its own. Backpressure holds: when the far side's
 * socket stops taking bytes, the near side stops being read until it drains, so the relay
 * holds at most what arrives in one delay plus one socket's buffer per direction.
 */
export interface DelayRelay {
  readonly port: number;
  close(): Promise<void>;
}

interface Held {
  readonly at: number;
  readonly chunk: Buffer;
}

/** One direction: `from`'s bytes reach `to` oneWayMs after they were read. */
function delayLine(from: net.Socket, to: net.Socket, oneWayMs: number): void {
  const queue: Held[] = [];
  let head = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  let blocked = false;
  const release = (): void => {
    timer = undefined;
    const now = performance.now();
    while (head < queue.length) {
      const h = queue[head] as Held;
      if (h.at > now) break;
      head++;
      if (!to.destroyed && !to.write(h.chunk) && !blocked) {
        blocked = true;
        from.pause();
        to.once('drain', () => {
          blocked = false;
          from.resume();
        });
      }
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
      if (ended && !to.destroyed) to.end();
      return;
    }
    arm();
  };
  const arm = (): void => {
    if (timer !== undefined || head >= queue.length) return;
    const next = queue[head] as Held;
    timer = setTimeout(release, Math.max(0, next.at - performance.now()));
  };
  from.on('data', (chunk: Buffer) => {
    queue.push({ at: performance.now() + oneWayMs, chunk });
    arm();
  });
  from.on('end', () => {
    ended = true;
    if (head >= queue.length && !to.destroyed) to.end();
    else arm();
  });
  from.on('close', () => {
    if (ended) return; // a clean end: what is held still goes out, then `to` ends
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    to.destroy();
  });
}

export async function startDelayRelay(targetPort: number, oneWayMs: number, host = '127.0.0.1'): Promise<DelayRelay> {
  const conns = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ port: targetPort, host, allowHalfOpen: true, noDelay: true });
    for (const s of [client, upstream]) {
      conns.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => conns.delete(s));
    }
    delayLine(client, upstream, oneWayMs);
    delayLine(upstream, client, oneWayMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.destroy();
        server.close(() => resolve());
      }),
  };
}
