/**
 * Mesh trust boundaries (issue 13 findings 2 and 3), with real hubs, a real agent and a real Redis on
 * loopback: a peer that claims another replica's id without its key is refused (the real link and its
 * flows untouched), and a mesh peer that floods M_PING or WebSocket pings without reading is closed
 * (`slow_consumer`) while the hub's RSS stays bounded. Finding 1 (forged ingress headers) is in
 * test/security.e2e-spec.ts.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { decodeMeshFrames, DEFAULT_MAX_FRAME_BYTES, encodeMeshHello, encodeMeshPing, MeshFrameType, type MeshFrame } from '@nowconnect/frames';
import {
  cleanupAll,
  freePorts,
  listener,
  metricValue,
  startAgentConnected,
  startEchoServer,
  startHub,
  startRedis,
  waitForMetric,
  type HubHandle,
  type RedisHandle,
  type TargetServer,
} from './support';
import { procMemKiB } from './support/flows';
import { TestMeshReplica } from './support/mesh-identity';
import { pumpEcho } from './support/sha';

const MiB = 1024 * 1024;
const CONNECTOR = 'echo';
let redis: RedisHandle;
let echo: TargetServer;

beforeAll(async () => {
  redis = await startRedis();
  echo = await startEchoServer();
}, 60_000);

afterAll(async () => {
  await echo?.close();
  await redis?.stop();
  await cleanupAll();
});

function redisDb(db: number): string {
  return `${redis.url.replace(/\/\d+$/, '')}/${db}`;
}

async function meshHub(replicaId: string, db: number, listenPort: number, secret: string, redisUrl?: string): Promise<HubHandle> {
  const [port] = await freePorts(1);
  return startHub({
    name: `hub:${replicaId}`,
    secret,
    config: {
      server: { bind: `127.0.0.1:${port}` },
      listeners: [listener('l1', CONNECTOR, listenPort)],
      limits: { keepalive_sec: 2 },
      ha: {
        enabled: true,
        mode: 'active',
        replica_id: replicaId,
        redis_url: redisUrl ?? redisDb(db),
        lease_sec: 3,
        mesh: { require_mtls: false, advertise_url: `ws://127.0.0.1:${port}/mesh`, connect_backoff_max_sec: 1 },
      },
    },
  });
}

/** A hand-driven mesh dialer: proves `replica`'s id (or fails to), then whatever the test sends. */
class MeshClient {
  readonly frames: MeshFrame[] = [];
  readonly closed: Promise<number>;
  private wake: (() => void) | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      decodeMeshFrames(Buffer.from(data), DEFAULT_MAX_FRAME_BYTES, (f) => this.frames.push(structuredClone(f)));
      this.wake?.();
    });
    ws.on('error', () => undefined);
    this.closed = once(ws, 'close').then(([code]) => code as number);
    void this.closed.then(() => this.wake?.());
  }

  static async open(url: string): Promise<MeshClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const c = new MeshClient(ws);
    await once(ws, 'open');
    return c;
  }

  /** The identity handshake; resolves true once our proof is sent, false when the hub closed first. */
  async handshake(replica: TestMeshReplica): Promise<boolean> {
    this.ws.send(replica.hello());
    const answer = await this.next((f) => f.type === MeshFrameType.M_HELLO);
    if (answer === undefined) return false;
    this.ws.send(replica.proof(answer));
    return true;
  }

  /** The first frame matching `pred`, or undefined once the socket closed (bounded by the hello timeout). */
  async next(pred: (f: MeshFrame) => boolean): Promise<MeshFrame | undefined> {
    for (let i = 0; i < 10_000; i++) {
      const hit = this.frames.find(pred);
      if (hit !== undefined) return hit;
      if (this.ws.readyState !== WebSocket.OPEN) return undefined;
      await new Promise<void>((r) => (this.wake = r));
    }
    return undefined;
  }

  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }
}

