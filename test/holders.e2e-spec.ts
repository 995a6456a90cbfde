/**
 * Holders (issue 15), hub and registry side, with real processes: a redis-server on a free port, three
 * hubs in active HA mode with the mesh, two agent processes with ONE agent id each holding a tunnel to
 * a different hub (what an agent with `links: 2` looks like to the hubs), a real TCP echo target.
 * Proves: both hubs hold the agent at once (neither fences the other); flows arriving at a holding hub
 * stay local (no M_OPEN); a client on the third hub crosses the mesh and is spread over both holders;
 * SIGKILL of one holder leaves flows at the surviving holder (and at the third hub) refused = 0; and
 * prints the registry round trips per HELLO and per flow.
 */
import { DistributedRegistry } from '@nowconnect/registry';
import {
  cleanupAll,
  freePort,
  listener,
  metricValue,
  pumpEcho,
  startAgentConnected,
  startEchoServer,
  startHub,
  startRedis,
  waitForMetric,
  type AgentHandle,
  type HubHandle,
  type RedisHandle,
  type TargetServer,
} from './support';

const CONNECTOR = 'echo';
const AGENT = 'twin-links';
const SECRET = 'shared-secret-for-the-holder-hubs-0000000';
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

type Hub = HubHandle & { listenPort: number; replicaId: string };

let echo: TargetServer;
let redis: RedisHandle;
let reg: DistributedRegistry;
let a: Hub;
let b: Hub;
let c: Hub;
let onA: AgentHandle & { connected: Record<string, unknown> };
let onB: AgentHandle & { connected: Record<string, unknown> };

async function hub(replicaId: string): Promise<Hub> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const listenPort = await freePort();
    try {
      const h = await startHub({
        name: `hub:${replicaId}`,
        secret: SECRET,
        config: {
          server: { bind: `127.0.0.1:${port}` },
          listeners: [listener('l1', CONNECTOR, listenPort)],
          ha: {
            enabled: true,
            mode: 'active',
            replica_id: replicaId,
            redis_url: redis.url,
            lease_sec: 3,
            mesh: { require_mtls: false, advertise_url: `ws://127.0.0.1:${port}/mesh` },
          },
        },
      });
      closers.push(() => h.kill());
      return Object.assign(h, { listenPort, replicaId });
    } catch (e) {
      if (!(attempt < 3 && /EADDRINUSE/.test(e instanceof Error ? e.message : String(e)))) throw e;
    }
  }
}

const linkUp = (h: Hub, peer: string): Promise<unknown> => h.proc.waitForEvent('mesh_link_up', (e) => e.peer === peer);
const mOpens = async (h: Hub, dir: 'in' | 'out'): Promise<number> =>
  metricValue(await h.metrics(), 'nowconnect_mesh_frames_total', { dir, type: 'M_OPEN' });
const ops = async (h: Hub, op: string): Promise<number> => metricValue(await h.metrics(), 'nowconnect_registry_op_seconds_count', { op });

/** Redis `INFO commandstats` calls per command (lower-case name -> calls). */
async function commandStats(): Promise<Map<string, number>> {
  const text = await reg.store.client.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}
const delta = (before: Map<string, number>, after: Map<string, number>, cmd: string): number => (after.get(cmd) ?? 0) - (before.get(cmd) ?? 0);

/** One echo flow of `bytes` through `port`: true when every byte came back exactly. */
async function flowOk(port: number, bytes: number): Promise<boolean> {
  try {
    const r = await pumpEcho(port, bytes, { timeoutMs: 20_000 });
    return r.recvBytes === bytes && r.recvSha === r.sentSha;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  echo = await startEchoServer();
  closers.push(() => echo.close());
  redis = await startRedis();
  closers.push(() => redis.stop());
  reg = new DistributedRegistry({ url: redis.url });
  closers.push(() => reg.close());
  await reg.waitReady(10_000);
  a = await hub('hub-a');
  b = await hub('hub-b');
  c = await hub('hub-c');
  await Promise.all([linkUp(a, 'hub-b'), linkUp(a, 'hub-c'), linkUp(b, 'hub-c'), linkUp(c, 'hub-a'), linkUp(c, 'hub-b')]);
});

