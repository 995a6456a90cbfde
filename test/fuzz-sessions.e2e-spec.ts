/**
 * Session fuzzing against a real hub process (issue 6 item 3): hundreds of real `/tunnel` and
 * `/mesh` WebSocket sessions fed fast-check–generated and mutated frames — garbage before HELLO,
 * structurally mutated HELLOs (wrong agent id, connectors outside the token's scope, bad shapes),
 * and after a good HELLO random frame sequences (unknown types, lying lengths, reserved flags,
 * flows that do not exist, hostile window updates) with one byte flipped. Meanwhile a legitimate
 * agent carries a flow that keeps echoing exact bytes (sha256). At the end: the hub is alive,
 * /healthz is 200, the legitimate flow and a fresh one are byte-exact, the agent never dropped,
 * the protocol-error / hello-refused / mesh-link-error counters moved at least once per link the
 * hub closed, hub RSS stayed under the bound, and no log line holds a fuzzed payload byte.
 */
import * as crypto from 'node:crypto';
import type * as net from 'node:net';
import fc from 'fast-check';
import { decodeHello, FrameError, FrameType, encodeControl, MeshFrameType, type Frame, type MeshFrame } from '@nowconnect/frames';
import type { DistributedRegistry } from '@nowconnect/registry';
import { TestMeshReplica } from './support/mesh-identity';
import {
  cleanupAll,
  connectTcp,
  freePorts,
  listener,
  metricValue,
  pumpEcho,
  startAgentConnected,
  startEchoServer,
  startHub,
  startRedis,
  type AgentHandle,
  type HubHandle,
  type RedisHandle,
  type TargetServer,
  waitForMetric,
} from './support';
import { procMemKiB, readExactly } from './support/flows';
import {
  FUZZ_MARKER,
  FuzzSocket,
  group,
  meshFrameArb,
  meshStormFrameArb,
  rawFrame,
  tunnelFrameArb,
  tunnelStormFrameArb,
  withFlip,
  type Outcome,
} from './support/fuzz-frames';
import { scanLogs } from './support/fuzz-logscan';

const TUNNEL_SESSIONS = Number(process.env.NC_FUZZ_TUNNEL_SESSIONS ?? 600);
const MESH_SESSIONS = Number(process.env.NC_FUZZ_MESH_SESSIONS ?? 400);
/** Hub RSS may grow at most this much over its warmed-up baseline while fuzzed (docs/security.md). */
const RSS_GROWTH_BOUND_MIB = 96;
const ANSWER_MS = 15_000;
const MiB = 1024 * 1024;

let redis: RedisHandle;
let echo: TargetServer;
let hub: HubHandle;
let agent: AgentHandle;
let epoch: number;
let ports: { echo: number; fz: number };

const stats = {
  tunnelSessions: 0,
  tunnelFrames: 0,
  tunnelMessages: 0,
  tunnelClosed1002: 0,
  tunnelClosed1008: 0,
  tunnelOtherClose: 0,
  tunnelAcked: 0,
  tunnelClientsRouted: 0,
  tunnelHalfClosedClients: 0,
  meshSessions: 0,
  meshFrames: 0,
  meshMessages: 0,
  meshClosedByHub: 0,
  meshSurvived: 0,
};

beforeAll(async () => {
  redis = await startRedis();
  echo = await startEchoServer();
  const p = await freePorts(2);
  ports = { echo: p[0]!, fz: p[1]! };
  hub = await startHub({
    name: 'hub:fuzz',
    config: {
      listeners: [listener('l_echo', 'echo', ports.echo), listener('l_fz', 'fz', ports.fz)],
      limits: { hello_timeout_sec: 2 },
      ha: {
        enabled: true,
        mode: 'active',
        replica_id: 'hub-fuzz',
        redis_url: redis.url,
        mesh: { require_mtls: false },
      },
    },
  });
  const connected = await startAgentConnected(hub, { agentId: 'legit', connectors: { echo: `127.0.0.1:${echo.port}` } });
  agent = connected;
  epoch = connected.connected.epoch as number;
  expect(epoch).toBeGreaterThanOrEqual(1);
}, 90_000);

afterAll(async () => {
  await meshRegistry?.close();
  await echo?.close();
  await redis?.stop();
  await cleanupAll();
});

