/**
 * Stripes (issue 14) through real processes (dist/): a link opens `stripes` TCP connections to its
 * hub replica (default 4: the link's own plus 3 stripes named by the HELLO_ACK's stripe_key), and
 * the hub opens each new flow on the link's connection with the fewest flows, so one connection's
 * send buffer no longer caps a link over a long round trip (the figures: docs/flow-control.md).
 *
 * - default config: 3 stripes come up; 8 concurrent flows run 2 per connection (GET /status) and
 *   every byte arrives exactly;
 * - hostile or stray stripe HELLOs: an unknown key is closed 4010 and counted; a key used by another
 *   agent is refused; a link takes at most 8 connections; the agent's flows are untouched;
 * - NC_STRIPES=1: one connection, no stripe;
 * - a hub drain (SIGTERM -> GOAWAY on every connection): flows in flight on the stripes finish exactly.
 */
import { decodeHelloAck, encodeControl, FrameError, FrameType, type HelloAckBody } from '@nowconnect/frames';
import { openRawTunnel, steppedEcho, type RawTunnel, type SteppedEcho } from './support/rawtunnel';
import {
  cleanupAll,
  freePort,
  getJson,
  listener,
  metricValue,
  pumpEcho,
  startAgentConnected,
  startEchoServer,
  startHub,
  type AgentHandle,
  type HubHandle,
  type TargetServer,
} from './support';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

const SECRET = 'stripes-e2e-secret-0123456789abcdef';
const MAX_LINK_STRIPES = 8;

let echo: TargetServer;
beforeAll(async () => {
  echo = await startEchoServer();
  closers.push(() => echo.close());
});

async function hubWith(listenPort: number, drainSec = 20): Promise<{ hub: HubHandle; adminUrl: string }> {
  const hub = await startHub({
    name: 'hub:stripes',
    secret: SECRET,
    config: { server: { bind: `127.0.0.1:${await freePort()}`, drain_timeout_sec: drainSec }, listeners: [listener('l1', 'echo', listenPort)] },
    waitReady: true,
  });
  closers.push(() => hub.kill());
  const admin = await hub.proc.waitForEvent('admin_started');
  return { hub, adminUrl: `http://${String(admin['bind'])}` };
}

interface StatusAgentJson {
  agent_id: string;
  links: number;
  connections: number;
  flows_per_connection: number[];
  active_flows: number;
}

async function statusOf(adminUrl: string, agentId: string): Promise<StatusAgentJson | undefined> {
  const body = (await getJson(`${adminUrl}/status`)).body as { agents: StatusAgentJson[] };
  return body.agents.find((a) => a.agent_id === agentId);
}

/** A raw tunnel that sent HELLO (optionally as a stripe) and got its answer: HELLO_ACK or a close. */
async function rawHello(hub: HubHandle, agentId: string, extra: Record<string, unknown> = {}): Promise<{ raw: RawTunnel; ack: HelloAckBody | undefined; closed: { code: number; reason: string } | undefined }> {
  const raw = await openRawTunnel(hub.tunnelUrl, { token: await hub.token(agentId) });
  closers.push(async () => raw.ws.terminate());
  await raw.send(encodeControl(FrameType.HELLO, { agent_id: agentId, connectors: ['echo'], version: 'test', ...extra }));
  const first = await Promise.race([raw.waitForFrame(FrameType.HELLO_ACK, 10_000).then((f) => ({ frame: f })), raw.closed.then((c) => ({ close: c }))]);
  if ('close' in first) return { raw, ack: undefined, closed: first.close };
  const ack = decodeHelloAck(first.frame.payload);
  if (ack instanceof FrameError) throw new Error(ack.message);
  return { raw, ack, closed: undefined };
}

async function halfway(count: number, port: number, bytes: number): Promise<SteppedEcho[]> {
  const flows = await Promise.all(Array.from({ length: count }, () => steppedEcho(port, bytes)));
  await Promise.all(flows.map((f) => f.firstHalf()));
  return flows;
}

async function finishExact(flows: SteppedEcho[], bytes: number): Promise<void> {
  const results = await Promise.all(flows.map((f) => f.finish()));
  for (const r of results) {
    expect(r.recvBytes).toBe(bytes);
    expect(r.recvSha).toBe(r.sentSha);
  }
}

