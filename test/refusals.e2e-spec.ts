/**
 * Refusals with real processes (SPEC §3, §7, §8, §9): no agent, CIDR, dead target, bad config,
 * and bad input on an authenticated tunnel (garbage and oversized frames).
 */
import { encodeControl, encodeFrame, FrameType, HEADER_BYTES, writeHeader } from '@nowconnect/frames';
import {
  cleanupAll,
  connectTcp,
  freePort,
  freePorts,
  listener,
  metricValue,
  readUntilClose,
  connectAndReadUntilClose,
  spawnHub,
  startAgent,
  startAgentConnected,
  startEchoServer,
  startHub,
  waitForMetric,
  type AgentHandle,
  type HubHandle,
  type JsonEvent,
  type Proc,
  type TargetServer,
} from './support';
import { openHelloedTunnel, openRawTunnel, steppedEcho } from './support/rawtunnel';

const MiB = 1024 * 1024;
/** "At once": far below any timeout a hung refusal would show, far above scheduling noise. */
const AT_ONCE_MS = 1000;
const MAX_FRAME = 1024 * 1024;

let hub: HubHandle;
let agent: AgentHandle;
let echo: TargetServer;
let ports: { none: number; cidr: number; echo: number; dead: number; raw: number };
let deadTargetPort: number;

function stderrLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** Events named `name` recorded at or after `mark` (from Proc.mark()). */
function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await hub.metrics(), name, labels);
}

beforeAll(async () => {
  echo = await startEchoServer();
  const p = await freePorts(6);
  ports = { none: p[0]!, cidr: p[1]!, echo: p[2]!, dead: p[3]!, raw: p[4]! };
  deadTargetPort = p[5]!; // nothing listens there
  hub = await startHub({
    config: {
      listeners: [
        listener('l_none', 'ghost', ports.none),
        listener('l_cidr', 'echo', ports.cidr, { allow_cidrs: ['10.0.0.0/8'] }),
        listener('l_echo', 'echo', ports.echo),
        listener('l_dead', 'dead', ports.dead),
        listener('l_raw', 'rawc', ports.raw),
      ],
      limits: { max_frame_bytes: MAX_FRAME },
    },
    waitReady: true,
  });
  agent = await startAgentConnected(hub, {
    agentId: 'agent-real',
    connectors: { echo: `127.0.0.1:${echo.port}`, dead: `127.0.0.1:${deadTargetPort}` },
  });
}, 60_000);

afterAll(async () => {
  await echo?.close();
  await cleanupAll();
});

describe('refusals: client connections', () => {
  it('closes a client at once when no agent serves the connector, counts and logs it', async () => {
    const before = await metric('nowconnect_no_agent_total', { connector: 'ghost' });
    const mark = hub.proc.mark();
    const info = await connectAndReadUntilClose(ports.none, 5000);
    expect(info.bytes).toBe(0);
    expect(info.elapsedMs).toBeLessThan(AT_ONCE_MS);
    await waitForMetric(hub.httpUrl, 'nowconnect_no_agent_total', { connector: 'ghost' }, (v) => v === before + 1);
    const ev = await hub.proc.waitForEventSince(mark, 'no_agent_for_connector', (e) => e.connector === 'ghost', 5000);
    expect(ev).toMatchObject({ connector: 'ghost', listener: 'l_none' });
  });

  it('closes a client outside allow_cidrs at once, counts per listener, logs the masked IP', async () => {
    const before = await metric('nowconnect_cidr_blocked_total', { listener: 'l_cidr' });
    const echoAccepted = echo.accepted();
    const mark = hub.proc.mark();
    const info = await connectAndReadUntilClose(ports.cidr, 5000);
    expect(info.bytes).toBe(0);
    expect(info.elapsedMs).toBeLessThan(AT_ONCE_MS);
    await waitForMetric(hub.httpUrl, 'nowconnect_cidr_blocked_total', { listener: 'l_cidr' }, (v) => v === before + 1);
    const ev = await hub.proc.waitForEventSince(mark, 'cidr_blocked', (e) => e.listener === 'l_cidr', 5000);
    expect(ev.client).toBe('127.0.0.x');
    expect(JSON.stringify(ev)).not.toContain('127.0.0.1');
    // refused before routing: the agent was never asked to open a flow
    expect(hub.proc.eventsNamed('connection_open').filter((e) => e.listener === 'l_cidr')).toHaveLength(0);
    expect(echo.accepted()).toBe(echoAccepted);
  });

  it('closes a client promptly when the agent cannot reach the target (refused)', async () => {
    const labels = { connector: 'dead', reason: 'refused' };
    const before = await metric('nowconnect_open_failed_total', labels);
    const hubMark = hub.proc.mark();
    const agentMark = agent.proc.mark();
    const info = await connectAndReadUntilClose(ports.dead, 10_000);
    expect(info.bytes).toBe(0);
    expect(info.elapsedMs).toBeLessThan(3000);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', labels, (v) => v === before + 1);
    const failed = await agent.proc.waitForEventSince(agentMark, 'target_connect_failed', (e) => e.connector === 'dead', 5000);
    expect(failed).toMatchObject({ connector: 'dead', reason: 'refused', target: `127.0.0.1:${deadTargetPort}` });
    // the hub did route it (this is not a no-agent refusal)
    await hub.proc.waitForEventSince(hubMark, 'connection_open', (e) => e.connector === 'dead', 5000);
    expect(await metric('nowconnect_no_agent_total', { connector: 'dead' })).toBe(0);
  });
});