/** A flow through the real agent that echoes chunk after chunk until stopped; hashes both ways. */
function continuousEcho(sock: net.Socket): { stop(): Promise<{ sent: number; sentSha: string; recvSha: string }> } {
  const sentHash = crypto.createHash('sha256');
  const recvHash = crypto.createHash('sha256');
  let sent = 0;
  let stopping = false;
  const MAX_CHUNKS = 200_000; // bounded in count; stopped by the test long before
  const loop = (async () => {
    for (let i = 0; i < MAX_CHUNKS && !stopping; i++) {
      const chunk = crypto.randomBytes(16 * 1024);
      sentHash.update(chunk);
      sent += chunk.length;
      sock.write(chunk);
      recvHash.update(await readExactly(sock, chunk.length, 30_000));
      await new Promise((r) => setTimeout(r, 5)); // pacing (~3 MB/s), leaves CPU to the fuzzers
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return { sent, sentSha: sentHash.digest('hex'), recvSha: recvHash.digest('hex') };
    },
  };
}

function record(o: Outcome<unknown>, kind: 'tunnel' | 'mesh'): void {
  if (o.kind !== 'closed') return;
  if (kind === 'mesh') {
    if (o.code === 1002 || o.code === 1008 || o.code === 1006) stats.meshClosedByHub++;
    return;
  }
  if (o.code === 1002) stats.tunnelClosed1002++;
  else if (o.code === 1008) stats.tunnelClosed1008++;
  else stats.tunnelOtherClose++;
}

let seq = 0;
const hello = (agentId: string, connectors: string[] = ['fz']): Buffer => encodeControl(FrameType.HELLO, { agent_id: agentId, connectors, version: 'fuzz' });

// ---- /tunnel cases ------------------------------------------------------------

type TunnelCase =
  | { kind: 'pre'; frames: Buffer[]; cuts: boolean[] }
  | { kind: 'hello'; who: 'self' | 'legit' | 'other'; connectors: unknown; extra: Record<string, unknown> }
  | { kind: 'post'; withClient: boolean; frames: Buffer[]; cuts: boolean[] };

const garbage = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
  tunnelFrameArb([1]),
  fc.constant(Buffer.from(`GET / HTTP/1.1\r\n\r\n${FUZZ_MARKER}`)),
);
const connectorsArb = fc.oneof(
  fc.constant(['fz']),
  fc.constant(['echo']),
  fc.constant(['fz', 'echo']),
  fc.constant([]),
  fc.constant('fz'),
  fc.array(fc.oneof(fc.constant('fz'), fc.string({ maxLength: 12 })), { maxLength: 4 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const cutsArb = fc.array(fc.boolean(), { maxLength: 64 });
const tunnelCase: fc.Arbitrary<TunnelCase> = fc.oneof(
  fc.record({ kind: fc.constant('pre' as const), frames: withFlip(fc.array(garbage, { minLength: 1, maxLength: 6 })), cuts: cutsArb }),
  fc.record({
    kind: fc.constant('hello' as const),
    who: fc.constantFrom('self' as const, 'self' as const, 'legit' as const, 'other' as const),
    connectors: connectorsArb,
    extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  }),
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('post' as const),
      withClient: fc.boolean(),
      frames: withFlip(fc.array(tunnelFrameArb([1]), { minLength: 1, maxLength: 60 })),
      cuts: cutsArb,
    }),
  },
  {
    // A storm: hundreds of well-formed hostile frames, then maybe one fatal frame at the end.
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('post' as const),
      withClient: fc.boolean(),
      frames: fc
        .tuple(fc.array(tunnelStormFrameArb([1]), { minLength: 100, maxLength: 400 }), fc.option(tunnelFrameArb([1])))
        .map(([storm, last]) => (last === null ? storm : [...storm, last])),
      cuts: cutsArb,
    }),
  },
);