describe('mesh identity (issue 13 finding 2): a peer claiming another replica`s id', () => {
  let a: HubHandle;
  let b: HubHandle;
  let listenB: number;

  beforeAll(async () => {
    const secret = 'shared-secret-for-the-mesh-trust-hubs-0000';
    const [listenA, lb] = await freePorts(2);
    listenB = lb!;
    a = await meshHub('hub-a', 5, listenA!, secret);
    b = await meshHub('hub-b', 5, listenB, secret);
    const agent = await startAgentConnected(a, { agentId: 'agent-x', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    void agent;
    // Let the mesh settle before the test's mark: hub-a (the preferred dialer) always dials hub-b, and
    // if hub-b's own link to hub-a was up first, the tie-break drains it (mesh_link_duplicate, then its
    // mesh_link_down) on its own clock, which must not fall inside the test.
    await b.proc.waitForEvent('mesh_link_up', (e) => e.peer === 'hub-a' && e.role === 'acceptor', 30_000);
    if (b.proc.eventsNamed('mesh_link_up').some((e) => e.peer === 'hub-a' && e.role === 'dialer')) {
      await b.proc.waitForEvent('mesh_link_down', (e) => e.peer === 'hub-a' && e.role === 'dialer', 30_000);
    }
    await waitForMetric(b.httpUrl, 'nowconnect_mesh_links', { peer: 'hub-a', state: 'up' }, (v) => v === 1, { timeoutMs: 20_000 });
  }, 90_000);

  it('is refused 1008 (identity, counted, mesh_link_failed); the real link stays, and every client flow reaches the real hub-a', async () => {
    const mark = b.proc.mark();
    const before = metricValue(await b.metrics(), 'nowconnect_mesh_link_failures_total', { reason: 'identity' });
    // 1. a proof made with a key the registry does not hold for hub-a
    const impostor = await MeshClient.open(b.meshUrl);
    expect(await impostor.handshake(TestMeshReplica.unregistered('hub-a'))).toBe(true);
    const badProofClose = await impostor.closed;
    // 2. the identity-less hello of the old protocol, claiming hub-a
    const legacy = await MeshClient.open(b.meshUrl);
    legacy.ws.send(encodeMeshHello('hub-a'));
    const legacyClose = await legacy.closed;
    expect([badProofClose, legacyClose]).toEqual([1008, 1008]);
    await waitForMetric(b.httpUrl, 'nowconnect_mesh_link_failures_total', { reason: 'identity' }, (v) => v === before + 2);
    const failed = await b.proc.waitForEventSince(mark, 'mesh_link_failed', (e) => e.reason === 'identity' && e.detail === 'bad_proof', 5000);
    expect(failed).toMatchObject({ claimed_peer: 'hub-a', role: 'acceptor' });
    expect(failed.peer).toBeUndefined();
    await b.proc.waitForEventSince(mark, 'mesh_link_failed', (e) => e.reason === 'identity' && e.detail === 'no_proof', 5000);

    // 99 clients on hub-b's listener: every one is carried to the real hub-a (its agent echoes them).
    const results = await Promise.all(Array.from({ length: 99 }, () => pumpEcho(listenB, 16 * 1024, { timeoutMs: 30_000 })));
    const exact = results.filter((r) => r.recvBytes === 16 * 1024 && r.recvSha === r.sentSha).length;
    const opens = b.proc.eventsSince(mark, 'connection_open').filter((e) => e.path === 'cross_replica' && e.owner_replica === 'hub-a').length;
    const toImpostor = impostor.frames.filter((f) => f.type === MeshFrameType.M_OPEN).length + legacy.frames.filter((f) => f.type === MeshFrameType.M_OPEN).length;
    process.stdout.write(
      `MESH_IDENTITY ${JSON.stringify({ finding: 2, before: '99 of 99 client flows delivered to the impostor', impostor_closes: [badProofClose, legacyClose], flows_to_impostor: toImpostor, client_flows: 99, exact_via_real_hub_a: exact, cross_replica_opens: opens })}\n`,
    );
    expect(toImpostor).toBe(0);
    expect(exact).toBe(99);
    expect(b.proc.eventsSince(mark, 'mesh_link_duplicate')).toHaveLength(0);
    expect(b.proc.eventsSince(mark, 'mesh_link_down').filter((e) => e.peer === 'hub-a')).toHaveLength(0);
    expect(metricValue(await b.metrics(), 'nowconnect_mesh_links', { peer: 'hub-a', state: 'up' })).toBe(1);
  }, 120_000);
});

describe('mesh control traffic (issue 13 finding 3): peers that flood and never read', () => {
  let hub: HubHandle;

  beforeAll(async () => {
    const [listenPort] = await freePorts(1);
    hub = await meshHub('hub-flood', 7, listenPort!, 'secret-for-the-mesh-flood-hub-00000000000');
    await hub.proc.waitForEvent('mesh_started');
  }, 60_000);

  /**
   * Sends `totalBytes` through fresh proven links that stop reading, `batch()` at a time (reconnecting
   * whenever the hub closes one); samples the hub's RSS. Bounded: at most `maxLinks` links.
   */
  async function flood(what: string, totalBytes: number, batchBytes: number, batch: (c: MeshClient, written: () => void) => void, maxLinks: number) {
    const replica = await TestMeshReplica.register(redisDb(7), `flooder-${what}`);
    try {
      const rssBefore = procMemKiB(hub.proc.pid!).rssKiB;
      let peak = rssBefore;
      let sent = 0;
      let links = 0;
      while (sent < totalBytes && links < maxLinks) {
        const c = await MeshClient.open(hub.meshUrl);
        links++;
        if (!(await c.handshake(replica))) continue; // our frames after the proof reach an up link
        c.socket.pause(); // never read again
        while (sent < totalBytes && c.ws.readyState === WebSocket.OPEN) {
          // Paced by the hub's reading: the batch counts once the kernel took it (the hub reads it).
          await new Promise<void>((resolve) => batch(c, resolve));
          if (c.ws.readyState !== WebSocket.OPEN) break;
          sent += batchBytes;
          if ((sent / batchBytes) % 16 === 0) peak = Math.max(peak, procMemKiB(hub.proc.pid!).rssKiB);
        }
        c.ws.terminate();
        await c.closed;
      }
      peak = Math.max(peak, procMemKiB(hub.proc.pid!).rssKiB);
      return { sent_mib: +(sent / MiB).toFixed(1), links, hub_rss_before_mib: +(rssBefore / 1024).toFixed(1), hub_rss_peak_mib: +(peak / 1024).toFixed(1), growth_mib: +((peak - rssBefore) / 1024).toFixed(1) };
    } finally {
      await replica.remove();
    }
  }

  it('64 MiB of M_PING on non-reading mesh links: each link closed slow_consumer (ping_rate; counted, logged), hub RSS growth <= 64 MiB', async () => {
    const mark = hub.proc.mark();
    const before = metricValue(await hub.metrics(), 'nowconnect_mesh_link_failures_total', { reason: 'slow_consumer' });
    const pings = Buffer.concat(Array.from({ length: 3276 }, () => encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8)))); // 64 KiB
    const r = await flood('mping', 64 * MiB, pings.length, (c, written) => c.ws.send(pings, () => written()), 2000);
    process.stdout.write(`MESH_PING_FLOOD ${JSON.stringify({ finding: 3, before: '+724 MiB RSS for 63.5 MiB, queue depth 1051451, never closed', ...r })}\n`);
    expect(r.sent_mib).toBeGreaterThanOrEqual(64);
    expect(r.growth_mib).toBeLessThanOrEqual(64);
    await waitForMetric(hub.httpUrl, 'nowconnect_mesh_link_failures_total', { reason: 'slow_consumer' }, (v) => v >= before + 1);
    await hub.proc.waitForEventSince(mark, 'mesh_link_failed', (e) => e.reason === 'slow_consumer' && e.peer === 'flooder-mping' && e.detail === 'ping_rate', 5000);
    expect(metricValue(await hub.metrics(), 'nowconnect_mesh_queue_depth', { peer: 'flooder-mping' })).toBeLessThanOrEqual(1000);
  }, 180_000);

  it('64 MiB of WebSocket pings on non-reading /mesh links: closed slow_consumer, hub RSS growth <= 64 MiB', async () => {
    const mark = hub.proc.mark();
    const payload = Buffer.alloc(125);
    const r = await flood('wsping', 64 * MiB, 512 * 131, (c, written) => {
      for (let i = 0; i < 511; i++) c.ws.ping(payload);
      c.ws.ping(payload, undefined, () => written());
    }, 2000);
    process.stdout.write(`MESH_WS_PING_FLOOD ${JSON.stringify({ finding: 3, before: '+253 MiB RSS for 64 MiB, never closed', ...r })}\n`);
    expect(r.sent_mib).toBeGreaterThanOrEqual(64);
    expect(r.growth_mib).toBeLessThanOrEqual(64);
    await hub.proc.waitForEventSince(mark, 'mesh_link_failed', (e) => e.reason === 'slow_consumer' && e.peer === 'flooder-wsping', 5000);
  }, 180_000);
});

