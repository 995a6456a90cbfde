import { createHash, randomBytes } from 'node:crypto';
import {
  encodeMeshData,
  encodeMeshFin,
  encodeMeshHello,
  encodeMeshOpen,
  encodeMeshOpenAck,
  encodeMeshPing,
  MESH_MAX_WINDOW_BYTES,
  MeshFrameType,
  MeshRstReason,
} from '@nowconnect/frames';
import WebSocket from 'ws';
import { WindowBudget } from '@nowconnect/flow';
import { LinkState } from './link-state';
import { MeshLink, MeshLinkOptions } from './mesh-link';
import { linkOptions, linkPair, MeshServer, RawPeer, Recorder, RecordingMetrics, stopMeshServers } from './mesh-link.test-util';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// Every wait below is for an event; a missing one fails the test here rather than at jest's global 120 s.
jest.setTimeout(15_000);

afterEach(async () => {
  await stopMeshServers();
});

/** A server whose sockets become acceptor links with the given options; returns the recorder and metrics. */
async function acceptorServer(over: Partial<MeshLinkOptions> = {}) {
  const a = new Recorder();
  const am = new RecordingMetrics();
  const links: MeshLink[] = [];
  const server = await MeshServer.start((ws) => {
    links.push(new MeshLink(ws, linkOptions({ role: 'acceptor', localReplicaId: 'hub-b', metrics: am, ...over }), a));
  });
  return { server, a, am, links };
}

describe('MeshLink: options', () => {
  it('refuses a window above the wire maximum and a frame limit with no room for data', () => {
    const ws = {} as WebSocket;
    const h = new Recorder();
    expect(() => new MeshLink(ws, linkOptions({ role: 'dialer', localReplicaId: 'a', flowWindowBytes: MESH_MAX_WINDOW_BYTES + 1 }), h)).toThrow(RangeError);
    expect(() => new MeshLink(ws, linkOptions({ role: 'dialer', localReplicaId: 'a', maxFrameBytes: 28 }), h)).toThrow(RangeError);
  });
});

describe('MeshLink: handshake', () => {
  it('exchanges M_HELLO: both ends up, each knows the other`s replica id, states walk down -> connecting -> up', async () => {
    const { dialer, acceptor, d, a } = await linkPair();
    expect(dialer.peerId).toBe('hub-b');
    expect(acceptor.peerId).toBe('hub-a');
    expect(dialer.state).toBe(LinkState.UP);
    expect(acceptor.state).toBe(LinkState.UP);
    expect(d.log.filter((e) => e.kind === 'state')).toEqual([
      { kind: 'state', from: LinkState.DOWN, to: LinkState.CONNECTING },
      { kind: 'state', from: LinkState.CONNECTING, to: LinkState.UP },
    ]);
    expect(a.count('up')).toBe(1);
  });

  it('refuses a link to itself (same replica id)', async () => {
    const { server, a, am } = await acceptorServer({ localReplicaId: 'hub-a' });
    const d = new Recorder();
    new MeshLink(new WebSocket(server.url), linkOptions({ role: 'dialer', localReplicaId: 'hub-a' }), d);
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'self_link' });
    await d.waitFor('down');
    expect(d.count('up')).toBe(0);
    expect(am.linkErrors).toBe(1);
  });

  it('the dialer refuses a peer that is not the replica the registry named', async () => {
    const { server } = await acceptorServer();
    const d = new Recorder();
    new MeshLink(new WebSocket(server.url), linkOptions({ role: 'dialer', localReplicaId: 'hub-a', expectedPeerId: 'hub-c' }), d);
    await expect(d.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'peer_mismatch' });
    expect(d.count('up')).toBe(0);
  });

  it('closes a peer that never says hello (hello timeout)', async () => {
    const { server, a } = await acceptorServer({ helloTimeoutMs: 50 });
    const raw = await RawPeer.connect(server.url);
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'hello_timeout' });
    expect(await raw.closed).toBe(1008);
  });

  it('a failed dial (nothing listening) ends in down, never up', async () => {
    const { server } = await acceptorServer();
    const url = server.url;
    await server.stop();
    const d = new Recorder();
    const link = new MeshLink(new WebSocket(url), linkOptions({ role: 'dialer', localReplicaId: 'hub-a' }), d);
    await d.waitFor('down');
    expect(link.state).toBe(LinkState.DOWN);
    expect(d.count('up')).toBe(0);
  });
});