async function tunnelSession(c: TunnelCase): Promise<void> {
  const agentId = `fz-${++seq}`;
  const token = await hub.token(agentId, { scope: 'connector:fz' });
  const s = await FuzzSocket.open<Frame>(hub.tunnelUrl, { token, mesh: false });
  stats.tunnelSessions++;
  const acked = (f: Frame): boolean => f.type === FrameType.HELLO_ACK;
  let client: net.Socket | undefined;
  try {
    if (c.kind === 'pre') {
      const messages = group(c.frames, c.cuts);
      stats.tunnelFrames += c.frames.length + 1;
      stats.tunnelMessages += (await s.send(messages)) + (await s.send([hello(agentId)]));
      const r = await s.until(acked, ANSWER_MS);
      expect(r.kind).not.toBe('timeout'); // answered: HELLO_ACK, or the link closed (hello_timeout at worst)
      record(r, 'tunnel');
      if (r.kind === 'frame') stats.tunnelAcked++;
      return;
    }
    if (c.kind === 'hello') {
      const id = c.who === 'self' ? agentId : c.who === 'legit' ? 'legit' : `x${agentId}`;
      const payload = Buffer.from(JSON.stringify({ ...c.extra, agent_id: id, connectors: c.connectors, version: 'fuzz' }));
      stats.tunnelFrames++;
      stats.tunnelMessages += await s.send([rawFrame({ type: FrameType.HELLO, id: 0, payload })]);
      const r = await s.until(acked, ANSWER_MS);
      const body = decodeHello(payload);
      const allowed = !(body instanceof FrameError) && body.agent_id === agentId && body.connectors.every((x) => x === 'fz');
      // The hub accepts exactly the HELLOs the codec and the token allow; it closes the others.
      expect(r.kind).toBe(allowed ? 'frame' : 'closed');
      if (r.kind === 'closed') expect([1002, 1008]).toContain(r.code);
      record(r, 'tunnel');
      if (r.kind === 'frame') stats.tunnelAcked++;
      return;
    }
    stats.tunnelMessages += await s.send([hello(agentId)]);
    const ack = await s.until(acked, ANSWER_MS);
    expect(ack.kind).toBe('frame');
    stats.tunnelAcked++;
    if (c.withClient) {
      client = await connectTcp(ports.fz);
      client.on('error', () => undefined);
      const open = await s.until((f) => f.type === FrameType.OPEN, ANSWER_MS);
      expect(open.kind).toBe('frame');
      stats.tunnelClientsRouted++;
      client.write(FUZZ_MARKER);
    }
    const messages = group(c.frames, c.cuts);
    stats.tunnelFrames += c.frames.length + 1;
    stats.tunnelMessages += await s.send(messages);
    // Barrier: a PING after the fuzz; its PONG proves every frame before it was handled.
    const opaque = crypto.randomBytes(8);
    await s.send([rawFrame({ type: FrameType.PING, id: 0, payload: opaque })]);
    const r = await s.until((f) => f.type === FrameType.PONG && Buffer.from(f.payload).equals(opaque), ANSWER_MS);
    expect(r.kind).not.toBe('timeout');
    record(r, 'tunnel');
  } finally {
    await s.close();
    if (client !== undefined) await expectClientEnded(client);
  }
}

/**
 * The flow of a closed tunnel must not hang its client: the client is closed, or — when the
 * fuzzed "agent" had sent FIN, so the hub already half-closed the client — its next write fails
 * at once (the hub's end is gone; a client whose read side has ended only learns at a write:
 * Node cannot RST a socket whose FIN is out, and a half-closed client does not poll for the RST).
 */
async function expectClientEnded(cl: net.Socket): Promise<void> {
  /** Resolves once the client closed or (with `orEnd`) received the hub's FIN; false after ms. */
  const settled = (ms: number, orEnd: boolean): Promise<boolean> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        cl.off('close', done);
        cl.off('end', done);
        resolve(cl.closed || (orEnd && cl.readableEnded));
      };
      const t = setTimeout(done, ms);
      cl.once('close', done);
      if (orEnd) cl.once('end', done);
      if (cl.closed || (orEnd && cl.readableEnded)) done();
      cl.resume();
    });
  expect(await settled(15_000, true)).toBe(true);
  if (cl.closed) return;
  stats.tunnelHalfClosedClients++;
  // Probe with writes (bounded): the first may only fetch the peer's RST, the next one fails.
  for (let i = 0; i < 50 && !cl.closed; i++) {
    cl.write('x');
    if (await settled(200, false)) return;
  }
  expect(cl.closed).toBe(true);
}

// ---- /mesh cases --------------------------------------------------------------

type MeshCase = { kind: 'pre'; frames: Buffer[]; cuts: boolean[] } | { kind: 'post'; frames: Buffer[]; cuts: boolean[] };