describe('mesh keepalive (issue 13 finding 3): only progress keeps a link alive', () => {
  it('a proven peer that keeps sending (unsolicited PONGs, its own PINGs) but never answers ours is closed dead_peer', async () => {
    const [listenPort] = await freePorts(1);
    const hub = await meshHub('hub-alive', 9, listenPort!, 'secret-for-the-keepalive-hub-000000000000');
    await hub.proc.waitForEvent('mesh_started');
    const replica = await TestMeshReplica.register(redisDb(9), 'chatty');
    try {
      const mark = hub.proc.mark();
      const c = await MeshClient.open(hub.meshUrl);
      expect(await c.handshake(replica)).toBe(true);
      await hub.proc.waitForEventSince(mark, 'mesh_link_up', (e) => e.peer === 'chatty', 5000);
      const t0 = Date.now();
      // Within the ping allowance and never an answer to the hub's PINGs (keepalive_sec 2: dead after 6 s).
      const timer = setInterval(() => {
        if (c.ws.readyState === WebSocket.OPEN) c.ws.send(Buffer.concat([encodeMeshPing(MeshFrameType.M_PONG, Buffer.alloc(8)), encodeMeshPing(MeshFrameType.M_PING, Buffer.alloc(8))]));
      }, 200);
      try {
        const down = await hub.proc.waitForEventSince(mark, 'mesh_link_down', (e) => e.peer === 'chatty', 15_000);
        const ms = Date.now() - t0;
        process.stdout.write(`MESH_KEEPALIVE ${JSON.stringify({ finding: 3, before: 'any incoming frame kept the link alive (never closed)', reason: down.reason, closed_after_ms: ms })}\n`);
        expect(down.reason).toBe('dead_peer');
        expect(ms).toBeLessThan(12_000);
      } finally {
        clearInterval(timer);
        c.ws.terminate();
      }
    } finally {
      await replica.remove();
    }
  }, 60_000);
});

