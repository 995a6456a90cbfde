/**
 * Hub-to-hub mesh with real processes and a real redis-server (issue 4): two hubs in HA active
 * mode link up over /mesh, a client landing on the hub that does not hold the agent reaches it
 * through the mesh (exact bytes both ways), and a lost link refuses cross-replica flows at once.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import WebSocket from 'ws';
import {
  cleanupAll,
  connectTcp,
  freePort,
  listener,
  makeCa,
  makeCert,
  makeTmpDir,
  metricValue,
  parseMetrics,
  pumpEcho,
  readUntilClose,
  connectAndReadUntilClose,
  startAgentConnected,
  startEchoServer,
  startHub,
  startCuttableProxy,
  startRedis,
  waitForMetric,
  type HubHandle,
  type RedisHandle,
  type TargetServer,
  tryMeshUpgrade,
} from './support';
import { TestMeshReplica } from './support/mesh-identity';
import { pollUntil } from './support/http';
import {
  decodeMeshFrames,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMeshData,
  encodeMeshOpen,
  encodeMeshOpenAck,
  encodeMeshRst,
  MeshFrameType,
  MeshRstReason,
  type MeshFrame,
} from '@nowconnect/frames';
import { procMemKiB, readExactly, waitClosed, writeUntilStalled } from './support/flows';

const MiB = 1024 * 1024;

const CONNECTOR = 'echo';
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

let echo: TargetServer;
let redis: RedisHandle;
beforeAll(async () => {
  echo = await startEchoServer();
  closers.push(() => echo.close());
  redis = await startRedis();
  closers.push(() => redis.stop());
});

type MeshHub = HubHandle & { listenPort: number; replicaId: string };

/** An HA hub (active unless told) advertising ws://127.0.0.1:<port>/mesh (plain, require_mtls off). */
async function meshHub(
  replicaId: string,
  opts: {
    mesh?: Record<string, unknown>;
    limits?: Record<string, unknown>;
    db?: number;
    extraListeners?: Record<string, unknown>[];
    secret?: string;
    mode?: 'shadow' | 'active';
    /** The advertised mesh URL for a given server port (default ws://127.0.0.1:<port>/mesh). */
    advertise?: (port: number) => string;
    drainTimeoutSec?: number;
  } = {},
): Promise<MeshHub> {
  // Ports are picked before the hub binds them: retry (bounded) when another process took one first.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const listenPort = await freePort();
    try {
      const hub = await startHub({
        name: `hub:${replicaId}`,
        secret: opts.secret,
        config: {
          server: { bind: `127.0.0.1:${port}`, ...(opts.drainTimeoutSec === undefined ? {} : { drain_timeout_sec: opts.drainTimeoutSec }) },
          listeners: [listener('l1', CONNECTOR, listenPort), ...(opts.extraListeners ?? [])],
          ...(opts.limits === undefined ? {} : { limits: opts.limits }),
          ha: {
            enabled: true,
            mode: opts.mode ?? 'active',
            replica_id: replicaId,
            redis_url: `${redis.url.replace(/\/\d+$/, '')}/${opts.db ?? 0}`,
            lease_sec: 3,
            mesh: { require_mtls: false, advertise_url: opts.advertise?.(port) ?? `ws://127.0.0.1:${port}/mesh`, ...(opts.mesh ?? {}) },
          },
        },
      });
      closers.push(() => hub.kill());
      live.push(hub);
      return Object.assign(hub, { listenPort, replicaId });
    } catch (e) {
      if (!(attempt < 3 && /EADDRINUSE/.test(e instanceof Error ? e.message : String(e)))) throw e;
    }
  }
}

/**
 * Hubs of the running describe block. Killed when the block ends: a surviving hub keeps dialing a
 * killed peer's port until that peer's lease runs out, and a later block may get that port.
 */
const live: HubHandle[] = [];
async function killLive(): Promise<void> {
  for (const hub of live.splice(0)) await hub.kill();
}