function meshCaseArb(): fc.Arbitrary<MeshCase> {
  const frames = meshFrameArb({ agentId: 'legit', connector: 'echo', epoch });
  return fc.oneof(
    fc.record({
      kind: fc.constant('pre' as const),
      frames: withFlip(fc.array(fc.oneof(frames, fc.uint8Array({ minLength: 1, maxLength: 100 }).map((b) => Buffer.from(b))), { minLength: 1, maxLength: 5 })),
      cuts: cutsArb,
    }),
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('post' as const), frames: withFlip(fc.array(frames, { minLength: 1, maxLength: 60 })), cuts: cutsArb }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('post' as const),
        frames: fc
          .tuple(fc.array(meshStormFrameArb({ agentId: 'legit', connector: 'echo', epoch }), { minLength: 100, maxLength: 400 }), fc.option(frames))
          .map(([storm, last]) => (last === null ? storm : [...storm, last])),
        cuts: cutsArb,
      }),
    },
  );
}

/** The fuzz peers' replica records (each session proves its own id, docs/mesh.md "Identity"). */
let meshRegistry: DistributedRegistry | undefined;

async function meshSession(c: MeshCase): Promise<void> {
  const peerId = `fzpeer-${++seq}`;
  meshRegistry ??= await TestMeshReplica.openRegistry(redis.url);
  const replica = await TestMeshReplica.register(meshRegistry, peerId);
  const s = await FuzzSocket.open<MeshFrame>(hub.meshUrl, { mesh: true });
  stats.meshSessions++;
  const helloBack = (f: MeshFrame): boolean => f.type === MeshFrameType.M_HELLO;
  try {
    if (c.kind === 'pre') {
      stats.meshFrames += c.frames.length + 1;
      stats.meshMessages += (await s.send(group(c.frames, c.cuts))) + (await s.send([replica.hello()]));
      const r = await s.until(helloBack, ANSWER_MS);
      expect(r.kind).not.toBe('timeout');
      record(r, 'mesh');
      if (r.kind === 'frame') stats.meshSurvived++;
      return;
    }
    stats.meshMessages += await s.send([replica.hello()]);
    const answer = await s.until(helloBack, ANSWER_MS);
    if (answer.kind !== 'frame') throw new Error(`no M_HELLO back: ${answer.kind}`);
    stats.meshMessages += await s.send([replica.proof(answer.frame)]);
    stats.meshFrames += c.frames.length + 2;
    stats.meshMessages += await s.send(group(c.frames, c.cuts));
    const opaque = crypto.randomBytes(8);
    await s.send([rawFrame({ type: MeshFrameType.M_PING, id: 0, payload: opaque })]);
    const r = await s.until((f) => f.type === MeshFrameType.M_PONG && Buffer.from(f.opaque).equals(opaque), ANSWER_MS);
    expect(r.kind).not.toBe('timeout');
    record(r, 'mesh');
    if (r.kind === 'frame') stats.meshSurvived++;
  } finally {
    await s.close();
    await replica.remove();
  }
}

/** Sessions slower than 3 s are reported (a slow answer is a finding, not a failure). */
const slow: string[] = [];
function timed<C extends { kind: string }>(what: string, f: (c: C) => Promise<void>): (c: C) => Promise<void> {
  return async (c) => {
    const t0 = Date.now();
    await f(c);
    const ms = Date.now() - t0;
    if (ms > 3000) slow.push(`${what}/${c.kind}/${'frames' in c ? (c.frames as unknown[]).length : 0}f/${ms}ms`);
  };
}

// ---- the run ------------------------------------------------------------------------