describe('refusals: bad config', () => {
  it('hub: a listener bind that is not host:port exits 2 with one stderr line naming listeners[0].bind', async () => {
    const bad = await spawnHub({ config: { listeners: [{ name: 'l1', bind: 'nope', connector: 'x' }] } });
    const exit = await bad.proc.waitForExit(20_000);
    expect(exit).toEqual({ code: 2, signal: null });
    const lines = stderrLines(bad.proc.stderrText());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^listeners\[0\]\.bind: \S/);
    expect(bad.proc.stdoutText()).not.toMatch(/^\s+at /m);
  });

  it.each([
    ['ha.redis_url', { ha: { enabled: true, mode: 'shadow', redis_url: 'redis+sentinel://s1:26379' } }, {}],
    ['NC_REDIS_URL', {}, { NC_REDIS_URL: 'redis://:secret@h:99999/0' }],
  ])('hub: a bad Redis URL exits 2 with one stderr line naming %s, without echoing it', async (key, config, env) => {
    const bad = await spawnHub({ config, env });
    const exit = await bad.proc.waitForExit(20_000);
    expect(exit).toEqual({ code: 2, signal: null });
    const lines = stderrLines(bad.proc.stderrText());
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`${key}: `)).toBe(true);
    expect(lines[0]).not.toMatch(/secret|s1:26379/);
  });

  it('hub: no auth key exits 2 with one stderr line naming auth', async () => {
    const port = await freePort();
    const bad = await spawnHub({
      rawYaml: `server:\n  bind: 127.0.0.1:${port}\nauth:\n  audience: nowconnect\nlisteners: []\n`,
    });
    const exit = await bad.proc.waitForExit(20_000);
    expect(exit).toEqual({ code: 2, signal: null });
    const lines = stderrLines(bad.proc.stderrText());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^auth(\.[a-z_]+)?: \S/);
  });

  it("agent: NC_CONNECTORS='bad' exits 2 with one stderr line naming NC_CONNECTORS", async () => {
    const bad = await startAgent({
      hubUrl: hub.tunnelUrl,
      agentId: 'agent-bad-config',
      token: await hub.token('agent-bad-config'),
      connectors: {},
      env: { NC_CONNECTORS: 'bad' },
      waitStarted: false,
    });
    const exit = await bad.proc.waitForExit(20_000);
    expect(exit).toEqual({ code: 2, signal: null });
    const lines = stderrLines(bad.proc.stderrText());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^NC_CONNECTORS(\[0\])?: \S/);
    expect(bad.proc.eventsNamed('connecting_to_cloud')).toHaveLength(0);
  });
});

