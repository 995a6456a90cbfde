/**
 * Issue 13 (trust boundaries), the tunnel / agent / HTTP findings, with real processes on loopback:
 *  5. an agent that never answers OPEN: the flow is reset after limits.open_timeout_sec;
 *  6. slow request bodies and slow second heads on server.bind: closed after server.request_timeout_sec;
 *  7. a hub that floods OPENs: the agent answers RST agent_busy over limits.max_pending_connects / max_flows;
 *  9. live credentials: scope required, key files re-read, in-band re-authentication, expiry closes 4003.
 * Each prints one line with its figure (compare docs/security.md).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { encodeOpen, FrameType, RstReason, type Frame } from '@nowconnect/frames';
import {
  cleanupAll,
  connectTcp,
  freePorts,
  listener,
  makeTmpDir,
  metricValue,
  Proc,
  readUntilClose,
  startAgent,
  startEchoServer,
  startHub,
  waitForMetric,
  type HubHandle,
  type JsonEvent,
} from './support';
import { openHelloedTunnel } from './support/rawtunnel';
import { startFakeHub, type FakeHub } from './support/fake-hub';

function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

async function metricOf(h: HubHandle, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await h.metrics(), name, labels);
}

afterAll(async () => {
  await cleanupAll();
});

describe('finding 5: OPEN_ACK timeout', () => {
  const OPEN_TIMEOUT_SEC = 2;
  const CLIENTS = 20;

  it(`an agent that answers nothing: each of ${CLIENTS} clients is reset after limits.open_timeout_sec, counted (reason timeout) and logged`, async () => {
    const [port] = (await freePorts(1)) as [number];
    const hub = await startHub({
      name: 'hub:open-timeout',
      config: { listeners: [listener('l_noack', 'noack', port)], limits: { open_timeout_sec: OPEN_TIMEOUT_SEC } },
    });
    const token = await hub.token('noack-agent', { scope: 'connector:noack' });
    const tunnel = await openHelloedTunnel(hub.tunnelUrl, token, { agent_id: 'noack-agent', connectors: ['noack'] });
    const mark = hub.proc.mark();
    const clients: net.Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(await connectTcp(port));
    const closes = await Promise.all(clients.map((s) => readUntilClose(s, (OPEN_TIMEOUT_SEC + 8) * 1000)));
    const heldMs = closes.map((c) => c.elapsedMs);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'noack', reason: 'timeout' }, (v) => v === CLIENTS);
    const opens = tunnel.frames.filter((f) => f.type === FrameType.OPEN).length;
    const rsts = tunnel.frames.filter((f) => f.type === FrameType.RST).length;
    const logged = eventsSince(hub.proc, mark, 'open_failed').filter((e) => e.reason === 'timeout');
    const line = { clients: CLIENTS, open_timeout_sec: OPEN_TIMEOUT_SEC, held_ms_min: Math.min(...heldMs), held_ms_max: Math.max(...heldMs), opens_seen: opens, rst_to_agent: rsts, logged: logged.length };
    process.stdout.write(`OPEN_TIMEOUT ${JSON.stringify(line)}\n`);
    expect(opens).toBe(CLIENTS);
    expect(rsts).toBe(CLIENTS);
    expect(logged).toHaveLength(CLIENTS);
    expect(line.held_ms_min).toBeGreaterThanOrEqual(OPEN_TIMEOUT_SEC * 1000 - 500);
    expect(line.held_ms_max).toBeLessThan((OPEN_TIMEOUT_SEC + 3) * 1000);
    expect(await metricOf(hub, 'nowconnect_tcp_active_connections', { connector: 'noack' })).toBe(0);
    tunnel.ws.terminate();
  }, 60_000);
});

describe('finding 6: server.request_timeout_sec', () => {
  const REQUEST_TIMEOUT_SEC = 2;
  /** Node checks the timeouts every second: closed within the timeout + 1 s + slack. */
  const CLOSE_BOUND_MS = (REQUEST_TIMEOUT_SEC + 2) * 1000;
  let hub: HubHandle;

  beforeAll(async () => {
    hub = await startHub({ name: 'hub:request-timeout', config: { server: { request_timeout_sec: REQUEST_TIMEOUT_SEC } } });
  }, 30_000);

  /** Writes `piece` every 250 ms until the socket closes (the hub closes it; bounded by the test timeout). */
  function trickle(s: net.Socket, piece: string): void {
    const t = setInterval(() => (s.destroyed || !s.writable ? clearInterval(t) : s.write(piece)), 250);
    s.once('close', () => clearInterval(t));
  }

  it('a POST /healthz whose body trickles in and a keep-alive connection whose second head trickles in: both closed, counted, logged', async () => {
    const mark = hub.proc.mark();
    const before = await metricOf(hub, 'nowconnect_http_request_timeouts_total');

    const body = await connectTcp(hub.port);
    const bodyClosed = readUntilClose(body, 30_000);
    body.write('POST /healthz HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\nx');
    trickle(body, 'x');

    const head = await connectTcp(hub.port);
    const firstAnswer = new Promise<void>((resolve) => head.once('data', () => resolve()));
    head.write('GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n');
    await firstAnswer;
    const headStart = Date.now();
    const headClosed = readUntilClose(head, 30_000);
    head.write('GET /healthz HTTP/1.1\r\n');
    trickle(head, 'X-Slow: 1\r\n');

    const [b, h] = await Promise.all([bodyClosed, headClosed]);
    const headHeldMs = Date.now() - headStart;
    await waitForMetric(hub.httpUrl, 'nowconnect_http_request_timeouts_total', {}, (v) => v === before + 2);
    const logged = eventsSince(hub.proc, mark, 'http_request_timeout');
    const line = {
      request_timeout_sec: REQUEST_TIMEOUT_SEC,
      slow_body_held_ms: b.elapsedMs,
      slow_body_answer: b.data.toString('latin1').split('\r\n')[0],
      slow_second_head_held_ms: headHeldMs,
      counted: (await metricOf(hub, 'nowconnect_http_request_timeouts_total')) - before,
      logged: logged.length,
    };
    process.stdout.write(`REQUEST_TIMEOUT ${JSON.stringify(line)}\n`);
    expect(b.elapsedMs).toBeLessThan(CLOSE_BOUND_MS);
    // Express answers the unknown POST route at once (404) without reading the body; either way the
    // connection is closed when the body does not arrive in time.
    expect(['HTTP/1.1 404 Not Found', 'HTTP/1.1 408 Request Timeout']).toContain(line.slow_body_answer);
    expect(headHeldMs).toBeLessThan(CLOSE_BOUND_MS);
    expect(h.data.toString('latin1')).not.toContain('200 OK');
    expect(line.counted).toBe(2);
    expect(logged).toHaveLength(2);
    expect(logged.every((e) => e.client === '127.0.0.x' && e.timeout_sec === REQUEST_TIMEOUT_SEC)).toBe(true);
    expect((await hub.get('/healthz')).status).toBe(200);
  }, 60_000);

  it('a first head that never completes is reported once, as upgrade_header_timeout, not twice', async () => {
    const before = {
      header: await metricOf(hub, 'nowconnect_upgrade_header_timeouts_total'),
      request: await metricOf(hub, 'nowconnect_http_request_timeouts_total'),
    };
    const s = await connectTcp(hub.port);
    const done = readUntilClose(s, 30_000);
    s.write('GET /tunnel HTTP/1.1\r\nHost: hub\r\n');
    trickle(s, 'X-Slow: 1\r\n');
    const c = await done;
    expect(c.elapsedMs).toBeLessThan(CLOSE_BOUND_MS);
    await waitForMetric(hub.httpUrl, 'nowconnect_upgrade_header_timeouts_total', {}, (v) => v === before.header + 1);
    expect(await metricOf(hub, 'nowconnect_http_request_timeouts_total')).toBe(before.request);
  }, 30_000);
});