describe('fuzz: real /tunnel and /mesh sessions against a live hub', () => {
  it(`${TUNNEL_SESSIONS} tunnel + ${MESH_SESSIONS} mesh fuzzed sessions: hub up, other flows exact, every bad link closed and counted, RSS bounded, no payload in logs`, async () => {
    const metric = async (name: string): Promise<number> => metricValue(await hub.metrics(), name);
    const before = {
      protocolErrors: await metric('nowconnect_protocol_errors_total'),
      helloRefused: await metric('nowconnect_hello_refused_total'),
      meshLinkErrors: await metric('nowconnect_mesh_link_errors_total'),
    };
    const legitFlow = await connectTcp(ports.echo);
    const pump = continuousEcho(legitFlow);
    // Warm-up (JIT, first flows) before the RSS baseline.
    const warm = await pumpEcho(ports.echo, 4 * MiB);
    expect(warm.recvSha).toBe(warm.sentSha);
    const rssBefore = procMemKiB(hub.proc.pid!);
    const started = Date.now();

    const seed = Number(process.env.NC_FUZZ_SEED ?? Date.now() % 2 ** 31);
    let legit: Awaited<ReturnType<typeof pump.stop>>;
    try {
      await Promise.all([
        fc.assert(fc.asyncProperty(tunnelCase, timed('tunnel', tunnelSession)), { numRuns: TUNNEL_SESSIONS, seed, endOnFailure: true }),
        fc.assert(fc.asyncProperty(meshCaseArb(), timed('mesh', meshSession)), { numRuns: MESH_SESSIONS, seed: seed + 1, endOnFailure: true }),
      ]);
    } finally {
      legit = await pump.stop();
      legitFlow.destroy();
    }
    const fuzzMs = Date.now() - started;
    expect(legit.recvSha).toBe(legit.sentSha);
    const fresh = await pumpEcho(ports.echo, 2 * MiB);
    expect(fresh.recvSha).toBe(fresh.sentSha);

    expect(hub.proc.running).toBe(true);
    expect(agent.proc.running).toBe(true);
    expect((await hub.get('/healthz')).status).toBe(200);
    const legitDropped = hub.proc.events.filter(
      (e) => (e.event === 'agent_disconnected' || e.event === 'agent_replaced') && e.agent_id === 'legit',
    );
    expect(legitDropped).toHaveLength(0);
    // Every fuzzed flow is gone from the hub (no leaked client socket).
    await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: 'fz' }, (v) => v === 0, { timeoutMs: 20_000 });

    const after = {
      protocolErrors: await metric('nowconnect_protocol_errors_total'),
      helloRefused: await metric('nowconnect_hello_refused_total'),
      meshLinkErrors: await metric('nowconnect_mesh_link_errors_total'),
    };
    const rssAfter = procMemKiB(hub.proc.pid!);
    const line = {
      seed,
      fuzz_ms: fuzzMs,
      ...stats,
      protocol_errors_delta: after.protocolErrors - before.protocolErrors,
      hello_refused_delta: after.helloRefused - before.helloRefused,
      mesh_link_errors_delta: after.meshLinkErrors - before.meshLinkErrors,
      mesh_links_logged_down: hub.proc.eventsNamed('mesh_link_failed').length + hub.proc.eventsNamed('mesh_link_down').length,
      legit_bytes_echoed: legit.sent,
      hub_rss_before_mib: +(rssBefore.rssKiB / 1024).toFixed(1),
      hub_rss_after_mib: +(rssAfter.rssKiB / 1024).toFixed(1),
      hub_rss_peak_mib: +(rssAfter.hwmKiB / 1024).toFixed(1),
    };
    process.stdout.write(`FUZZ_SESSIONS ${JSON.stringify(line)}\n`);
    if (slow.length > 0) process.stdout.write(`FUZZ_SLOW_SESSIONS ${slow.length}: ${slow.slice(0, 20).join(' ')}\n`);

    expect(stats.tunnelSessions).toBe(TUNNEL_SESSIONS);
    expect(stats.meshSessions).toBe(MESH_SESSIONS);
    expect(line.protocol_errors_delta).toBeGreaterThanOrEqual(Math.max(1, stats.tunnelClosed1002));
    expect(line.hello_refused_delta).toBeGreaterThanOrEqual(Math.max(1, stats.tunnelClosed1008));
    expect(line.mesh_link_errors_delta).toBeGreaterThanOrEqual(Math.max(1, stats.meshClosedByHub));
    // ... and logged (SPEC §9: a bad link is closed with a counter and a log line): mesh_link_down once
    // the link was up, mesh_link_failed when it failed before its M_HELLO.
    expect(line.mesh_links_logged_down).toBeGreaterThanOrEqual(Math.max(1, stats.meshClosedByHub));
    expect(rssAfter.rssKiB - rssBefore.rssKiB).toBeLessThan(RSS_GROWTH_BOUND_MIB * 1024);

    const scan = scanLogs([hub.proc, agent.proc], { secrets: [hub.secret], markers: [FUZZ_MARKER] });
    expect(scan.findings).toEqual([]);
    expect(scan.lines).toBeGreaterThan(100);
  }, 200_000);
});