describe('holders: one agent id holding links to two of three active hubs', () => {
  it('both hubs hold the agent at once, each with its own epoch; neither fences the other', async () => {
    const connectors = { [CONNECTOR]: `127.0.0.1:${echo.port}` };
    const beforeHello = await commandStats();
    const helloOps = { claim: await ops(a, 'claim_holder'), set: await ops(a, 'set_connectors') };
    onA = await startAgentConnected(a, { agentId: AGENT, connectors });
    closers.push(() => onA.kill());
    await a.proc.waitForEvent('holder_claimed', (e) => e.agent_id === AGENT && e.why === 'hello');
    const afterHello = await commandStats();
    const helloDelta = { claim: (await ops(a, 'claim_holder')) - helloOps.claim, set: (await ops(a, 'set_connectors')) - helloOps.set };
    onB = await startAgentConnected(b, { agentId: AGENT, connectors });
    closers.push(() => onB.kill());
    const ea = onA.connected.epoch as number;
    const eb = onB.connected.epoch as number;
    expect(eb).toBeGreaterThan(ea);
    const claimedB = await b.proc.waitForEvent('holder_claimed', (e) => e.agent_id === AGENT);
    expect(claimedB).toMatchObject({ replica: 'hub-b', epoch: eb });

    expect(await reg.getHolders(AGENT)).toEqual([
      { replicaId: 'hub-a', epoch: ea },
      { replicaId: 'hub-b', epoch: eb },
    ]);
    // Heartbeats on both hubs after both claims: each refreshes only its own entry, nobody is fenced.
    // hub-a sorts first among the holders, so it is the one that counts the agent under links="2".
    await waitForMetric(a.httpUrl, 'nowconnect_agents_by_links', { links: '2' }, (v) => v === 1, { timeoutMs: 15_000 });
    const hbB = await ops(b, 'heartbeat');
    await waitForMetric(b.httpUrl, 'nowconnect_registry_op_seconds_count', { op: 'heartbeat' }, (v) => v >= hbB + 2, { timeoutMs: 15_000 });
    expect(metricValue(await b.metrics(), 'nowconnect_agents_by_links', { links: '2' })).toBe(0);
    for (const h of [a, b]) {
      expect(h.proc.eventsNamed('ownership_lost')).toEqual([]);
      expect(h.proc.eventsNamed('agent_disconnected')).toEqual([]);
      expect(metricValue(await h.metrics(), 'nowconnect_holder_claims_total')).toBeGreaterThanOrEqual(1);
    }
    expect(await reg.listHolders(CONNECTOR)).toEqual([
      { agentId: AGENT, holders: [{ replicaId: 'hub-a', epoch: expect.any(Number) }, { replicaId: 'hub-b', epoch: expect.any(Number) }] },
    ]);
    process.stdout.write(
      `holders: registry per HELLO: ops claim_holder=${helloDelta.claim} set_connectors=${helloDelta.set} (sent together: 1 round trip of latency); ` +
        `redis commands in that window: SADD=${delta(beforeHello, afterHello, 'sadd')} (connector index with 1 connector: 2 sent + 1 inside the set_agent_connectors script) ` +
        `EVALSHA=${delta(beforeHello, afterHello, 'evalsha')} (claim_holder + set_agent_connectors + the 3 hubs' concurrent heartbeats)\n`,
    );
    expect(helloDelta).toEqual({ claim: 1, set: 1 });
  });

  it('flows arriving at either holding hub stay local: exact bytes, no M_OPEN, no registry call', async () => {
    const before = { a: await mOpens(a, 'out'), b: await mOpens(b, 'out'), c: await mOpens(c, 'out') };
    const lists = { a: await ops(a, 'list_holders'), b: await ops(b, 'list_holders') };
    const statsBefore = await commandStats();
    const n = 4;
    for (const h of [a, b]) {
      for (let i = 0; i < n; i++) {
        const r = await pumpEcho(h.listenPort, 512 * 1024, { timeoutMs: 20_000 });
        expect(r.recvBytes).toBe(512 * 1024);
        expect(r.recvSha).toBe(r.sentSha);
      }
      await waitForMetric(h.httpUrl, 'nowconnect_flows_total', { path: 'local' }, (v) => v >= n);
      expect(metricValue(await h.metrics(), 'nowconnect_flows_total', { path: 'cross_replica' })).toBe(0);
    }
    const statsAfter = await commandStats();
    expect({ a: await mOpens(a, 'out'), b: await mOpens(b, 'out'), c: await mOpens(c, 'out') }).toEqual(before);
    expect({ a: await ops(a, 'list_holders'), b: await ops(b, 'list_holders') }).toEqual(lists);
    expect(delta(statsBefore, statsAfter, 'smembers')).toBe(0);
    process.stdout.write(
      `holders: ${2 * n} local flows (${n} on each holder, 512 KiB each way): M_OPEN out unchanged on every hub, ` +
        `registry ops per local flow = 0 (list_holders unchanged; SMEMBERS delta ${delta(statsBefore, statsAfter, 'smembers')})\n`,
    );
  });

  it('a client on the third hub crosses the mesh and is spread over both holders', async () => {
    const inBefore = { a: await mOpens(a, 'in'), b: await mOpens(b, 'in') };
    const listsBefore = await ops(c, 'list_holders');
    const statsBefore = await commandStats();
    const n = 8;
    const results = await Promise.all(Array.from({ length: n }, () => pumpEcho(c.listenPort, 256 * 1024, { timeoutMs: 30_000 })));
    for (const r of results) expect(r.recvSha).toBe(r.sentSha);
    const statsAfter = await commandStats();
    await waitForMetric(c.httpUrl, 'nowconnect_flows_total', { path: 'cross_replica' }, (v) => v >= n);
    const split = { a: (await mOpens(a, 'in')) - inBefore.a, b: (await mOpens(b, 'in')) - inBefore.b };
    expect(split.a + split.b).toBe(n);
    expect(split.a).toBeGreaterThanOrEqual(1);
    expect(split.b).toBeGreaterThanOrEqual(1);
    const lists = (await ops(c, 'list_holders')) - listsBefore;
    expect(lists).toBe(n);
    process.stdout.write(
      `holders: ${n} concurrent flows on hub-c (no link there) -> over the mesh to hub-a ${split.a}, hub-b ${split.b}; ` +
        `registry per cross-replica flow: list_holders ops ${(lists / n).toFixed(2)} (2 round trips: SMEMBERS, then one script per agent), ` +
        `SMEMBERS ${(delta(statsBefore, statsAfter, 'smembers') / n).toFixed(2)} per flow\n`,
    );
  });

  it('SIGKILL of one holding hub: flows at the surviving holder and at the third hub keep working, 0 refused', async () => {
    const markB = b.proc.mark();
    const markC = c.proc.mark();
    const refusedBefore = metricValue(await c.metrics(), 'nowconnect_cross_replica_refused_total');
    const localB = metricValue(await b.metrics(), 'nowconnect_flows_total', { path: 'local' });
    // Load at the surviving holder while hub-a dies.
    let stop = false;
    let killed = false;
    const atB = { ok: 0, failed: 0, okAfterKill: 0 };
    const loadB = (async () => {
      for (let i = 0; i < 20_000 && !stop; i++) {
        const after = killed;
        if (await flowOk(b.listenPort, 64 * 1024)) {
          atB.ok++;
          if (after) atB.okAfterKill++;
        } else atB.failed++;
      }
    })();
    await waitForMetric(b.httpUrl, 'nowconnect_flows_total', { path: 'local' }, (v) => v >= localB + 3);
    await a.kill();
    killed = true;
    await c.proc.waitForEventSince(markC, 'mesh_link_down', (e) => e.peer === 'hub-a');
    await b.proc.waitForEventSince(markB, 'mesh_link_down', (e) => e.peer === 'hub-a');
    // After hub-a's links dropped: the third hub routes only to the surviving holder.
    const atC = { ok: 0, failed: 0 };
    const inB = await mOpens(b, 'in');
    for (let i = 0; i < 10; i++) {
      if (await flowOk(c.listenPort, 64 * 1024)) atC.ok++;
      else atC.failed++;
    }
    // And hub-a's holder entry runs out with its lease: the registry holds hub-b only.
    const t0 = Date.now();
    await waitForMetric(b.httpUrl, 'nowconnect_agents_by_links', { links: '1' }, (v) => v === 1, { timeoutMs: 15_000 });
    const expiredMs = Date.now() - t0;
    stop = true;
    await loadB;
    expect(await reg.getHolders(AGENT)).toEqual([{ replicaId: 'hub-b', epoch: expect.any(Number) }]);
    process.stdout.write(
      `holders: SIGKILL hub-a under load: flows at surviving holder hub-b ok=${atB.ok} (${atB.okAfterKill} started after the kill) refused=${atB.failed}; ` +
        `at hub-c after hub-a's mesh link dropped ok=${atC.ok} refused=${atC.failed}; ` +
        `hub-a's holder gone from the registry ${expiredMs} ms after the links dropped (lease 3 s)\n`,
    );
    expect(atB.failed).toBe(0);
    expect(atB.okAfterKill).toBeGreaterThanOrEqual(3);
    expect(atC).toEqual({ ok: 10, failed: 0 });
    expect((await mOpens(b, 'in')) - inB).toBe(10);
    expect(metricValue(await c.metrics(), 'nowconnect_cross_replica_refused_total')).toBe(refusedBefore);
    expect(b.proc.eventsSince(markB, 'agent_disconnected')).toEqual([]);
  });
});
