import type { Socket } from 'node:net';
import { encodeMeshPing, MeshFrameType } from '@nowconnect/frames';
import { MAX_PEER_PINGS_PER_INTERVAL } from './link-socket';
import { LinkState } from './link-state';
import { MeshLink, MeshLinkOptions } from './mesh-link';
import { linkOptions, linkPair, MeshServer, RawPeer, Recorder, RecordingMetrics, stopMeshServers } from './mesh-link.test-util';

/**
 * Issue 13 finding 3: control traffic on a mesh link is bounded. A peer that sends M_PING (or
 * WebSocket pings) and never reads is closed as `slow_consumer`; only frames that prove progress
 * (a PONG for one of our PINGs, returned credit) keep a link alive.
 */

afterEach(() => stopMeshServers());

async function acceptorServer(over: Partial<MeshLinkOptions> = {}) {
  const a = new Recorder();
  const am = new RecordingMetrics();
  const links: MeshLink[] = [];
  const server = await MeshServer.start((ws) => {
    links.push(new MeshLink(ws, linkOptions({ role: 'acceptor', localReplicaId: 'hub-b', metrics: am, ...over }), a));
  });
  return { server, a, am, links };
}

function socketOf(peer: RawPeer): Socket {
  return (peer.ws as unknown as { _socket: Socket })._socket;
}

/** Writes `batch` until `done()` or `maxBatches` were written; resolves with the batches written. */
async function flood(peer: RawPeer, batch: () => void, done: () => boolean, maxBatches: number): Promise<number> {
  let n = 0;
  while (n < maxBatches && !done() && peer.ws.readyState === peer.ws.OPEN) {
    batch();
    n++;
    if (n % 16 === 0) await new Promise<void>((r) => setImmediate(r));
  }
  return n;
}

describe('LinkSocket: bounded control traffic (slow_consumer)', () => {
  it('a peer that floods M_PING is closed (slow_consumer, ping_rate) before its PONGs can pile up', async () => {
    const { server, a, am, links } = await acceptorServer();
    const peer = await RawPeer.connect(server.url);
    await peer.hello();
    socketOf(peer).pause(); // never read again
    const pings = Buffer.concat(Array.from({ length: 3276 }, () => encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8)))); // 64 KiB
    const batches = await flood(peer, () => peer.ws.send(pings), () => a.log.some((e) => e.kind === 'down'), 4096); // <= 256 MiB
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'slow_consumer' });
    expect(links[0]!.failureDetail).toBe('ping_rate');
    expect(am.failures).toEqual(['slow_consumer']);
    expect(am.linkErrors).toBe(1);
    expect(links[0]!.state).toBe(LinkState.DOWN);
    expect(batches).toBeLessThan(4096);
  });

  it('a peer that floods WebSocket pings and never reads is closed (ws answers them outside our queue)', async () => {
    const { server, a, am } = await acceptorServer();
    const peer = await RawPeer.connect(server.url);
    await peer.hello();
    socketOf(peer).pause();
    const payload = Buffer.alloc(125);
    const batches = await flood(peer, () => { for (let i = 0; i < 512; i++) peer.ws.ping(payload); }, () => a.log.some((e) => e.kind === 'down'), 4096);
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'slow_consumer' });
    expect(am.failures).toEqual(['slow_consumer']);
    expect(batches).toBeLessThan(4096);
  });

  it('control: a peer that reads and pings within MAX_PEER_PINGS_PER_INTERVAL keeps its link, every PING answered', async () => {
    const { server, a } = await acceptorServer({ keepaliveMs: 100 });
    const peer = await RawPeer.connect(server.url);
    await peer.hello();
    const pings = Buffer.concat(Array.from({ length: MAX_PEER_PINGS_PER_INTERVAL }, () => encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8))));
    let pongs = 0;
    let wake: () => void = () => undefined;
    peer.ws.on('message', () => {
      pongs++; // one M_PONG per message
      wake();
    });
    // One burst (the interval's whole allowance), all answered; the peer answers nothing of ours, so
    // the check is made well within three intervals.
    peer.ws.send(pings);
    while (pongs < MAX_PEER_PINGS_PER_INTERVAL) await new Promise<void>((r) => (wake = r));
    expect(a.count('down')).toBe(0);
  });
});

describe('LinkSocket: only progress keeps a link alive', () => {
  it('a peer that keeps sending but never answers our PINGs is dead after three intervals', async () => {
    const { server, a, links } = await acceptorServer({ keepaliveMs: 100 });
    const peer = await RawPeer.connect(server.url);
    await peer.hello();
    const t0 = Date.now();
    // unsolicited PONGs and its own PINGs, every 20 ms: traffic, but no proof it reads ours
    const timer = setInterval(() => peer.send(encodeMeshPing(MeshFrameType.M_PONG, Buffer.alloc(8)), encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8))), 20);
    try {
      await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'dead_peer' });
    } finally {
      clearInterval(timer);
    }
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(links[0]!.lastRttSeconds).toBeUndefined(); // a PONG that answers nothing measures nothing
  });

  it('control: a link whose peer answers PINGs stays up across many intervals', async () => {
    const { dialer, acceptor, d, a, am } = await linkPair({ keepaliveMs: 50 }, { keepaliveMs: 50 });
    for (let i = 0; i < 10; i++) await am.nextRtt(); // 10 answered PINGs: > 3 intervals (150 ms) passed
    expect([dialer.state, acceptor.state]).toEqual([LinkState.UP, LinkState.UP]);
    expect(d.count('down') + a.count('down')).toBe(0);
    expect(acceptor.lastRttSeconds).toBeDefined();
  });
});