describe('stripes: one HA-off hub, default agent config', () => {
  let hub: HubHandle;
  let adminUrl: string;
  let listenPort: number;
  let agent: AgentHandle;

  beforeAll(async () => {
    listenPort = await freePort();
    ({ hub, adminUrl } = await hubWith(listenPort));
    const mark = hub.proc.mark();
    agent = await startAgentConnected(hub, { agentId: 'striped', connectors: { echo: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    await hub.proc.waitForEventSince(mark, 'stripe_connected', (e) => e.agent_id === 'striped' && e.stripes === 4, 20_000);
  });

  it('the link opens 3 stripes; 8 concurrent flows run 2 per connection, every byte exact', async () => {
    const ups = await Promise.all([1, 2, 3].map((n) => agent.proc.waitForEvent('agent_stripe_up', (e) => e.stripe === n, 10_000)));
    expect(ups.map((e) => e.replica_id)).toEqual([ups[0]?.replica_id, ups[0]?.replica_id, ups[0]?.replica_id]);
    expect(agent.proc.eventsNamed('agent_stripe_up')).toHaveLength(3);
    expect(hub.proc.eventsNamed('agent_connected').filter((e) => e.agent_id === 'striped')).toHaveLength(1);
    expect(metricValue(await hub.metrics(), 'nowconnect_agents_connected')).toBe(1);
    const bytes = 512 * 1024;
    const flows = await halfway(8, listenPort, bytes);
    const during = await statusOf(adminUrl, 'striped');
    process.stdout.write(`STRIPES_STATUS ${JSON.stringify(during)}\n`);
    expect(during).toMatchObject({ links: 1, connections: 4, active_flows: 8 });
    expect(during?.flows_per_connection).toEqual([2, 2, 2, 2]);
    await finishExact(flows, bytes);
  });

  it('a stripe HELLO whose key names no link: closed 4010, counted and logged; the agent\'s flows untouched', async () => {
    const bytes = 512 * 1024;
    const flows = await halfway(4, listenPort, bytes);
    const mark = hub.proc.mark();
    const before = metricValue(await hub.metrics(), 'nowconnect_hello_refused_total', { reason: 'stripe_unknown' }) ?? 0;
    const { closed } = await rawHello(hub, 'striped', { stripe_of: ['0'.repeat(32), '1'.repeat(32)] });
    expect(closed).toEqual({ code: 4010, reason: 'stripe refused: stripe_unknown' });
    expect(metricValue(await hub.metrics(), 'nowconnect_hello_refused_total', { reason: 'stripe_unknown' })).toBe(before + 1);
    expect(hub.proc.eventsSince(mark, 'hello_refused')).toMatchObject([{ reason: 'stripe_unknown', agent_id: 'striped' }]);
    await finishExact(flows, bytes);
    expect(agent.proc.eventsNamed('agent_stripe_down')).toEqual([]);
  });

  it('another agent presenting a link\'s key is refused; a link takes at most 8 connections', async () => {
    const head = await rawHello(hub, 'raw-head');
    expect(head.ack?.stripe_key).toMatch(/^[0-9a-f]{32}$/);
    expect(head.ack?.stripes).toBe(MAX_LINK_STRIPES);
    const key = head.ack!.stripe_key!;

    const thief = await rawHello(hub, 'raw-thief', { stripe_of: [key] });
    expect(thief.closed?.code).toBe(1008);
    expect(thief.closed?.reason).toBe('hello refused: agent_mismatch');

    const accepted: HelloAckBody[] = [];
    for (let i = 1; i < MAX_LINK_STRIPES; i++) {
      // Keys of links this hub does not hold (another replica's, behind a balancer) are passed over.
      const s = await rawHello(hub, 'raw-head', { stripe_of: i % 2 === 0 ? [key] : ['0'.repeat(32), key] });
      expect(s.closed).toBeUndefined();
      accepted.push(s.ack!);
    }
    // A stripe's own HELLO_ACK names the link it joined.
    expect(accepted.every((a) => a.stripe_key === key && a.replica_id === head.ack!.replica_id)).toBe(true);
    const over = await rawHello(hub, 'raw-head', { stripe_of: ['0'.repeat(32), key] });
    expect(over.closed).toEqual({ code: 4010, reason: 'stripe refused: stripe_limit' });
    expect(metricValue(await hub.metrics(), 'nowconnect_hello_refused_total', { reason: 'stripe_limit' })).toBe(1);
    const status = await statusOf(adminUrl, 'raw-head');
    expect(status).toMatchObject({ links: 1, connections: MAX_LINK_STRIPES });
    // The raw link goes: its stripes get GOAWAY (the hub takes no new flow on them).
    head.raw.ws.terminate();
    await hub.proc.waitForEvent('agent_disconnected', (e) => e.agent_id === 'raw-head', 10_000);
    expect(await statusOf(adminUrl, 'raw-head')).toBeUndefined();
  });

  it('NC_STRIPES=1: one connection, no stripe', async () => {
    const mark = hub.proc.mark();
    const single = await startAgentConnected(hub, { agentId: 'single', connectors: { echo: `127.0.0.1:${echo.port}` }, env: { NC_STRIPES: '1' } });
    closers.push(() => single.kill());
    const r = await pumpEcho(listenPort, 64 * 1024, { timeoutMs: 20_000 });
    expect(r.recvSha).toBe(r.sentSha);
    expect(await statusOf(adminUrl, 'single')).toMatchObject({ links: 1, connections: 1 });
    expect(hub.proc.eventsSince(mark, 'stripe_connected').filter((e) => e.agent_id === 'single')).toEqual([]);
    await single.stop();
  });
});

describe('stripes: a hub drain', () => {
  it('SIGTERM: every connection gets GOAWAY; flows in flight on the stripes finish exactly', async () => {
    const listenPort = await freePort();
    const { hub, adminUrl } = await hubWith(listenPort);
    const mark = hub.proc.mark();
    const agent = await startAgentConnected(hub, { agentId: 'drained', connectors: { echo: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    await hub.proc.waitForEventSince(mark, 'stripe_connected', (e) => e.agent_id === 'drained' && e.stripes === 4, 20_000);
    const bytes = 1024 * 1024;
    const flows = await halfway(4, listenPort, bytes);
    expect((await statusOf(adminUrl, 'drained'))?.flows_per_connection).toEqual([1, 1, 1, 1]);
    const stopped = hub.stop(30_000);
    await hub.proc.waitForEvent('drain_started', undefined, 10_000);
    await finishExact(flows, bytes);
    expect((await stopped).code).toBe(0);
    expect(agent.proc.eventsNamed('hub_goaway').length).toBe(4);
  });
});