describe('finding 7: agent limits against a hub that floods OPENs', () => {
  const OPENS = 5000;
  let fake: FakeHub;

  beforeAll(async () => {
    fake = await startFakeHub();
  });
  afterAll(async () => {
    await fake.close();
  });

  /** An agent for the fake hub whose premise.yaml sets `limits` (everything else from env). */
  async function agentWithLimits(name: string, limits: Record<string, number>, connector: string, target: string): Promise<Proc> {
    const dir = makeTmpDir('nc-premise-');
    const configPath = path.join(dir, 'premise.yaml');
    fs.writeFileSync(configPath, `limits:\n${Object.entries(limits).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
    const agent = await startAgent({ name, agentId: name, token: 'not-checked-by-the-fake-hub', urls: [fake.url], connectors: { [connector]: target }, env: { NC_CONFIG: configPath } });
    return agent.proc;
  }

  function openFlood(connector: string): Buffer {
    return Buffer.concat(Array.from({ length: OPENS }, (_, i) => encodeOpen(i + 1, connector)));
  }

  const busyRsts = (frames: Frame[]): number => frames.filter((f) => f.type === FrameType.RST && f.payload[0] === RstReason.AGENT_BUSY).length;
  const answered = (frames: Frame[]): number => frames.filter((f) => f.type === FrameType.OPEN_ACK || f.type === FrameType.RST).length;

  it(`${OPENS} OPENs with limits.max_flows 200: 200 target connections, the rest answered RST agent_busy, counted and logged`, async () => {
    const MAX_FLOWS = 200;
    const echo = await startEchoServer();
    try {
      const proc = await agentWithLimits('busy-flows', { max_flows: MAX_FLOWS, max_pending_connects: 100_000 }, 'echo', `127.0.0.1:${echo.port}`);
      const conn = await fake.nextConn('busy-flows');
      const mark = proc.mark();
      await conn.send(openFlood('echo'));
      await conn.until((f) => answered(f) >= OPENS, 30_000, `${OPENS} answers`);
      const acks = conn.frames.filter((f) => f.type === FrameType.OPEN_ACK).length;
      await proc.waitForEventSince(mark, 'open_refused', (e) => e.refused_total === OPENS - MAX_FLOWS, 10_000);
      await echo.waitForConnections(acks, 10_000);
      const refusals = eventsSince(proc, mark, 'open_refused');
      const line = { opens: OPENS, max_flows: MAX_FLOWS, target_connections: echo.accepted(), open_acks: acks, rst_agent_busy: busyRsts(conn.frames), logged: eventsSince(proc, mark, 'open_refused').length };
      process.stdout.write(`AGENT_MAX_FLOWS ${JSON.stringify(line)}\n`);
      expect(acks).toBe(MAX_FLOWS);
      expect(line.rst_agent_busy).toBe(OPENS - MAX_FLOWS);
      expect(line.target_connections).toBe(MAX_FLOWS);
      expect(line.logged).toBe(OPENS - MAX_FLOWS);
      expect(refusals.every((e) => e.reason === 'agent_busy' && e.limit === 'max_flows')).toBe(true);
      expect(proc.running).toBe(true);
    } finally {
      await echo.close();
    }
  }, 60_000);

  it(`${OPENS} OPENs to a target that never completes a connect, limits.max_pending_connects 50: at most 50 dials, the rest RST agent_busy`, async () => {
    const MAX_PENDING = 50;
    // A listener with a full accept queue that never accepts: further SYNs are dropped, connects hang.
    const blackhole = new Proc('python3', ['-c', "import socket,sys,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\nprint('{\"event\":\"blackhole\",\"port\":%d}' % s.getsockname()[1]); sys.stdout.flush(); time.sleep(600)"], { name: 'blackhole' });
    const port = (await blackhole.waitForEvent('blackhole', undefined, 10_000)).port as number;
    const proc = await agentWithLimits('busy-pending', { max_pending_connects: MAX_PENDING }, 'slow', `127.0.0.1:${port}`);
    const conn = await fake.nextConn('busy-pending');
    const mark = proc.mark();
    await conn.send(openFlood('slow'));
    await conn.until((f) => busyRsts(f) >= OPENS - MAX_PENDING - 2, 30_000, 'agent_busy answers');
    const busy = busyRsts(conn.frames);
    await proc.waitForEventSince(mark, 'open_refused', (e) => e.refused_total === busy, 10_000);
    const logged = eventsSince(proc, mark, 'open_refused');
    const line = { opens: OPENS, max_pending_connects: MAX_PENDING, dials: OPENS - busy, rst_agent_busy: busy, logged: logged.length };
    process.stdout.write(`AGENT_MAX_PENDING ${JSON.stringify(line)}\n`);
    expect(line.dials).toBeLessThanOrEqual(MAX_PENDING + 2); // + the connects the kernel's accept queue completes
    expect(logged.length).toBe(busy);
    expect(logged.every((e) => e.reason === 'agent_busy')).toBe(true);
    expect(proc.running).toBe(true);
    await blackhole.stop('SIGTERM', 5000);
  }, 60_000);
});
