/**
 * Agent links (issue 15, agent half) through real processes (dist/): the agent keeps up to `links`
 * tunnels, each to a distinct hub replica; a hub refuses a HELLO naming its own replica (close 4009,
 * `hello_refused` reason duplicate_link) without touching the agent's tunnel there.
 *
 * (a) one HA-off hub, links 2 (the default): exactly one link, no re-dialling;
 * (a2) the same hub behind two URLs: the second link is refused as a duplicate, a bounded number of
 *      times (fast tries then slow), and the first link keeps serving;
 * (b) two independent HA-off hubs as two cloud URLs: one link to each; flows through either are
 *     exact; kill one -> agent_link_down, flows through the other keep working; restart it -> the
 *     link comes back (agent_link_up) and flows through it work again; drain the other (SIGTERM ->
 *     GOAWAY): agent_link_down reason goaway, flows via the first keep working, the link comes back.
 * The HA case (two replicas through one load-balanced URL) is in agent-links-ha.e2e-spec.ts.
 */
import { encodeControl, FrameType } from '@nowconnect/frames';
import { openRawTunnel, steppedEcho } from './support/rawtunnel';
import {
  cleanupAll,
  metricValue,
  freePort,
  listener,
  pumpEcho,
  startAgent,
  startAgentConnected,
  startCuttableProxy,
  startEchoServer,
  startHub,
  type AgentHandle,
  type HubHandle,
  type JsonEvent,
  type TargetServer,
} from './support';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

let echo: TargetServer;
beforeAll(async () => {
  echo = await startEchoServer();
  closers.push(() => echo.close());
});

const SECRET = 'agent-links-e2e-secret-0123456789abcdef';

async function hubOn(replicaId: string, port: number, listenPort: number): Promise<HubHandle> {
  const hub = await startHub({
    name: `hub:${replicaId}`,
    secret: SECRET,
    env: { NC_REPLICA_ID: replicaId },
    config: { server: { bind: `127.0.0.1:${port}`, drain_timeout_sec: 2 }, listeners: [listener('l1', 'echo', listenPort)] },
    waitReady: true,
  });
  closers.push(() => hub.kill());
  return hub;
}

/** A flow of `bytes` through `port`, echoed back exactly. */
async function exactFlow(port: number, bytes = 256 * 1024): Promise<void> {
  const r = await pumpEcho(port, bytes, { timeoutMs: 20_000 });
  expect(r.recvBytes).toBe(bytes);
  expect(r.recvSha).toBe(r.sentSha);
}

function refusals(hub: HubHandle): JsonEvent[] {
  return hub.proc.eventsNamed('hello_refused').filter((e) => e.reason === 'duplicate_link');
}