describe('MeshLink: flows', () => {
  it('opens a flow, moves bytes both ways exactly (credit-limited, window updates), half-closes both ways', async () => {
    const epochs = new Map([['agent-1', 7]]);
    const { dialer, acceptor, d, a, dm } = await linkPair({ flowWindowBytes: 64 * 1024 }, { flowWindowBytes: 64 * 1024, ownerEpoch: (x) => epochs.get(x) });
    const opened = dialer.openFlow('agent-1', 'ldap', 7);
    if (!('cid' in opened)) throw new Error(`refused: ${opened.refused}`);
    const { cid } = opened;
    expect(cid % 2).toBe(1); // dialer CIDs are odd
    const open = await a.waitFor('open');
    expect(open.req).toEqual({ cid, agentId: 'agent-1', connector: 'ldap', epoch: 7 });
    await d.waitFor('openAck', (e) => e.cid === cid);

    // 1 MiB up: the sender can only have one window outstanding; the receiver returns credit as it consumes.
    const up = randomBytes(1024 * 1024);
    let sent = 0;
    const pumpUp = (): void => {
      sent += dialer.sendData(cid, up.subarray(sent));
      if (sent === up.length) dialer.finFlow(cid);
    };
    d.onWritable = (_l, c) => c === cid && sent < up.length && pumpUp();
    pumpUp();
    expect(sent).toBe(64 * 1024); // exactly the acceptor's window before any WINDOW_UPDATE
    await a.waitFor('fin', (e) => e.cid === cid);
    expect(sha(a.bytes(cid))).toBe(sha(up));

    // and 300 KiB down, then the acceptor half-closes too
    const down = randomBytes(300 * 1024);
    let sentDown = 0;
    const pumpDown = (): void => {
      sentDown += acceptor.sendData(cid, down.subarray(sentDown));
      if (sentDown === down.length) acceptor.finFlow(cid);
    };
    a.onWritable = (_l, c) => c === cid && sentDown < down.length && pumpDown();
    pumpDown();
    await d.waitFor('fin', (e) => e.cid === cid);
    expect(sha(d.bytes(cid))).toBe(sha(down));
    await d.until(() => dialer.flowCount === 0);
    await a.until(() => acceptor.flowCount === 0);
    expect(dm.frames.get('out:M_WINDOW_UPDATE') ?? 0).toBeGreaterThan(0);
    expect(d.count('reset') + a.count('reset')).toBe(0);
  });

  it('many flows at once keep their bytes apart', async () => {
    const { dialer, d, a } = await linkPair({}, { ownerEpoch: () => 1 });
    const payloads = new Map<number, Buffer>();
    for (let i = 0; i < 20; i++) {
      const r = dialer.openFlow(`agent-${i}`, 'c', 1);
      if (!('cid' in r)) throw new Error('refused');
      payloads.set(r.cid, randomBytes(1000 + i * 37));
    }
    await d.until(() => d.count('openAck') === 20);
    for (const [cid, p] of payloads) {
      expect(dialer.sendData(cid, p)).toBe(p.length);
      dialer.finFlow(cid);
    }
    await a.until(() => a.count('fin') === 20);
    for (const [cid, p] of payloads) expect(a.bytes(cid).equals(p)).toBe(true);
  });

  it('a slow consumer on one flow holds at most its window; other flows keep going', async () => {
    const window = 32 * 1024;
    const { dialer, d, a } = await linkPair({}, { flowWindowBytes: window, ownerEpoch: () => 1 });
    const slow = dialer.openFlow('agent-1', 'c', 1);
    const fast = dialer.openFlow('agent-1', 'c', 1);
    if (!('cid' in slow) || !('cid' in fast)) throw new Error('refused');
    a.onData = (link, cid, p) => cid === fast.cid && link.consumed(cid, p.length); // the slow flow never consumes
    await d.until(() => d.count('openAck') === 2);
    const big = randomBytes(512 * 1024);
    expect(dialer.sendData(slow.cid, big)).toBe(window);
    let sent = 0;
    d.onWritable = (_l, cid) => {
      if (cid !== fast.cid) return;
      sent += dialer.sendData(fast.cid, big.subarray(sent));
      if (sent === big.length) dialer.finFlow(fast.cid);
    };
    sent += dialer.sendData(fast.cid, big);
    await a.waitFor('fin', (e) => e.cid === fast.cid);
    expect(a.bytes(fast.cid).equals(big)).toBe(true);
    expect(a.bytes(slow.cid).length).toBe(window);
    expect(dialer.sendData(slow.cid, big)).toBe(0); // still no credit
  });

  it('a bulk flow\'s receive window grows from the link\'s round trip, within the link budget; closing gives it back', async () => {
    const processBudget = new WindowBudget(1 << 30);
    const initial = 64 * 1024;
    const { dialer, acceptor, d, a } = await linkPair({}, { flowWindowBytes: initial, processBudget, ownerEpoch: () => 1 });
    const r = dialer.openFlow('agent-1', 'c', 1);
    if (!('cid' in r)) throw new Error('refused');
    const cid = r.cid;
    await d.waitFor('openAck');
    let grown = 0;
    a.onData = (link, c, p) => {
      link.consumed(c, p.length);
      grown = Math.max(grown, link.channel(c)?.window?.size ?? 0);
    };
    const big = randomBytes(16 * 1024 * 1024);
    let sent = 0;
    d.onWritable = (_l, c) => {
      if (c !== cid || sent === big.length) return;
      sent += dialer.sendData(cid, big.subarray(sent));
      if (sent === big.length) dialer.finFlow(cid);
    };
    sent += dialer.sendData(cid, big);
    await a.waitFor('fin', (e) => e.cid === cid);
    expect(createHash('sha256').update(a.bytes(cid)).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect(grown).toBeGreaterThan(initial);
    expect(acceptor.windowBudget.inUse).toBe(grown - initial);
    expect(processBudget.inUse).toBe(grown - initial);
    acceptor.finFlow(cid); // both ways ended: the flow is forgotten, its growth returned
    expect(acceptor.flowCount).toBe(0);
    expect(acceptor.windowBudget.inUse).toBe(0);
    expect(processBudget.inUse).toBe(0);
  });

  it('a reset travels to the other end and forgets the flow', async () => {
    const { dialer, acceptor, d, a } = await linkPair({}, { ownerEpoch: () => 3 });
    const r = dialer.openFlow('agent-1', 'c', 3);
    if (!('cid' in r)) throw new Error('refused');
    await d.waitFor('openAck');
    acceptor.resetFlow(r.cid, MeshRstReason.CONNECT_REFUSED);
    await expect(d.waitFor('reset')).resolves.toEqual({ kind: 'reset', cid: r.cid, reason: MeshRstReason.CONNECT_REFUSED });
    expect(dialer.flowCount).toBe(0);
    expect(acceptor.flowCount).toBe(0);
    expect(a.count('reset')).toBe(0); // the side that resets is not told again
  });

  it('the owner may refuse an open (resetFlow instead of acceptFlow)', async () => {
    const { dialer, d, a } = await linkPair({}, { ownerEpoch: () => 1 });
    a.onOpen = (link, req) => link.resetFlow(req.cid, MeshRstReason.UNKNOWN_CONNECTOR);
    const r = dialer.openFlow('agent-1', 'nope', 1);
    if (!('cid' in r)) throw new Error('refused');
    await expect(d.waitFor('reset')).resolves.toMatchObject({ reason: MeshRstReason.UNKNOWN_CONNECTOR });
    expect(d.count('openAck')).toBe(0);
  });

  it('openFlow throws on a bad name before touching any state', async () => {
    const { dialer } = await linkPair();
    expect(() => dialer.openFlow('bad agent', 'c', 1)).toThrow(RangeError);
    expect(() => dialer.openFlow('agent', 'c', -1)).toThrow(RangeError);
    expect(dialer.flowCount).toBe(0);
    expect(dialer.queueDepth).toBe(0);
  });

  it('the acceptor opens flows too, with even CIDs', async () => {
    const { acceptor, d, a } = await linkPair({ ownerEpoch: () => 2 });
    const r = acceptor.openFlow('agent-9', 'c', 2);
    if (!('cid' in r)) throw new Error('refused');
    expect(r.cid % 2).toBe(0);
    await d.waitFor('open');
    await a.waitFor('openAck');
    expect(acceptor.sendData(r.cid, Buffer.from('ping'))).toBe(4);
    await d.waitFor('data');
    expect(d.bytes(r.cid).toString()).toBe('ping');
  });
});

describe('MeshLink: epoch fence', () => {
  it('an M_OPEN with a stale epoch is refused (STALE_EPOCH), counted, and never reaches the handler', async () => {
    const { dialer, d, a, am } = await linkPair({}, { ownerEpoch: (x) => (x === 'agent-1' ? 7 : undefined) });
    const r = dialer.openFlow('agent-1', 'c', 6);
    if (!('cid' in r)) throw new Error('refused');
    await expect(d.waitFor('reset')).resolves.toEqual({ kind: 'reset', cid: r.cid, reason: MeshRstReason.STALE_EPOCH });
    expect(am.epochMismatches).toBe(1);
    expect(a.count('open')).toBe(0);
    const other = dialer.openFlow('agent-2', 'c', 1);
    if (!('cid' in other)) throw new Error('refused');
    await expect(d.waitFor('reset', (e) => e.cid === other.cid)).resolves.toMatchObject({ reason: MeshRstReason.NOT_OWNER });
    expect(am.epochMismatches).toBe(2);
  });

  it('when ownership moves mid-flow, the next frame is dropped, counted, and the flow is reset both ends', async () => {
    const epochs = new Map([['agent-1', 7]]);
    const { dialer, acceptor, d, a, am } = await linkPair({}, { ownerEpoch: (x) => epochs.get(x) });
    const r = dialer.openFlow('agent-1', 'c', 7);
    if (!('cid' in r)) throw new Error('refused');
    await d.waitFor('openAck');
    dialer.sendData(r.cid, Buffer.from('before'));
    await a.waitFor('data');
    epochs.set('agent-1', 8); // the agent reconnected; this hub claimed it again under a new epoch
    dialer.sendData(r.cid, Buffer.from('after'));
    await expect(a.waitFor('reset')).resolves.toMatchObject({ cid: r.cid, reason: MeshRstReason.STALE_EPOCH });
    await expect(d.waitFor('reset')).resolves.toMatchObject({ cid: r.cid, reason: MeshRstReason.STALE_EPOCH });
    expect(a.bytes(r.cid).toString()).toBe('before');
    expect(am.epochMismatches).toBe(1);
    expect(acceptor.flowCount).toBe(0);
  });

  it('the origin drops and counts a frame whose epoch is not its flow`s, and resets the flow', async () => {
    // A raw acceptor: answers the hello and the open, then sends DATA under another epoch.
    let resolvePeer: (p: RawPeer) => void = () => undefined;
    const peerReady = new Promise<RawPeer>((resolve) => (resolvePeer = resolve));
    const server = await MeshServer.start((ws) => resolvePeer(new RawPeer(ws)));
    const d = new Recorder();
    const dm = new RecordingMetrics();
    const dialer = new MeshLink(new WebSocket(server.url), linkOptions({ role: 'dialer', localReplicaId: 'hub-a', metrics: dm }), d);
    const peer = await peerReady;
    await peer.waitFor((f) => f.type === MeshFrameType.M_HELLO);
    peer.send(encodeMeshHello('hub-raw'));
    await d.waitFor('up');
    const r = dialer.openFlow('agent-1', 'c', 5);
    if (!('cid' in r)) throw new Error('refused');
    await peer.waitFor((f) => f.type === MeshFrameType.M_OPEN);
    peer.send(encodeMeshOpenAck(r.cid, 5, 1, 65536), encodeMeshData(r.cid, 5, 2, Buffer.from('ok')), encodeMeshData(r.cid, 4, 3, Buffer.from('stale')));
    await expect(d.waitFor('reset')).resolves.toEqual({ kind: 'reset', cid: r.cid, reason: MeshRstReason.STALE_EPOCH });
    expect(d.bytes(r.cid).toString()).toBe('ok');
    expect(dm.epochMismatches).toBe(1);
    await expect(peer.waitFor((f) => f.type === MeshFrameType.M_RST)).resolves.toMatchObject({ cid: r.cid, reason: MeshRstReason.STALE_EPOCH });
  });
});

describe('MeshLink: raw peers (replays, garbage, limits)', () => {
  async function rawWithFlow(over: Parameters<typeof acceptorServer>[0] = {}) {
    const s = await acceptorServer({ ownerEpoch: () => 5, ...over });
    const raw = await RawPeer.connect(s.server.url);
    await raw.hello();
    raw.send(encodeMeshOpen({ cid: 1, epoch: 5, seq: 1, connector: 'c', agentId: 'agent-1', window: 65536 }));
    await raw.waitFor((f) => f.type === MeshFrameType.M_OPEN_ACK);
    return { ...s, raw };
  }

  it('dedup: a replayed seq is dropped and counted; the flow carries on with the next seq', async () => {
    const { raw, a, am } = await rawWithFlow();
    raw.send(encodeMeshData(1, 5, 2, Buffer.from('one')));
    raw.send(encodeMeshData(1, 5, 2, Buffer.from('one'))); // replay
    raw.send(encodeMeshData(1, 5, 1, Buffer.from('old'))); // older than the last
    raw.send(encodeMeshData(1, 5, 3, Buffer.from('two')));
    raw.send(encodeMeshFin(1, 5, 4));
    await a.waitFor('fin');
    expect(a.bytes(1).toString()).toBe('onetwo');
    expect(am.dedupDrops).toBe(2);
    expect(a.count('reset')).toBe(0);
  });

  it('dedup: a replayed M_OPEN (same CID) never opens a second flow', async () => {
    const { raw, a, am } = await rawWithFlow();
    raw.send(encodeMeshOpen({ cid: 1, epoch: 5, seq: 1, connector: 'c', agentId: 'agent-1', window: 65536 }));
    raw.send(encodeMeshOpen({ cid: 1, epoch: 5, seq: 9, connector: 'c', agentId: 'agent-1', window: 65536 })); // new seq, old CID
    raw.send(encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8)));
    await raw.waitFor((f) => f.type === MeshFrameType.M_PONG);
    expect(a.count('open')).toBe(1);
    expect(am.dedupDrops).toBe(2);
  });

  it('DATA beyond the announced window resets the flow (FLOW_CONTROL); the link stays up', async () => {
    const { raw, a, links } = await rawWithFlow({ flowWindowBytes: 1024 });
    a.onData = () => undefined; // never consume
    raw.send(encodeMeshData(1, 5, 2, Buffer.alloc(1024)));
    raw.send(encodeMeshData(1, 5, 3, Buffer.alloc(1)));
    await expect(raw.waitFor((f) => f.type === MeshFrameType.M_RST)).resolves.toMatchObject({ cid: 1, reason: MeshRstReason.FLOW_CONTROL });
    await expect(a.waitFor('reset')).resolves.toMatchObject({ reason: MeshRstReason.FLOW_CONTROL });
    expect(a.bytes(1).length).toBe(1024);
    expect(links[0]!.state).toBe(LinkState.UP);
  });

  it('frames for an unknown CID are ignored, not fatal', async () => {
    const { raw, links } = await rawWithFlow();
    raw.send(encodeMeshData(99, 5, 1, Buffer.from('x')));
    raw.send(encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8)));
    await raw.waitFor((f) => f.type === MeshFrameType.M_PONG);
    expect(links[0]!.unknownFlowFrames).toBe(1);
    expect(links[0]!.state).toBe(LinkState.UP);
  });

  it.each<[string, (raw: RawPeer) => void]>([
    ['garbage bytes', (raw) => raw.ws.send(Buffer.from('not a frame at all'))],
    ['a text message', (raw) => raw.ws.send('hello')],
    ['a tunnel frame', (raw) => raw.ws.send(Buffer.from('010600000000000100000000', 'hex'))],
    ['an M_OPEN with the acceptor`s parity', (raw) => raw.send(encodeMeshOpen({ cid: 2, epoch: 5, seq: 1, connector: 'c', agentId: 'a', window: 1 }))],
    ['a second M_HELLO', (raw) => raw.send(encodeMeshHello('hub-raw'))],
  ])('%s after the handshake closes the link as a protocol error, resetting its flows', async (_name, misbehave) => {
    const { raw, a, am } = await rawWithFlow();
    misbehave(raw);
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'protocol_error' });
    expect(a.log.filter((e) => e.kind === 'reset')).toEqual([{ kind: 'reset', cid: 1, reason: MeshRstReason.LINK_LOST }]);
    expect(am.linkErrors).toBe(1);
    expect(await raw.closed).toBe(1002);
  });

  it('a frame other than M_HELLO before the handshake is a protocol error', async () => {
    const { server, a } = await acceptorServer();
    const raw = await RawPeer.connect(server.url);
    raw.send(encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8)));
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'protocol_error' });
    expect(a.count('up')).toBe(0);
  });

  it('a frame above max_frame_bytes is a protocol error', async () => {
    const { raw, a } = await rawWithFlow({ maxFrameBytes: 4096 });
    raw.send(encodeMeshData(1, 5, 2, Buffer.alloc(5000)));
    await expect(a.waitFor('down')).resolves.toMatchObject({ reason: 'protocol_error' });
  });

  it('a peer that goes silent is declared dead after three keepalive intervals', async () => {
    const { raw, a, am } = await rawWithFlow({ keepaliveMs: 30 });
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'dead_peer' });
    expect(raw.frames.filter((f) => f.type === MeshFrameType.M_PING).length).toBeGreaterThanOrEqual(2);
    expect(am.linkErrors).toBe(1);
  });
});