/** Round trips of `size`-byte requests on one connection (echo): latencies in ms, sorted. */
async function roundTrips(port: number, n: number, size = 64): Promise<number[]> {
  const s = await connectTcp(port);
  const out: number[] = [];
  const req = crypto.randomBytes(size);
  for (let k = 0; k < n; k++) {
    const t0 = process.hrtime.bigint();
    s.write(req);
    await readExactly(s, size, 10_000);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  s.destroy();
  return out.sort((x, y) => x - y);
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Upper bound of the bucket holding the p-th percentile of a histogram (seconds). */
function histogramPct(text: string, name: string, p: number): { value: number; count: number } {
  const buckets = parseMetrics(text)
    .filter((x) => x.name === `${name}_bucket`)
    .map((x) => ({ le: Number(x.labels.le === '+Inf' ? Infinity : x.labels.le), n: x.value }))
    .sort((x, y) => x.le - y.le);
  const count = buckets.at(-1)?.n ?? 0;
  const hit = buckets.find((x) => x.n >= (p / 100) * count);
  return { value: hit?.le ?? NaN, count };
}

function linkUp(hub: MeshHub, peer: string): Promise<unknown> {
  return hub.proc.waitForEvent('mesh_link_up', (e) => e.peer === peer);
}

async function readyBody(hub: HubHandle): Promise<{ status: number; body: { status?: string; details?: Record<string, unknown> } }> {
  const r = await hub.get('/readyz');
  return { status: r.status, body: r.body as { status?: string; details?: Record<string, unknown> } };
}

describe('mesh: two active hubs on one Redis', () => {
  afterAll(killLive);
  let a: MeshHub;
  let b: MeshHub;

  beforeAll(async () => {
    // keepalive 1 s: mesh PINGs (and so RTT samples) every second.
    a = await meshHub('hub-a', { db: 1, limits: { keepalive_sec: 1 } });
    b = await meshHub('hub-b', { db: 1, limits: { keepalive_sec: 1 } });
    await Promise.all([linkUp(a, 'hub-b'), linkUp(b, 'hub-a')]);
  });

  it('links up (mesh_link_up both ways), /readyz 200 ready on both, link gauges and RTT exported', async () => {
    for (const hub of [a, b]) {
      const r = await pollUntil(
        async () => {
          const res = await readyBody(hub);
          return res.status === 200 ? res : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 50, what: () => `${hub.proc.name} /readyz 200` },
      );
      expect(r.body.status).toBe('ready');
      expect(r.body.details).toHaveProperty('mesh');
      const peer = hub === a ? 'hub-b' : 'hub-a';
      await waitForMetric(hub.httpUrl, 'nowconnect_mesh_links', { peer, state: 'up' }, (v) => v === 1);
    }
    const text = await b.metrics();
    for (const name of ['nowconnect_mesh_frames_total', 'nowconnect_mesh_rtt_seconds_bucket', 'nowconnect_mesh_link_errors_total', 'nowconnect_mesh_queue_depth']) {
      expect(text).toMatch(new RegExp(`^${name}`, 'm'));
    }
    expect(metricValue(text, 'nowconnect_mesh_frames_total', { dir: 'in', type: 'M_HELLO' })).toBeGreaterThanOrEqual(1);
  });

  it('a client on hub B reaches the agent held by hub A: 8 MiB each way, exact bytes, counted as cross_replica', async () => {
    const agent = await startAgentConnected(a, { agentId: 'agent-1', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    const bytes = 8 * 1024 * 1024;
    const r = await pumpEcho(b.listenPort, bytes, { timeoutMs: 60_000 });
    expect(r.recvBytes).toBe(bytes);
    expect(r.recvSha).toBe(r.sentSha);
    process.stdout.write(`cross-replica echo: ${bytes} bytes each way in ${r.elapsedMs} ms\n`);
    await waitForMetric(b.httpUrl, 'nowconnect_flows_total', { path: 'cross_replica' }, (v) => v === 1);
    const text = await b.metrics();
    expect(metricValue(text, 'nowconnect_flows_total', { path: 'local' })).toBe(0);
    expect(metricValue(text, 'nowconnect_mesh_frames_total', { dir: 'out', type: 'M_OPEN' })).toBe(1);
    const closed = await b.proc.waitForEvent('connection_closed', (e) => e.path === 'cross_replica');
    expect(closed).toMatchObject({ bytes_c2a: bytes, bytes_a2c: bytes, end: 'fin' });
    await a.proc.waitForEvent('connection_closed', (e) => e.listener === 'mesh:hub-b' && e.end === 'fin');
    // One client connection, counted once across the replicas: by the hub the client reached.
    const onA = await a.metrics();
    const conn = { connector: CONNECTOR };
    expect(metricValue(text, 'nowconnect_tcp_connections_total', conn)).toBe(1);
    expect(metricValue(await b.metrics(), 'nowconnect_tcp_bytes_total', { ...conn, direction: 'c2a' })).toBe(bytes);
    expect(metricValue(onA, 'nowconnect_tcp_connections_total', conn)).toBe(0);
    expect(metricValue(onA, 'nowconnect_tcp_bytes_total', { ...conn, direction: 'c2a' })).toBe(0);
    expect(metricValue(onA, 'nowconnect_tcp_bytes_total', { ...conn, direction: 'a2c' })).toBe(0);
    expect(metricValue(onA, 'nowconnect_tcp_active_connections', conn)).toBe(0);
    // A local client on hub A still goes straight to the agent.
    const local = await pumpEcho(a.listenPort, 64 * 1024, { timeoutMs: 20_000 });
    expect(local.recvSha).toBe(local.sentSha);
    await waitForMetric(a.httpUrl, 'nowconnect_flows_total', { path: 'local' }, (v) => v === 1);
  });

  it('figures: same workload local (client on the owner hub) vs cross-replica; mesh RTT on loopback', async () => {
    const bytes = 32 * MiB;
    const local = await pumpEcho(a.listenPort, bytes, { timeoutMs: 60_000 });
    const cross = await pumpEcho(b.listenPort, bytes, { timeoutMs: 60_000 });
    expect(local.recvSha).toBe(local.sentSha);
    expect(cross.recvSha).toBe(cross.sentSha);
    const rtLocal = await roundTrips(a.listenPort, 1000);
    const rtCross = await roundTrips(b.listenPort, 1000);
    const rate = (ms: number): string => ((bytes / MiB) / (ms / 1000)).toFixed(0);
    await waitForMetric(b.httpUrl, 'nowconnect_mesh_rtt_seconds_count', {}, (v) => v >= 1);
    const rtt = histogramPct(await b.metrics(), 'nowconnect_mesh_rtt_seconds', 95);
    process.stdout.write(
      `figures: echo 32 MiB each way: local ${local.elapsedMs} ms (${rate(local.elapsedMs)} MiB/s each way), ` +
        `cross-replica ${cross.elapsedMs} ms (${rate(cross.elapsedMs)} MiB/s each way); ` +
        `64-byte request round trip p50/p99: local ${pct(rtLocal, 50).toFixed(3)}/${pct(rtLocal, 99).toFixed(3)} ms, ` +
        `cross-replica ${pct(rtCross, 50).toFixed(3)}/${pct(rtCross, 99).toFixed(3)} ms; ` +
        `mesh RTT p95 <= ${rtt.value} s (histogram bucket, ${rtt.count} samples)\n`,
    );
    expect(pct(rtCross, 99)).toBeLessThan(1000);
  });

  it('owner hub killed: hub B logs mesh_link_down and refuses cross-replica clients at once', async () => {
    const mark = b.proc.mark();
    await a.kill();
    await b.proc.waitForEventSince(mark, 'mesh_link_down', (e) => e.peer === 'hub-a');
    const started = Date.now();
    const closed = await connectAndReadUntilClose(b.listenPort, 5000);
    expect(closed.bytes).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
    const refused = await b.proc.waitForEventSince(mark, 'cross_replica_refused');
    expect(refused).toMatchObject({ reason: 'mesh_unavailable', owner_replica: 'hub-a' });
    // hub-a's lease is still alive: B keeps dialing it with backoff (each re-dial counted) and is degraded.
    await waitForMetric(b.httpUrl, 'nowconnect_mesh_link_reconnects_total', {}, (v) => v >= 1);
    await b.proc.waitForEventSince(mark, 'mesh_dial_failed', (e) => e.url === a.meshUrl);
  });
});

describe('mesh backpressure: a slow reader on a cross-replica flow', () => {
  afterAll(killLive);
  const BOUND_MIB = 64;
  let owner: MeshHub;
  let origin: MeshHub;

  beforeAll(async () => {
    owner = await meshHub('hub-c', { db: 2 });
    origin = await meshHub('hub-d', { db: 2 });
    await Promise.all([linkUp(owner, 'hub-d'), linkUp(origin, 'hub-c')]);
    const agent = await startAgentConnected(owner, { agentId: 'agent-bp', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
  });

  it(`does not stall a second cross-replica flow; queue and in-flight gauges stay at their caps; RSS of both hubs <= baseline + ${BOUND_MIB} MiB`, async () => {
    const pids = [owner.proc.pid, origin.proc.pid];
    if (pids.some((p) => p === undefined)) throw new Error('hub without pid');
    const warm = await pumpEcho(origin.listenPort, 4 * MiB, { timeoutMs: 30_000 });
    expect(warm.recvSha).toBe(warm.sentSha);
    const baseline = pids.map((p) => procMemKiB(p!).rssKiB);

    // Flow A: connect to the origin hub, never read, write until the whole path stops taking bytes.
    const a = await connectTcp(origin.listenPort);
    a.pause();
    a.on('error', () => undefined);
    const block = crypto.randomBytes(64 * 1024);
    const aRes = await writeUntilStalled(a, block, 64 * MiB, 2000);
    expect(aRes.stalled).toBe(true);
    expect(aRes.written).toBeLessThan(64 * MiB);
    const stalledRss = pids.map((p) => procMemKiB(p!).rssKiB);

    // The link's writer stays within its caps (send_queue_depth 1000, 8 MiB in flight by default).
    for (const [hub, peer] of [[origin, 'hub-c'], [owner, 'hub-d']] as const) {
      const text = await hub.metrics();
      expect(metricValue(text, 'nowconnect_mesh_queue_depth', { peer })).toBeLessThanOrEqual(1000);
      expect(metricValue(text, 'nowconnect_mesh_inflight_bytes', { peer })).toBeLessThanOrEqual(8 * MiB + MiB);
    }

    // Flow B over the same link and agent while A stays stalled.
    let aDrained = false;
    a.once('drain', () => {
      aDrained = true;
    });
    const b = await pumpEcho(origin.listenPort, 32 * MiB, { timeoutMs: 60_000 });
    expect(b.recvBytes).toBe(32 * MiB);
    expect(b.recvSha).toBe(b.sentSha);
    expect(aDrained).toBe(false);
    expect(a.destroyed).toBe(false);
    const after = pids.map((p) => procMemKiB(p!).rssKiB);
    process.stdout.write(
      `mesh slow reader: A wrote ${(aRes.written / MiB).toFixed(1)} MiB before stalling; B 32 MiB echoed in ${b.elapsedMs} ms; ` +
        `RSS MiB owner ${(baseline[0]! / 1024).toFixed(1)} -> ${(stalledRss[0]! / 1024).toFixed(1)} -> ${(after[0]! / 1024).toFixed(1)}, ` +
        `origin ${(baseline[1]! / 1024).toFixed(1)} -> ${(stalledRss[1]! / 1024).toFixed(1)} -> ${(after[1]! / 1024).toFixed(1)}\n`,
    );
    for (let i = 0; i < pids.length; i++) {
      expect(Math.max(stalledRss[i]!, after[i]!)).toBeLessThan(baseline[i]! + BOUND_MIB * 1024);
    }
    expect(await waitForMetric(origin.httpUrl, 'nowconnect_flows_total', { path: 'cross_replica' }, (v) => v === 3)).toBe(3);

    // A is still a live flow: reading it now drains it (nothing lost or truncated), then it ends cleanly.
    const closedA = waitClosed(a, 30_000);
    const got = { n: 0 };
    a.on('data', (d: Buffer) => (got.n += d.length));
    a.end();
    a.resume();
    await closedA;
    expect(got.n).toBe(aRes.written);
  });
});

describe('mesh mTLS on ha.mesh.listen', () => {
  afterAll(killLive);
  let e: MeshHub;
  let f: MeshHub;
  let goodClient: { certFile: string; keyFile: string; caFile: string };
  let renew: () => Promise<unknown>;
  let foreignClient: { certFile: string; keyFile: string };
  const meshPorts: Record<string, number> = {};

  beforeAll(async () => {
    const dir = makeTmpDir('nc-mesh-tls-');
    const ca = await makeCa(path.join(dir, 'ca'));
    const other = await makeCa(path.join(dir, 'other'), 'Another CA');
    const certs: Record<string, { certFile: string; keyFile: string; caFile: string }> = {};
    for (const id of ['hub-e', 'hub-f']) {
      certs[id] = await makeCert(ca, { cn: id, clientAuth: true });
      meshPorts[id] = await freePort();
    }
    goodClient = await makeCert(ca, { cn: 'test-client', clientAuth: true });
    renew = () => makeCert(ca, { cn: 'hub-e', clientAuth: true }); // same paths as hub-e's files
    foreignClient = await makeCert(other, { cn: 'hub-e', clientAuth: true, name: 'foreign' });
    const tlsHub = (id: string): Promise<MeshHub> =>
      meshHub(id, {
        db: 3,
        mesh: {
          listen: `127.0.0.1:${meshPorts[id]}`,
          advertise_url: `wss://127.0.0.1:${meshPorts[id]}/mesh`,
          require_mtls: true,
          tls: { ca_bundle: certs[id]!.caFile, cert_file: certs[id]!.certFile, key_file: certs[id]!.keyFile },
        },
      });
    e = await tlsHub('hub-e');
    f = await tlsHub('hub-f');
  });

  it('hubs link over wss with client certificates from the mesh CA', async () => {
    const [upE, upF] = await Promise.all([linkUp(e, 'hub-f'), linkUp(f, 'hub-e')]);
    // The loaded certificates' not-after is exported (test certs: 3 days; a generous hour either way).
    const inThreeDays = Date.now() / 1000 + 3 * 86_400;
    for (const file of ['cert', 'ca']) {
      expect(Math.abs(metricValue(await e.metrics(), 'nowconnect_mesh_cert_expiry_timestamp_seconds', { file }) - inThreeDays)).toBeLessThan(3600);
    }
    expect([upE, upF].some((ev) => String((ev as { url?: string }).url ?? '').startsWith('wss://'))).toBe(true);
    await waitForMetric(e.httpUrl, 'nowconnect_mesh_links', { peer: 'hub-f', state: 'up' }, (v) => v === 1);
  });

  it('the mesh listener refuses a client certificate from another CA and a client without one', async () => {
    const url = `wss://127.0.0.1:${meshPorts['hub-e']}/mesh`;
    const ca = fs.readFileSync(goodClient.caFile);
    const before = metricValue(await e.metrics(), 'nowconnect_mesh_link_errors_total');
    const foreign = await tryMeshUpgrade(url, { ca, cert: fs.readFileSync(foreignClient.certFile), key: fs.readFileSync(foreignClient.keyFile) });
    expect(foreign).not.toBe('open');
    const none = await tryMeshUpgrade(url, { ca });
    expect(none).not.toBe('open');
    expect(await tryMeshUpgrade(url, { ca, cert: fs.readFileSync(goodClient.certFile), key: fs.readFileSync(goodClient.keyFile) })).toBe('open');
    await waitForMetric(e.httpUrl, 'nowconnect_mesh_link_errors_total', {}, (v) => v >= before + 2);
  });

  it('/mesh on the plain port with require_mtls and no ha.mesh.ingress.trusted_proxies: 404, whatever the headers', async () => {
    const url = `ws://127.0.0.1:${e.port}/mesh`;
    const mark = e.proc.mark();
    expect(await tryMeshUpgrade(url, {})).toBe('http 404');
    expect(await tryMeshUpgrade(url, { headers: { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=hub-x' } })).toBe('http 404');
    const refused = await e.proc.waitForEventSince(mark, 'mesh_upgrade_refused', (ev) => ev.reason === 'no_trusted_proxies');
    expect(refused.client).toBe('127.0.0.x');
    await waitForMetric(e.httpUrl, 'nowconnect_mesh_upgrade_refused_total', { reason: 'no_trusted_proxies' }, (v) => v >= 2);
  });

  it('a renewed certificate file is picked up without dropping the established link', async () => {
    const mark = e.proc.mark();
    await renew();
    const reloaded = await e.proc.waitForEventSince(mark, 'mesh_cert_reloaded', undefined, 20_000);
    expect(reloaded.generation).toBeGreaterThanOrEqual(2);
    const url = `wss://127.0.0.1:${meshPorts['hub-e']}/mesh`;
    const ca = fs.readFileSync(goodClient.caFile);
    expect(await tryMeshUpgrade(url, { ca, cert: fs.readFileSync(goodClient.certFile), key: fs.readFileSync(goodClient.keyFile) })).toBe('open');
    // No link to hub-f lost. (A duplicate link closed by the tie-break — both hubs dialed while the first
    // dial was backing off — ends with reason 'drained' at any time; the kept link stays up.)
    expect(e.proc.eventsSince(mark, 'mesh_link_down').filter((ev) => ev.peer === 'hub-f' && ev.reason !== 'drained')).toHaveLength(0);
    expect(metricValue(await e.metrics(), 'nowconnect_mesh_links', { peer: 'hub-f', state: 'up' })).toBe(1);
  });
});

describe('mesh: refusals and drain of the origin hub', () => {
  afterAll(killLive);
  let g: MeshHub;
  let h: MeshHub;
  let deadPort: number;
  let deadListenPort: number;

  beforeAll(async () => {
    deadPort = await freePort(); // nothing listens there: the agent's dial is refused
    deadListenPort = await freePort();
    g = await meshHub('hub-g', { db: 4 });
    h = await meshHub('hub-h', { db: 4, extraListeners: [listener('l2', 'dead', deadListenPort)] });
    await Promise.all([linkUp(g, 'hub-h'), linkUp(h, 'hub-g')]);
    const agent = await startAgentConnected(g, {
      agentId: 'agent-gh',
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}`, dead: `127.0.0.1:${deadPort}` },
    });
    closers.push(() => agent.kill());
  });

  it('a target that refuses the agent: the client on the other hub is closed at once (reset through the mesh)', async () => {
    const started = Date.now();
    const closed = await connectAndReadUntilClose(deadListenPort, 10_000);
    expect(closed.bytes).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    await g.proc.waitForEvent('open_failed', (e) => e.connector === 'dead');
    expect(await h.proc.waitForEvent('connection_closed', (e) => e.connector === 'dead')).toMatchObject({ path: 'cross_replica', end: 'rst_recv' });
  });

  it('SIGTERM on the origin hub: its running cross-replica flow finishes intact, new clients are refused, exit 0', async () => {
    const s = await connectTcp(h.listenPort);
    const part1 = crypto.randomBytes(MiB);
    const part2 = crypto.randomBytes(MiB);
    s.write(part1);
    expect((await readExactly(s, part1.length, 15_000)).equals(part1)).toBe(true);
    const mark = h.proc.mark();
    const stopping = h.stop(30_000);
    await h.proc.waitForEventSince(mark, 'drain_started');
    // drain_started is logged just before the listeners close: wait (bounded) for the port to refuse.
    await pollUntil(
      async () => {
        const c = await connectTcp(h.listenPort, '127.0.0.1', 5000).catch(() => undefined);
        if (c === undefined) return true;
        c.on('error', () => undefined);
        c.destroy();
        return undefined;
      },
      { timeoutMs: 5000, intervalMs: 20, what: () => 'the origin hub listener refusing new clients' },
    );
    s.write(part2);
    expect((await readExactly(s, part2.length, 15_000)).equals(part2)).toBe(true);
    s.end();
    const end = await readUntilClose(s, 15_000);
    expect(end).toMatchObject({ error: undefined, bytes: 0, ended: true });
    expect((await stopping).code).toBe(0);
    const complete = await h.proc.waitForEventSince(mark, 'drain_complete');
    expect(complete.reset_flows).toBe(0);
    expect(await h.proc.waitForEventSince(mark, 'connection_closed', (e) => e.path === 'cross_replica')).toMatchObject({ end: 'fin', bytes_c2a: 2 * MiB, bytes_a2c: 2 * MiB });
  });
});

describe('drain handoff: SIGTERM on the owner hub moves its agent to another hub', () => {
  afterAll(killLive);

  it('the agent re-homes at once (new epoch, new flows local on the new owner) while its running flow finishes on the draining hub; exit 0', async () => {
    const secret = 'shared-secret-for-the-drain-handoff-hubs';
    const k = await meshHub('hub-p', { db: 9, secret, drainTimeoutSec: 60 });
    const l = await meshHub('hub-q', { db: 9, secret, drainTimeoutSec: 60 });
    await Promise.all([linkUp(k, 'hub-q'), linkUp(l, 'hub-p')]);
    const agent = await startAgentConnected(k, {
      agentId: 'agent-kl',
      urls: [k.tunnelUrl, l.tunnelUrl],
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` },
      env: { NC_LINKS: '1' }, // one tunnel: the single-owner handoff (agent links: test/agent-links*.e2e-spec.ts)
    });
    closers.push(() => agent.kill());
    const claimedOnK = await k.proc.waitForEvent('ownership_claimed', (e) => e.agent_id === 'agent-kl');

    // A running flow on the owner hub, mid-conversation when the drain starts.
    const s = await connectTcp(k.listenPort);
    const part1 = crypto.randomBytes(MiB);
    const part2 = crypto.randomBytes(MiB);
    s.write(part1);
    expect((await readExactly(s, part1.length, 15_000)).equals(part1)).toBe(true);

    const mark = { k: k.proc.mark(), l: l.proc.mark(), agent: agent.proc.mark() };
    const t0 = Date.now();
    const stopping = k.stop(90_000);
    await agent.proc.waitForEventSince(mark.agent, 'hub_goaway', (e) => e.reason === 'draining');
    await agent.proc.waitForEventSince(mark.agent, 'tunnel_handoff');
    const rehomed = await agent.proc.waitForEventSince(mark.agent, 'tunnel_established', (e) => e.replica_id === 'hub-q');
    const claimedOnL = await l.proc.waitForEventSince(mark.l, 'ownership_claimed', (e) => e.agent_id === 'agent-kl');
    expect(claimedOnL.epoch as number).toBeGreaterThan(claimedOnK.epoch as number);
    expect(rehomed.epoch).toBe(claimedOnL.epoch); // HELLO_ACK carries the new owner's epoch to the agent

    // New flows: served by the new owner at once, locally (no mesh hop, no refusal).
    const fresh = await pumpEcho(l.listenPort, 256 * 1024, { timeoutMs: 20_000 });
    expect(fresh.recvSha).toBe(fresh.sentSha);
    const handoffMs = Date.now() - t0;
    await waitForMetric(l.httpUrl, 'nowconnect_flows_total', { path: 'local' }, (v) => v >= 1);
    expect(metricValue(await l.metrics(), 'nowconnect_flows_total', { path: 'cross_replica' })).toBe(0);
    process.stdout.write(`drain handoff: SIGTERM -> new flow through the new owner in ${handoffMs} ms\n`);

    // The draining hub's next heartbeat sees the newer claim: a handoff, not a fault (no 4001 close).
    // Its epoch is the one hub K held last: the claim, or a re-claim had a stall outlived the lease (ownership_reasserted).
    const handed = await k.proc.waitForEventSince(mark.k, 'ownership_handed_off', (e) => e.agent_id === 'agent-kl', 20_000);
    const heldOnK = k.proc.events
      .slice(0, k.proc.events.indexOf(handed))
      .filter((e) => (e.event === 'ownership_claimed' || e.event === 'ownership_reasserted') && e.agent_id === 'agent-kl');
    expect(handed.epoch).toBe(heldOnK[heldOnK.length - 1]?.epoch);
    expect(handed.epoch as number).toBeLessThan(claimedOnL.epoch as number);
    // The running flow is still alive on the draining hub: it finishes with every byte.
    s.write(part2);
    expect((await readExactly(s, part2.length, 15_000)).equals(part2)).toBe(true);
    s.end();
    expect(await readUntilClose(s, 15_000)).toMatchObject({ error: undefined, bytes: 0, ended: true });

    expect((await stopping).code).toBe(0);
    const complete = await k.proc.waitForEventSince(mark.k, 'drain_complete');
    expect(complete.reset_flows).toBe(0);
    // The move was not treated as a fault: no ownership_lost close on the draining hub.
    expect(k.proc.eventsSince(mark.k, 'ownership_lost')).toEqual([]);
    await agent.proc.waitForEventSince(mark.agent, 'cloud_disconnected', (e) => e.url === k.tunnelUrl && e.code === 1000);
  });
});

describe('mesh partition (a TCP proxy between the hubs, cut and restored)', () => {
  afterAll(killLive);
  let i: MeshHub;
  let j: MeshHub;

  it('only cross-replica flows fail while cut, /readyz degraded; the link recovers when the proxy is back', async () => {
    // Each hub advertises its mesh through its own proxy, so every link between them crosses one.
    const proxies = { i: await startCuttableProxy(undefined), j: await startCuttableProxy(undefined) };
    closers.push(() => proxies.i.close(), () => proxies.j.close());
    const tuned = async (id: 'i' | 'j'): Promise<MeshHub> => {
      const hub = await meshHub(`hub-${id}`, {
        db: 5,
        advertise: () => `ws://127.0.0.1:${proxies[id].port}/mesh`,
        mesh: { connect_backoff_max_sec: 1 },
      });
      proxies[id].targetPort = hub.port; // a dial before this is refused and retried with backoff
      return hub;
    };
    i = await tuned('i');
    j = await tuned('j');
    await Promise.all([linkUp(i, 'hub-j'), linkUp(j, 'hub-i')]);
    const agent = await startAgentConnected(i, { agentId: 'agent-ij', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    const before = await pumpEcho(j.listenPort, MiB, { timeoutMs: 20_000 });
    expect(before.recvSha).toBe(before.sentSha);

    const mark = { i: i.proc.mark(), j: j.proc.mark() };
    await Promise.all([proxies.i.cut(), proxies.j.cut()]);
    await j.proc.waitForEventSince(mark.j, 'mesh_link_down', (e) => e.peer === 'hub-i');
    // Cross-replica: refused at once. Local on the owner: fine.
    expect((await connectAndReadUntilClose(j.listenPort, 5000)).bytes).toBe(0);
    expect(await j.proc.waitForEventSince(mark.j, 'cross_replica_refused')).toMatchObject({ reason: 'mesh_unavailable', owner_replica: 'hub-i' });
    const local = await pumpEcho(i.listenPort, MiB, { timeoutMs: 20_000 });
    expect(local.recvSha).toBe(local.sentSha);
    const degraded = await pollUntil(
      async () => {
        const r = await readyBody(j);
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: () => 'hub-j /readyz 503' },
    );
    expect(degraded.body).toMatchObject({ status: 'degraded', details: { mesh: { reason: 'no_link_up' } } });

    await Promise.all([proxies.i.restore(), proxies.j.restore()]);
    await Promise.all([
      i.proc.waitForEventSince(mark.i, 'mesh_link_up', (e) => e.peer === 'hub-j'),
      j.proc.waitForEventSince(mark.j, 'mesh_link_up', (e) => e.peer === 'hub-i'),
    ]);
    const after = await pumpEcho(j.listenPort, MiB, { timeoutMs: 20_000 });
    expect(after.recvSha).toBe(after.sentSha);
    await pollUntil(async () => ((await readyBody(j)).status === 200 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50, what: () => 'hub-j ready again' });
  });
});

describe('mesh: three hubs, owner crash', () => {
  afterAll(killLive);
  it('clients on the two other hubs cross to the owner; kill -9 of the owner resets them promptly; the agent moves and new flows work within 10 s', async () => {
    const secret = 'shared-secret-for-three-mesh-hubs-000000';
    const k = await meshHub('hub-k', { db: 6, secret });
    const l = await meshHub('hub-l', { db: 6, secret });
    const m = await meshHub('hub-m', { db: 6, secret });
    await Promise.all([linkUp(k, 'hub-l'), linkUp(k, 'hub-m'), linkUp(l, 'hub-m'), linkUp(m, 'hub-l')]);
    // The agent's fail-over list: k first, then l.
    const agent = await startAgentConnected(k, {
      agentId: 'agent-klm',
      urls: [k.tunnelUrl, l.tunnelUrl],
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` },
      env: { NC_LINKS: '1' }, // one tunnel: clients on the other hubs cross the mesh to its owner
    });
    closers.push(() => agent.kill());
    const rs = await Promise.all([k, l, m].map((hub) => pumpEcho(hub.listenPort, 2 * MiB, { timeoutMs: 30_000 })));
    for (const r of rs) expect(r.recvSha).toBe(r.sentSha);
    for (const hub of [l, m]) await waitForMetric(hub.httpUrl, 'nowconnect_flows_total', { path: 'cross_replica' }, (v) => v === 1);
    await waitForMetric(k.httpUrl, 'nowconnect_flows_total', { path: 'local' }, (v) => v === 1);

    // Flows in progress from l and m through k.
    const open = await Promise.all(
      [l, m].map(async (hub) => {
        const s = await connectTcp(hub.listenPort);
        const part = crypto.randomBytes(64 * 1024);
        s.write(part);
        expect((await readExactly(s, part.length, 10_000)).equals(part)).toBe(true);
        return s;
      }),
    );
    const ends = open.map((s) => readUntilClose(s, 10_000));
    const killedAt = Date.now();
    await k.kill();
    for (const end of await Promise.all(ends)) expect(end.elapsedMs).toBeLessThan(5000); // reset or closed, never a hang
    await l.proc.waitForEvent('agent_connected', (e) => e.agent_id === 'agent-klm', 15_000);
    // New flows: local on l, cross-replica from m to l (the registry names l with a new epoch).
    const local = await pumpEcho(l.listenPort, MiB, { timeoutMs: 10_000 });
    expect(local.recvSha).toBe(local.sentSha);
    const crossed = await pollUntil(
      async () => {
        const r = await pumpEcho(m.listenPort, MiB, { timeoutMs: 10_000 }).catch(() => undefined);
        return r !== undefined && r.recvSha === r.sentSha ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: () => 'a cross-replica flow from hub-m to the new owner' },
    );
    expect(crossed.recvBytes).toBe(MiB);
    const sinceKill = Date.now() - killedAt;
    process.stdout.write(`owner crash: new cross-replica flow through the new owner ${sinceKill} ms after kill -9\n`);
    expect(sinceKill).toBeLessThan(10_000);
    expect(await m.proc.waitForEvent('connection_open', (e) => e.owner_replica === 'hub-l')).toMatchObject({ path: 'cross_replica' });
  });
});

describe('mesh by HA mode', () => {
  afterAll(killLive);
  it('shadow: links come up and are observed, but no flow crosses (the client is refused as with HA off)', async () => {
    const s1 = await meshHub('hub-s1', { db: 7, mode: 'shadow' });
    const s2 = await meshHub('hub-s2', { db: 7, mode: 'shadow' });
    await Promise.all([linkUp(s1, 'hub-s2'), linkUp(s2, 'hub-s1')]);
    await waitForMetric(s2.httpUrl, 'nowconnect_mesh_links', { peer: 'hub-s1', state: 'up' }, (v) => v === 1);
    const agent = await startAgentConnected(s1, { agentId: 'agent-shadow', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    expect((await connectAndReadUntilClose(s2.listenPort, 5000)).bytes).toBe(0);
    await s2.proc.waitForEvent('no_agent_for_connector');
    await s2.proc.waitForEvent('shadow_cross_replica', (e) => e.owner_replica === 'hub-s1');
    const text = await s2.metrics();
    expect(metricValue(text, 'nowconnect_mesh_frames_total', { dir: 'out', type: 'M_OPEN' })).toBe(0);
    expect(metricValue(text, 'nowconnect_flows_total', { path: 'cross_replica' })).toBe(0);
  });

  it('off: no /mesh endpoint (404) and no mesh series', async () => {
    const hub = await startHub({ name: 'hub:off', config: { ha: { enabled: false } } });
    closers.push(() => hub.kill());
    expect(await tryMeshUpgrade(hub.meshUrl, {})).toBe('http 404');
    const text = await hub.metrics();
    expect(text).not.toMatch(/^nowconnect_mesh_/m);
  });
});

/** A hand-driven mesh peer (the test speaks the mesh wire format to a real hub). */
class RawPeer {
  readonly frames: MeshFrame[] = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      decodeMeshFrames(Buffer.from(data), DEFAULT_MAX_FRAME_BYTES, (f) => this.frames.push(structuredClone(f)));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Connects and proves `replica`'s id (registered in the hub's registry) in the identity handshake. */
  static async connect(url: string, replica: TestMeshReplica): Promise<RawPeer> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const peer = new RawPeer(ws);
    ws.send(replica.hello());
    ws.send(replica.proof(await peer.next((f) => f.type === MeshFrameType.M_HELLO)));
    return peer;
  }

  send(frame: Buffer): void {
    this.ws.send(frame);
  }

  /** The first frame (already received or still to come) matching `pred`; bounded by a deadline. */
  async next(pred: (f: MeshFrame) => boolean, timeoutMs = 10_000): Promise<MeshFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching mesh frame within ${timeoutMs} ms (got ${this.frames.map((f) => f.type).join(',')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  dataOf(cid: number): string {
    return this.frames
      .filter((f): f is Extract<MeshFrame, { type: MeshFrameType.M_DATA }> => f.type === MeshFrameType.M_DATA && f.cid === cid)
      .map((f) => Buffer.from(f.payload).toString())
      .join('');
  }
}

describe('mesh safety against a real hub: epoch fence and dedup', () => {
  afterAll(killLive);

  it('an M_OPEN with an epoch that is not the agent`s current one is refused STALE_EPOCH and counted; replays are dropped and counted', async () => {
    const hub = await meshHub('hub-n', { db: 8 });
    const agent = await startAgentConnected(hub, { agentId: 'agent-n', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    const epoch = agent.connected.epoch as number;
    expect(epoch).toBeGreaterThanOrEqual(1);
    const replica = await TestMeshReplica.register(`${redis.url.replace(/\/\d+$/, '')}/8`, 'test-peer');
    closers.push(() => replica.remove());
    const peer = await RawPeer.connect(hub.meshUrl, replica);
    closers.push(async () => peer.ws.terminate());
    await hub.proc.waitForEvent('mesh_link_up', (e) => e.peer === 'test-peer');

    // Epoch fence: dialer CIDs are odd.
    peer.send(encodeMeshOpen({ cid: 1, epoch: epoch + 7, seq: 1, connector: CONNECTOR, agentId: 'agent-n', window: 65536 }));
    const rst = await peer.next((f) => f.type === MeshFrameType.M_RST && f.cid === 1);
    expect((rst as Extract<MeshFrame, { type: MeshFrameType.M_RST }>).reason).toBe(MeshRstReason.STALE_EPOCH);
    await waitForMetric(hub.httpUrl, 'nowconnect_owner_epoch_mismatch_total', {}, (v) => v >= 1);

    // A good flow; then a replayed DATA seq is dropped (the echo shows it once), and a replayed M_OPEN too.
    peer.send(encodeMeshOpen({ cid: 3, epoch, seq: 1, connector: CONNECTOR, agentId: 'agent-n', window: 65536 }));
    await peer.next((f) => f.type === MeshFrameType.M_OPEN_ACK && f.cid === 3);
    peer.send(encodeMeshData(3, epoch, 2, Buffer.from('hello')));
    await pollUntil(async () => (peer.dataOf(3) === 'hello' ? true : undefined), { timeoutMs: 10_000, intervalMs: 10, what: () => 'echo of hello' });
    peer.send(encodeMeshData(3, epoch, 2, Buffer.from('hello')));
    peer.send(encodeMeshOpen({ cid: 3, epoch, seq: 1, connector: CONNECTOR, agentId: 'agent-n', window: 65536 }));
    peer.send(encodeMeshData(3, epoch, 3, Buffer.from('world')));
    await pollUntil(async () => (peer.dataOf(3).length >= 10 ? true : undefined), { timeoutMs: 10_000, intervalMs: 10, what: () => 'echo of world' });
    expect(peer.dataOf(3)).toBe('helloworld');
    await waitForMetric(hub.httpUrl, 'nowconnect_cid_dedup_dropped_total', {}, (v) => v >= 2);
    await hub.proc.waitForEvent('connection_open', (e) => e.listener === 'mesh:test-peer');
    expect(hub.proc.eventsNamed('connection_open').filter((e) => e.listener === 'mesh:test-peer')).toHaveLength(1);
  });
});

describe('mesh reroute: the same holder over its other link', () => {
  afterAll(killLive);

  it('an M_OPEN refused SHUTDOWN by a link the tie-break drains (two links came up at once) moves to the holder\'s other link; the client never sees it', async () => {
    const hub = await meshHub('hub-r', { db: 9 });
    const registry = await TestMeshReplica.openRegistry(`${redis.url.replace(/\/\d+$/, '')}/9`);
    closers.push(() => registry.close());
    // 'a-peer' sorts before 'hub-r': of two links 'a-peer' dialled, the hub keeps the newer and drains the older.
    const replica = await TestMeshReplica.register(registry, 'a-peer');
    closers.push(() => replica.remove());
    const epoch = await registry.claimHolder('agent-r', 'a-peer');
    await registry.setConnectors('agent-r', [CONNECTOR]);
    const first = await RawPeer.connect(hub.meshUrl, replica);
    closers.push(async () => first.ws.terminate());
    await hub.proc.waitForEvent('mesh_link_up', (e) => e.peer === 'a-peer');

    const client = await connectTcp(hub.listenPort);
    const open = (await first.next((f) => f.type === MeshFrameType.M_OPEN)) as Extract<MeshFrame, { type: MeshFrameType.M_OPEN }>;
    expect(open).toMatchObject({ agentId: 'agent-r', epoch });
    // A second link comes up before the peer answers: the hub drains the first (GOAWAY), and the peer,
    // draining too, refuses the M_OPEN that crossed it.
    const mark = hub.proc.mark();
    const second = await RawPeer.connect(hub.meshUrl, replica);
    closers.push(async () => second.ws.terminate());
    await hub.proc.waitForEventSince(mark, 'mesh_link_duplicate', (e) => e.peer === 'a-peer');
    await first.next((f) => f.type === MeshFrameType.M_GOAWAY);
    first.send(encodeMeshRst(open.cid, open.epoch, 1, MeshRstReason.SHUTDOWN));

    const again = (await second.next((f) => f.type === MeshFrameType.M_OPEN)) as Extract<MeshFrame, { type: MeshFrameType.M_OPEN }>;
    expect(again).toMatchObject({ agentId: 'agent-r', epoch });
    second.send(encodeMeshOpenAck(again.cid, again.epoch, 1, 65536));
    client.write('ping');
    await pollUntil(async () => (second.dataOf(again.cid) === 'ping' ? true : undefined), { timeoutMs: 10_000, intervalMs: 10, what: () => 'ping over the second link' });
    second.send(encodeMeshData(again.cid, again.epoch, 2, Buffer.from('pong')));
    expect((await readExactly(client, 4, 10_000)).toString()).toBe('pong');
    expect(await hub.proc.waitForEvent('flow_rerouted')).toMatchObject({ agent_id: 'agent-r', from_replica: 'a-peer', to_replica: 'a-peer' });
    // The hub names the link's failure as it saw it: the refusal, or the drained link closing under it.
    expect(['shutdown', 'link_lost']).toContain(hub.proc.eventsNamed('flow_rerouted')[0]?.reason);
    expect(hub.proc.eventsNamed('connection_open').filter((e) => e.agent_id === 'agent-r')).toHaveLength(1);
    client.destroy();
  });
});