describe('agent links: one HA-off hub', () => {
  let hub: HubHandle;
  let listenPort: number;
  let agent: AgentHandle;

  beforeAll(async () => {
    listenPort = await freePort();
    hub = await hubOn('hub-solo', await freePort(), listenPort);
    agent = await startAgentConnected(hub, { agentId: 'links-solo', connectors: { echo: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
  });

  it('(a) links 2 against a hub that says replicas 1: exactly one link, no re-dial storm', async () => {
    const up = await agent.proc.waitForEvent('agent_link_up', undefined, 20_000);
    expect(up).toMatchObject({ replica_id: 'hub-solo', links_up: 1, links_wanted: 1 });
    const established = await agent.proc.waitForEvent('tunnel_established', undefined, 20_000);
    expect(established).toMatchObject({ replica_id: 'hub-solo', replicas: 1 });
    // An observation window with traffic: ten exact flows, then count what the agent dialled.
    for (let i = 0; i < 10; i++) await exactFlow(listenPort, 64 * 1024);
    const counts = {
      connecting: agent.proc.eventsNamed('connecting_to_cloud').length,
      link_up: agent.proc.eventsNamed('agent_link_up').length,
      redials: agent.proc.eventsNamed('agent_link_redial').length,
      hub_connected: hub.proc.eventsNamed('agent_connected').length,
      duplicate_refusals: refusals(hub).length,
    };
    process.stdout.write(`LINKS_SOLO ${JSON.stringify(counts)}\n`);
    expect(counts).toEqual({ connecting: 1, link_up: 1, redials: 0, hub_connected: 1, duplicate_refusals: 0 });
  });

  it('a HELLO naming the hub\'s own replica in held_replicas: closed 4009, counted; the agent\'s tunnel and its flow in flight untouched', async () => {
    const flow = await steppedEcho(listenPort, 512 * 1024);
    await flow.firstHalf();
    const mark = hub.proc.mark();
    const raw = await openRawTunnel(hub.tunnelUrl, { token: await hub.token('links-solo') });
    await raw.send(encodeControl(FrameType.HELLO, { agent_id: 'links-solo', connectors: ['echo'], version: 'test', held_replicas: ['hub-other', 'hub-solo'] }));
    const closed = await raw.closed;
    expect(closed).toEqual({ code: 4009, reason: 'duplicate link: hub-solo' });
    const r = await flow.finish();
    expect(r.recvBytes).toBe(512 * 1024);
    expect(r.recvSha).toBe(r.sentSha);
    expect(hub.proc.eventsSince(mark, 'agent_replaced')).toEqual([]);
    expect(hub.proc.eventsSince(mark, 'hello_refused')).toMatchObject([{ reason: 'duplicate_link', agent_id: 'links-solo', replica_id: 'hub-solo' }]);
    expect(metricValue(await hub.metrics(), 'nowconnect_hello_refused_total', { reason: 'duplicate_link' })).toBe(1);
    await exactFlow(listenPort, 64 * 1024);
    expect(agent.proc.eventsNamed('agent_link_down')).toEqual([]);
  });

  it('(a2) the same hub behind a second URL: duplicates refused politely and bounded; the first link keeps serving', async () => {
    const proxy = await startCuttableProxy(hub.port);
    closers.push(() => proxy.close());
    const mark = hub.proc.mark();
    const twice = await startAgent({
      agentId: 'links-twice',
      connectors: { echo: `127.0.0.1:${echo.port}` },
      urls: [hub.tunnelUrl, `ws://127.0.0.1:${proxy.port}/tunnel`],
      token: await hub.token('links-twice'),
    });
    closers.push(() => twice.kill());
    await twice.proc.waitForEvent('agent_link_up', (e) => e.replica_id === 'hub-solo', 20_000);
    // Fast re-dials (8 by default, 100 ms .. 2 s apart) then the first slow one (15..30 s): await it.
    const slow = await twice.proc.waitForEvent('agent_link_redial', (e) => e.reason === 'duplicate' && e.slow === true, 30_000);
    const dup = twice.proc.eventsNamed('agent_link_redial').filter((e) => e.reason === 'duplicate');
    const hubDup = hub.proc.eventsSince(mark, 'hello_refused').filter((e) => e.reason === 'duplicate_link' && e.agent_id === 'links-twice');
    const replaced = hub.proc.eventsSince(mark, 'agent_replaced').filter((e) => e.agent_id === 'links-twice');
    const failed = twice.proc.eventsNamed('cloud_connect_failed');
    process.stdout.write(
      `LINKS_DUPLICATE ${JSON.stringify({ agent_duplicate_redials: dup.length, hub_duplicate_refusals: hubDup.length, slow_retry_in_ms: slow.retry_in_ms, replaced: replaced.length, connect_failed: failed.length })}\n`,
    );
    expect(dup.length).toBe(9); // 8 fast + the first slow
    expect(hubDup.length).toBe(9);
    expect(Number(slow.retry_in_ms)).toBeGreaterThanOrEqual(15_000);
    expect(replaced).toEqual([]); // the agent's tunnel on the hub was never touched
    expect(failed).toEqual([]); // a duplicate is not an error
    expect(twice.proc.eventsNamed('agent_link_down')).toEqual([]);
    expect(twice.proc.eventsNamed('agent_link_up')).toHaveLength(1);
    // Both agents serve 'echo' on this hub; flows still go through.
    for (let i = 0; i < 4; i++) await exactFlow(listenPort, 64 * 1024);
    await twice.stop();
  });
});

describe('agent links: two independent hubs as two cloud URLs', () => {
  it('(b) one link to each; kill one: flows via the other keep working; restart it: the link comes back', async () => {
    const portA = await freePort();
    const portB = await freePort();
    const listenA = await freePort();
    const listenB = await freePort();
    let a = await hubOn('hub-a', portA, listenA);
    let b = await hubOn('hub-b', portB, listenB);
    const agent = await startAgent({
      agentId: 'links-two',
      connectors: { echo: `127.0.0.1:${echo.port}` },
      urls: [a.tunnelUrl, b.tunnelUrl],
      token: await a.token('links-two'),
    });
    closers.push(() => agent.kill());
    await agent.proc.waitForEvent('agent_link_up', (e) => e.replica_id === 'hub-a', 20_000);
    await agent.proc.waitForEvent('agent_link_up', (e) => e.replica_id === 'hub-b', 20_000);
    const ups = agent.proc.eventsNamed('agent_link_up');
    expect(ups.map((e) => e.replica_id).sort()).toEqual(['hub-a', 'hub-b']);
    expect(new Set(ups.map((e) => e.link)).size).toBe(2);
    await exactFlow(listenA);
    await exactFlow(listenB);

    // Kill hub-a: its link goes down, flows through hub-b keep working.
    const markAgent = agent.proc.mark();
    const killed = Date.now();
    await a.kill();
    const down = await agent.proc.waitForEventSince(markAgent, 'agent_link_down', (e) => e.replica_id === 'hub-a', 60_000);
    const downMs = Date.now() - killed;
    for (let i = 0; i < 5; i++) await exactFlow(listenB, 128 * 1024);
    expect(agent.proc.eventsSince(markAgent, 'agent_link_down').filter((e) => e.replica_id === 'hub-b')).toEqual([]);

    // Restart hub-a on the same addresses: the agent links to it again.
    const restarted = Date.now();
    a = await hubOn('hub-a', portA, listenA);
    const upAgain = await agent.proc.waitForEventSince(markAgent, 'agent_link_up', (e) => e.replica_id === 'hub-a', 60_000);
    const upMs = Date.now() - restarted;
    await exactFlow(listenA);
    await exactFlow(listenB);
    process.stdout.write(
      `LINKS_TWO_HUBS ${JSON.stringify({ down_reason: down.reason, down_after_kill_ms: downMs, up_after_restart_ms: upMs, links_up: upAgain.links_up, redials: down.redials })}\n`,
    );
    expect(upAgain.links_up).toBe(2);
    expect(agent.proc.eventsNamed('agent_link_down').filter((e) => e.replica_id === 'hub-b')).toEqual([]);

    // Drain hub-b (SIGTERM -> GOAWAY): its link is retired and replaced while hub-a keeps serving.
    const markDrain = agent.proc.mark();
    const stopped = b.stop(30_000);
    const goaway = await agent.proc.waitForEventSince(markDrain, 'agent_link_down', (e) => e.replica_id === 'hub-b', 30_000);
    expect(goaway.reason).toBe('goaway');
    for (let i = 0; i < 3; i++) await exactFlow(listenA, 128 * 1024);
    expect((await stopped).code).toBe(0);
    b = await hubOn('hub-b', portB, listenB);
    await agent.proc.waitForEventSince(markDrain, 'agent_link_up', (e) => e.replica_id === 'hub-b', 60_000);
    await exactFlow(listenB);
    expect(agent.proc.eventsSince(markDrain, 'agent_link_down').filter((e) => e.replica_id === 'hub-a')).toEqual([]);
    await agent.stop();
  });
});