describe('MeshLink: backpressure', () => {
  it('refuses new opens at the in-flight cap and at the queue cap, counting them; existing flows lose nothing', async () => {
    const cap = 256 * 1024;
    const { dialer, d, a, dm } = await linkPair(
      { sendQueueDepth: 4, perLinkMaxInflightBytes: cap },
      { flowWindowBytes: MESH_MAX_WINDOW_BYTES, ownerEpoch: () => 1 },
    );
    const r = dialer.openFlow('agent-1', 'c', 1);
    if (!('cid' in r)) throw new Error('refused');
    await d.waitFor('openAck');
    const big = randomBytes(4 * 1024 * 1024);
    // Synchronously, no write completes: the link takes data up to the in-flight cap, then pauses the flow.
    let sent = dialer.sendData(r.cid, big);
    expect(sent).toBeLessThan(big.length);
    expect(sent).toBeGreaterThanOrEqual(cap);
    expect(dialer.inflightBytes).toBeGreaterThanOrEqual(cap);
    expect(dialer.congested).toBe(true);
    expect(dialer.openFlow('agent-1', 'c', 1)).toEqual({ refused: 'inflight_cap' });
    for (let i = 0; i < 4; i++) dialer.ping(); // control frames are never dropped: they queue
    expect(dialer.queueDepth).toBe(4);
    expect(dialer.openFlow('agent-1', 'c', 1)).toEqual({ refused: 'queue_full' });
    expect(dm.drops).toEqual([
      ['hub-b', 'inflight_cap'],
      ['hub-b', 'queue_full'],
    ]);

    // The paused flow resumes on drain and delivers every byte; the gauges never pass their caps by more than a frame.
    let maxInflight = dialer.inflightBytes;
    let maxDepth = dialer.queueDepth;
    d.onWritable = (_l, cid) => {
      if (cid !== r.cid || sent === big.length) return;
      sent += dialer.sendData(r.cid, big.subarray(sent));
      maxInflight = Math.max(maxInflight, dialer.inflightBytes);
      maxDepth = Math.max(maxDepth, dialer.queueDepth);
      if (sent === big.length) dialer.finFlow(r.cid);
    };
    await a.waitFor('fin');
    expect(sha(a.bytes(r.cid))).toBe(sha(big));
    expect(maxInflight).toBeLessThanOrEqual(cap + 1024 * 1024);
    expect(maxDepth).toBeLessThanOrEqual(4 + 4);
    await d.until(() => dialer.inflightBytes === 0);
    expect(dialer.openFlow('agent-1', 'c', 1)).toHaveProperty('cid');
  });
});