describe('refusals: bad input on an authenticated tunnel', () => {
  it('garbage and oversized frames close only that link, counted; the hub and another flow live on', async () => {
    const hubMark = hub.proc.mark();
    const errorsBefore = await metric('nowconnect_protocol_errors_total');

    // A long flow through the real agent, provably in flight across both bad links.
    const flow = await steppedEcho(ports.echo, 16 * MiB);
    await flow.firstHalf();

    // 1) garbage after a valid HELLO
    const rawA = await openHelloedTunnel(hub.tunnelUrl, await hub.token('raw-garbage'), {
      agent_id: 'raw-garbage',
      connectors: ['rawc'],
    });
    await hub.proc.waitForEventSince(hubMark, 'agent_connected', (e) => e.agent_id === 'raw-garbage', 5000);
    const garbage = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.alloc(64, 0xa5)]);
    await rawA.send(garbage);
    const closeA = await rawA.closed;
    expect(closeA.code).toBe(1002);
    await waitForMetric(hub.httpUrl, 'nowconnect_protocol_errors_total', {}, (v) => v === errorsBefore + 1);
    const errA = await hub.proc.waitForEventSince(hubMark, 'tunnel_protocol_error', (e) => e.agent_id === 'raw-garbage', 5000);
    expect(errA.code).toBe('NC_ERR_UNSUPPORTED_VERSION');
    expect((await hub.get('/healthz')).status).toBe(200);
    // that agent is gone from routing: its connector has no agent now
    await hub.proc.waitForEventSince(hubMark, 'agent_disconnected', (e) => e.agent_id === 'raw-garbage', 5000);
    const noAgentBefore = await metric('nowconnect_no_agent_total', { connector: 'rawc' });
    const ci = await connectAndReadUntilClose(ports.raw, 5000);
    expect(ci.bytes).toBe(0);
    await waitForMetric(hub.httpUrl, 'nowconnect_no_agent_total', { connector: 'rawc' }, (v) => v === noAgentBefore + 1);

    // 2) a header whose length field exceeds max_frame_bytes (the payload itself is never sent)
    const rawB = await openHelloedTunnel(hub.tunnelUrl, await hub.token('raw-oversized'), {
      agent_id: 'raw-oversized',
      connectors: ['rawc'],
    });
    const header = Buffer.alloc(HEADER_BYTES);
    writeHeader(header, 0, FrameType.DATA, 1, MAX_FRAME + 1);
    await rawB.send(header);
    const closeB = await rawB.closed;
    expect(closeB.code).toBe(1002);
    await waitForMetric(hub.httpUrl, 'nowconnect_protocol_errors_total', {}, (v) => v === errorsBefore + 2);
    const errB = await hub.proc.waitForEventSince(hubMark, 'tunnel_protocol_error', (e) => e.agent_id === 'raw-oversized', 5000);
    expect(errB.code).toBe('NC_ERR_FRAME_TOO_LARGE');
    expect((await hub.get('/healthz')).status).toBe(200);

    // 3) a whole frame far above max_frame_bytes (2 MiB payload): ws refuses the message itself
    //    (1009 Message Too Big) before the decoder, and it is still a counted protocol error.
    const rawC = await openHelloedTunnel(hub.tunnelUrl, await hub.token('raw-huge'), {
      agent_id: 'raw-huge',
      connectors: ['rawc'],
    });
    await rawC.send(encodeFrame(FrameType.DATA, 1, Buffer.alloc(2 * MiB, 0x5a))).catch(() => undefined);
    const closeC = await rawC.closed;
    expect(closeC.code).toBe(1009);
    await waitForMetric(hub.httpUrl, 'nowconnect_protocol_errors_total', {}, (v) => v === errorsBefore + 3);
    const errC = await hub.proc.waitForEventSince(hubMark, 'tunnel_protocol_error', (e) => e.agent_id === 'raw-huge', 5000);
    expect(errC.code).toBe('NC_ERR_FRAME_TOO_LARGE');
    await hub.proc.waitForEventSince(hubMark, 'agent_disconnected', (e) => e.agent_id === 'raw-huge', 5000);
    expect((await hub.get('/healthz')).status).toBe(200);

    // The other flow completes byte-exact after all three; the real agent never dropped.
    const r = await flow.finish();
    expect(r.recvBytes).toBe(16 * MiB);
    expect(r.recvSha).toBe(r.sentSha);
    expect(hub.proc.running).toBe(true);
    expect(agent.proc.running).toBe(true);
    expect(eventsSince(hub.proc, hubMark, 'agent_disconnected').filter((e) => e.agent_id === 'agent-real')).toHaveLength(0);
    expect((await hub.get('/healthz')).body).toEqual({ status: 'ok' });
  });

  it('a text message on an authenticated tunnel closes that link with 1002 and is counted', async () => {
    const before = await metric('nowconnect_protocol_errors_total');
    const raw = await openRawTunnel(hub.tunnelUrl, { token: await hub.token('raw-text') });
    await raw.send(encodeControl(FrameType.HELLO, { agent_id: 'raw-text', connectors: ['rawc'], version: 'test' }));
    await raw.waitForFrame(FrameType.HELLO_ACK);
    raw.ws.send('not binary');
    expect((await raw.closed).code).toBe(1002);
    await waitForMetric(hub.httpUrl, 'nowconnect_protocol_errors_total', {}, (v) => v === before + 1);
    expect((await hub.get('/healthz')).status).toBe(200);
  });
});