describe('mesh identity with the registry down', () => {
  it('new links fail closed (identity, registry_unavailable); the link already up stays up', async () => {
    const own = await startRedis();
    const secret = 'secret-for-the-registry-down-hubs-0000000';
    const [lc, ld] = await freePorts(2);
    const c = await meshHub('hub-c', 0, lc!, secret, own.url);
    const d = await meshHub('hub-d', 0, ld!, secret, own.url);
    await waitForMetric(c.httpUrl, 'nowconnect_mesh_links', { peer: 'hub-d', state: 'up' }, (v) => v === 1, { timeoutMs: 20_000 });
    const replica = await TestMeshReplica.register(own.url, 'late-peer');
    const mark = c.proc.mark();
    await own.kill();
    await c.proc.waitForEventSince(mark, 'registry_degraded', undefined, 15_000);
    const late = await MeshClient.open(c.meshUrl);
    await late.handshake(replica);
    expect(await late.closed).toBe(1008);
    const failed = await c.proc.waitForEventSince(mark, 'mesh_link_failed', (e) => e.reason === 'identity', 5000);
    expect(failed).toMatchObject({ detail: 'registry_unavailable', claimed_peer: 'late-peer' });
    expect(metricValue(await c.metrics(), 'nowconnect_mesh_links', { peer: 'hub-d', state: 'up' })).toBe(1);
    expect(c.proc.eventsSince(mark, 'mesh_link_down').filter((e) => e.peer === 'hub-d')).toHaveLength(0);
    await replica.remove();
  }, 90_000);
});