describe('MeshLink: RTT, drain, loss', () => {
  it('measures RTT with M_PING / M_PONG', async () => {
    const { dialer, dm } = await linkPair();
    const rtt = dm.nextRtt();
    dialer.ping();
    const seconds = await rtt;
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(5);
    expect(dialer.lastRttSeconds).toBe(seconds);
  });

  it('the keepalive pings on its own', async () => {
    const { dm } = await linkPair({ keepaliveMs: 200 });
    await expect(dm.nextRtt()).resolves.toBeGreaterThanOrEqual(0);
  });

  it('drain: GOAWAY stops new flows both ways, running flows finish, then the link closes', async () => {
    const { dialer, acceptor, d, a } = await linkPair({}, { ownerEpoch: () => 1 });
    const r = dialer.openFlow('agent-1', 'c', 1);
    if (!('cid' in r)) throw new Error('refused');
    await d.waitFor('openAck');
    acceptor.drain();
    expect(acceptor.state).toBe(LinkState.DRAINING);
    await d.waitFor('state', (e) => e.to === LinkState.DRAINING);
    expect(dialer.openFlow('agent-1', 'c', 1)).toEqual({ refused: 'not_up' });
    expect(acceptor.openFlow('agent-1', 'c', 1)).toEqual({ refused: 'not_up' });
    dialer.sendData(r.cid, Buffer.from('still flowing'));
    dialer.finFlow(r.cid);
    await a.waitFor('fin');
    expect(a.bytes(r.cid).toString()).toBe('still flowing');
    acceptor.sendData(r.cid, Buffer.from('reply'));
    acceptor.finFlow(r.cid);
    await d.waitFor('fin');
    await Promise.all([d.waitFor('down'), a.waitFor('down')]);
    expect(d.bytes(r.cid).toString()).toBe('reply');
    // The last FIN reaches the handler before the link reports itself down (no LINK_LOST for a clean end).
    expect(d.log.findIndex((e) => e.kind === 'fin')).toBeLessThan(d.log.findIndex((e) => e.kind === 'down'));
    expect(dialer.state).toBe(LinkState.DOWN);
    expect(acceptor.state).toBe(LinkState.DOWN);
    expect(d.count('reset') + a.count('reset')).toBe(0);
  });

  it('drain: resetting the last flow still tells the peer before the link closes', async () => {
    const { dialer, acceptor, d, a } = await linkPair({}, { ownerEpoch: () => 1 });
    const r = dialer.openFlow('agent-1', 'c', 1);
    if (!('cid' in r)) throw new Error('refused');
    await d.waitFor('openAck');
    acceptor.drain();
    acceptor.resetFlow(r.cid, MeshRstReason.SHUTDOWN);
    await expect(d.waitFor('reset')).resolves.toEqual({ kind: 'reset', cid: r.cid, reason: MeshRstReason.SHUTDOWN });
    await Promise.all([d.waitFor('down'), a.waitFor('down')]);
  });

  it('a lost socket resets every flow with LINK_LOST on both ends', async () => {
    const { dialer, server, d, a } = await linkPair({}, { ownerEpoch: () => 1 });
    const r1 = dialer.openFlow('agent-1', 'c', 1);
    const r2 = dialer.openFlow('agent-1', 'c', 1);
    await d.until(() => d.count('openAck') === 2);
    server.sockets[0]!.terminate();
    await Promise.all([d.waitFor('down'), a.waitFor('down')]);
    const lost = (rec: Recorder) => rec.log.filter((e) => e.kind === 'reset' && e.reason === MeshRstReason.LINK_LOST).length;
    expect(lost(d)).toBe(2);
    expect(lost(a)).toBe(2);
    expect([r1, r2].every((r) => 'cid' in r)).toBe(true);
    expect(dialer.sendData((r1 as { cid: number }).cid, Buffer.from('x'))).toBe(0);
  });

  it('close() ends the link at once', async () => {
    const { dialer, d, a } = await linkPair();
    dialer.close('shutdown');
    await expect(d.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'shutdown' });
    await a.waitFor('down');
    expect(dialer.state).toBe(LinkState.DOWN);
    expect(dialer.openFlow('agent-1', 'c', 1)).toEqual({ refused: 'not_up' });
  });
});
