import { EventEmitter, once } from 'node:events';
import * as net from 'node:net';
import { MeshRstReason } from '@nowconnect/frames';
import type { MeshFlowLink } from './mesh-flow-stream';
import { OriginFlow, type OriginFlowHooks } from './origin-flow';

class FakeLink implements MeshFlowLink {
  credit = 0;
  sent: Buffer[] = [];
  consumedBytes = 0;
  fins = 0;
  resets: MeshRstReason[] = [];
  readonly sentEvents = new EventEmitter();
  sendData(_cid: number, chunk: Buffer): number {
    const n = Math.min(chunk.length, this.credit);
    this.credit -= n;
    if (n > 0) {
      this.sent.push(Buffer.from(chunk.subarray(0, n)));
      this.sentEvents.emit('sent');
    }
    return n;
  }
  consumed(_cid: number, n: number): void {
    this.consumedBytes += n;
    this.sentEvents.emit('consumed');
  }
  finFlow(): void {
    this.fins++;
    this.sentEvents.emit('fin');
  }
  resetFlow(_cid: number, reason: MeshRstReason): void {
    this.resets.push(reason);
  }
}

/** A connected pair: `server` is the hub's accepted socket, `client` the user's. */
async function pair(): Promise<{ server: net.Socket; client: net.Socket; close: () => void }> {
  const srv = net.createServer({ allowHalfOpen: true });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection');
  const client = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [server] = (await accepted) as [net.Socket];
  await once(client, 'connect').catch(() => undefined);
  client.on('error', () => undefined); // resets are what some tests provoke
  server.on('error', () => undefined);
  return { server, client, close: () => srv.close() };
}

/** Resolves on 'close' (events.once would reject on the 'error' a reset brings first). */
const closedP = (s: net.Socket): Promise<void> => new Promise((r) => s.once('close', () => r()));

function hooks(closed: (end: string) => void): OriginFlowHooks {
  const noop = (): void => undefined;
  return { bytesOut: noop, bytesIn: noop, finSent: noop, finRecv: noop, rstSent: noop, rstRecv: noop, closed: (_f, end) => closed(end) };
}

describe('OriginFlow (origin side of a cross-replica flow)', () => {
  it('sends only within the link`s credit after M_OPEN_ACK; FIN after the held bytes', async () => {
    const { server, client, close } = await pair();
    const link = new FakeLink();
    const flow = new OriginFlow(link, 1, server, hooks(() => undefined));
    flow.start();
    client.end(Buffer.alloc(1000, 9));
    link.credit = 300;
    const firstSent = once(link.sentEvents, 'sent');
    flow.openAck();
    await firstSent;
    expect(Buffer.concat(link.sent).length).toBeLessThanOrEqual(300);
    const fin = once(link.sentEvents, 'fin');
    link.credit = 10_000;
    flow.writable();
    await fin;
    expect(Buffer.concat(link.sent)).toEqual(Buffer.alloc(1000, 9));
    expect(link.fins).toBe(1);
    flow.resetFlow(MeshRstReason.SHUTDOWN);
    close();
  });

  it('returns mesh credit only once the client socket flushed the bytes; FIN both ways ends cleanly', async () => {
    const { server, client, close } = await pair();
    const link = new FakeLink();
    let ended: string | undefined;
    const done = new Promise<void>((r) => {
      const flow = new OriginFlow(link, 1, server, hooks((end) => {
        ended = end;
        r();
      }));
      flow.start();
      flow.openAck();
      const got: Buffer[] = [];
      client.on('data', (d: Buffer) => got.push(d));
      client.on('end', () => client.end());
      flow.data(Buffer.alloc(5000, 1));
      void once(link.sentEvents, 'consumed').then(() => {
        expect(link.consumedBytes).toBe(5000);
        flow.fin();
      });
    });
    await done;
    expect(ended).toBe('fin');
    expect(link.resets).toEqual([]);
    close();
  });

  it('a mesh reset resets the client; a client reset sends M_RST', async () => {
    const p1 = await pair();
    const link = new FakeLink();
    const f1 = new OriginFlow(link, 1, p1.server, hooks(() => undefined));
    f1.start();
    p1.client.on('error', () => undefined);
    const closed = closedP(p1.client);
    f1.reset(MeshRstReason.LINK_LOST);
    await closed;
    expect(link.resets).toEqual([]);
    p1.close();

    const p2 = await pair();
    const f2 = new OriginFlow(link, 3, p2.server, hooks(() => undefined));
    f2.start();
    const serverClosed = closedP(p2.server);
    p2.client.resetAndDestroy();
    await serverClosed;
    expect(link.resets).toEqual([MeshRstReason.PEER_RESET]);
    p2.close();
  });

  describe('reset before M_OPEN_ACK (issue 15: move to another holder)', () => {
    it('hands the untouched client socket to the reroute hook; the next holder gets every byte', async () => {
      const { server, client, close } = await pair();
      const first = new FakeLink();
      const ends: string[] = [];
      const reasons: MeshRstReason[] = [];
      let second: OriginFlow | undefined;
      const secondLink = new FakeLink();
      const flow = new OriginFlow(first, 1, server, {
        ...hooks((end) => ends.push(end)),
        reroute: (reason) => {
          reasons.push(reason);
          second = new OriginFlow(secondLink, 2, server, hooks((end) => ends.push(`second:${end}`)));
          second.start();
          return true;
        },
      });
      flow.start();
      client.write(Buffer.alloc(5000, 7));
      flow.reset(MeshRstReason.LINK_LOST);
      expect(reasons).toEqual([MeshRstReason.LINK_LOST]);
      expect(ends).toEqual(['rerouted']);
      expect(server.destroyed).toBe(false);
      expect(first.resets).toEqual([]);
      secondLink.credit = 100_000;
      const sent = new Promise<void>((resolve) => {
        const check = (): void => {
          if (Buffer.concat(secondLink.sent).length >= 5000) resolve();
          else secondLink.sentEvents.once('sent', check);
        };
        check();
      });
      second!.openAck();
      await sent;
      expect(Buffer.concat(secondLink.sent)).toEqual(Buffer.alloc(5000, 7));
      expect(first.sent).toEqual([]);
      second!.resetFlow(MeshRstReason.SHUTDOWN);
      await closedP(server);
      close();
    });

    it('resets the client as before when the hook declines', async () => {
      const { server, client, close } = await pair();
      const ends: string[] = [];
      const flow = new OriginFlow(new FakeLink(), 1, server, { ...hooks((end) => ends.push(end)), reroute: () => false });
      flow.start();
      const bothClosed = Promise.all([closedP(client), closedP(server)]);
      flow.reset(MeshRstReason.NOT_OWNER);
      await bothClosed;
      expect(ends).toEqual(['rst_recv']);
      close();
    });

    it('never reroutes once acked (bytes may have left): the client is reset', async () => {
      const { server, client, close } = await pair();
      let asked = 0;
      const ends: string[] = [];
      const flow = new OriginFlow(new FakeLink(), 1, server, {
        ...hooks((end) => ends.push(end)),
        reroute: () => {
          asked++;
          return true;
        },
      });
      flow.start();
      flow.openAck();
      const clientClosed = closedP(client);
      flow.reset(MeshRstReason.LINK_LOST);
      await clientClosed;
      expect(asked).toBe(0);
      expect(ends).toEqual(['rst_recv']);
      close();
    });
  });
});
