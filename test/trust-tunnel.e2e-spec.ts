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
import { encodeControl, encodeOpen, FrameType, RstReason, type Frame } from '@nowconnect/frames';
import {
  cleanupAll,
  connectTcp,
  freePorts,
  listener,
  makeKeyPair,
  makeTmpDir,
  mintToken,
  pumpEcho,
  randomSecret,
  metricValue,
  Proc,
  readUntilClose,
  startAgent,
  startAgentConnected,
  startEchoServer,
  startHub,
  waitForMetric,
  type HubHandle,
  type JsonEvent,
} from './support';
import { openHelloedTunnel, openRawTunnel, upgradeStatus } from './support/rawtunnel';
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

describe('finding 9: live credentials', () => {
  const REFUSED = 'nowconnect_hello_refused_total';

  it('a token without connector: entries in scope is refused at HELLO (reason scope) unless auth.require_connector_scope is false', async () => {
    const strict = await startHub({ name: 'hub:scope-required' });
    const lax = await startHub({ name: 'hub:scope-optional', config: { auth: { require_connector_scope: false } } });
    const before = await metricOf(strict, REFUSED, { reason: 'scope' });
    const mark = strict.proc.mark();
    const t = await openRawTunnel(strict.tunnelUrl, { token: await strict.token('unscoped', { scope: null }) });
    await t.send(encodeControl(FrameType.HELLO, { agent_id: 'unscoped', connectors: ['a'], version: 'test' }));
    const closed = await t.closed;
    await waitForMetric(strict.httpUrl, REFUSED, { reason: 'scope' }, (v) => v === before + 1);
    const refused = await strict.proc.waitForEventSince(mark, 'hello_refused', (e) => e.agent_id === 'unscoped', 5000);
    const ok = await openHelloedTunnel(lax.tunnelUrl, await lax.token('unscoped', { scope: null }), { agent_id: 'unscoped', connectors: ['a'] });
    const line = { unscoped_on_default_hub: `${closed.code} ${closed.reason}`, counted: 1, unscoped_with_require_connector_scope_false: 'HELLO_ACK' };
    process.stdout.write(`SCOPE_REQUIRED ${JSON.stringify(line)}\n`);
    expect(closed.code).toBe(1008);
    expect(refused.reason).toBe('scope');
    ok.ws.terminate();
    await Promise.all([strict.stop(), lax.stop()]);
  }, 60_000);

  it('a tunnel whose token expires without re-authentication is closed 4003 after the skew, counted, event tunnel_auth_expired', async () => {
    const SKEW_SEC = 1;
    const EXP_SEC = 3;
    const hub = await startHub({ name: 'hub:expiry', config: { auth: { clock_skew_sec: SKEW_SEC } } });
    const mark = hub.proc.mark();
    const opened = Date.now();
    const t = await openHelloedTunnel(hub.tunnelUrl, await hub.token('expiring', { expSec: EXP_SEC }), { agent_id: 'expiring', connectors: ['e'] });
    const closed = await t.closed;
    const heldMs = Date.now() - opened;
    const ev = await hub.proc.waitForEventSince(mark, 'tunnel_auth_expired', (e) => e.agent_id === 'expiring', 5000);
    await waitForMetric(hub.httpUrl, 'nowconnect_tunnel_auth_expired_total', {}, (v) => v === 1);
    const line = { exp_sec: EXP_SEC, clock_skew_sec: SKEW_SEC, closed_after_ms: heldMs, close: `${closed.code} ${closed.reason}`, event: ev.event };
    process.stdout.write(`TOKEN_EXPIRY ${JSON.stringify(line)}\n`);
    expect(closed.code).toBe(4003);
    // exp has whole-second resolution: closed between exp - 1 s and exp + skew + 2 s.
    expect(heldMs).toBeGreaterThanOrEqual((EXP_SEC - 1) * 1000);
    expect(heldMs).toBeLessThan((EXP_SEC + SKEW_SEC + 2) * 1000);
    await hub.stop();
  }, 30_000);

  it('the agent re-authenticates in-band with the fresh token of its token file: event tunnel_reauthenticated, the tunnel outlives the first token', async () => {
    const SKEW_SEC = 1;
    const EXP_SEC = 6;
    const echo = await startEchoServer();
    const [port] = (await freePorts(1)) as [number];
    const hub = await startHub({ name: 'hub:reauth', config: { auth: { clock_skew_sec: SKEW_SEC }, listeners: [listener('l_re', 're', port)] } });
    const first = await hub.token('renewing', { expSec: EXP_SEC });
    const firstDeadline = Date.now() + (EXP_SEC + SKEW_SEC + 1) * 1000;
    const agent = await startAgentConnected(hub, { agentId: 'renewing', token: first, useTokenFile: true, connectors: { re: `127.0.0.1:${echo.port}` } });
    const mark = hub.proc.mark();
    agent.writeToken(await hub.token('renewing', { expSec: 3600 }));
    const re = await hub.proc.waitForEventSince(mark, 'tunnel_reauthenticated', (e) => e.agent_id === 'renewing', (EXP_SEC + 5) * 1000);
    // Past the first token's exp + skew: the same tunnel still carries flows.
    await new Promise((r) => setTimeout(r, Math.max(0, firstDeadline - Date.now())));
    const r = await pumpEcho(port, 64 * 1024);
    const line = {
      first_token_exp_sec: EXP_SEC,
      reauthenticated: re.event,
      new_exp: re.exp,
      echo_after_first_exp_ok: r.recvSha === r.sentSha,
      expired_events: eventsSince(hub.proc, mark, 'tunnel_auth_expired').length,
      reconnects: eventsSince(hub.proc, mark, 'agent_connected').length,
    };
    process.stdout.write(`TOKEN_REAUTH ${JSON.stringify(line)}\n`);
    expect(line.echo_after_first_exp_ok).toBe(true);
    expect(line.expired_events).toBe(0);
    expect(line.reconnects).toBe(0);
    await agent.stop();
    await hub.stop();
    await echo.close();
  }, 60_000);

  it('key files are re-read on change without a restart; hs256_secret_files [new, old] and a JWKS by kid overlap during rotation', async () => {
    const dir = makeTmpDir('nc-keys-');
    const write = (name: string, text: string): string => {
      const p = path.join(dir, name);
      fs.writeFileSync(`${p}.tmp`, text);
      fs.renameSync(`${p}.tmp`, p);
      return p;
    };
    const [oldS, newS] = [randomSecret(), randomSecret()];
    const secretFile = write('secret', oldS);
    const hub = await startHub({ name: 'hub:rotate', config: { auth: { hs256_secret_file: secretFile } } });
    const tok = (secret: string): Promise<string> => mintToken({ secret, sub: 'rot' });
    const before = await upgradeStatus(hub.tunnelUrl, { token: await tok(newS) });
    const mark = hub.proc.mark();
    write('secret', newS);
    await hub.proc.waitForEventSince(mark, 'auth_key_reloaded', undefined, 10_000);
    const after = { newSecret: await upgradeStatus(hub.tunnelUrl, { token: await tok(newS) }), oldSecret: await upgradeStatus(hub.tunnelUrl, { token: await tok(oldS) }) };

    const listHub = await startHub({ name: 'hub:secret-list', config: { auth: { hs256_secret_files: [write('new', newS), write('old', oldS)] } } });
    const overlap = { newSecret: await upgradeStatus(listHub.tunnelUrl, { token: await tok(newS) }), oldSecret: await upgradeStatus(listHub.tunnelUrl, { token: await tok(oldS) }) };

    const [k1, k2] = [await makeKeyPair('ES256', 'k1'), await makeKeyPair('ES256', 'k2')];
    const jwksFile = write('jwks.json', JSON.stringify({ keys: [k1.publicJwk] }));
    const jwksHub = await startHub({ name: 'hub:jwks', config: { auth: { jwks_file: jwksFile } } });
    const jwt = (k: typeof k1): Promise<string> => mintToken({ privateKey: k.privateKey, alg: 'ES256', kid: k.publicJwk.kid as string, sub: 'rot' });
    const k2Before = await upgradeStatus(jwksHub.tunnelUrl, { token: await jwt(k2) });
    const jmark = jwksHub.proc.mark();
    write('jwks.json', JSON.stringify({ keys: [k2.publicJwk, k1.publicJwk] }));
    await jwksHub.proc.waitForEventSince(jmark, 'auth_key_reloaded', undefined, 10_000);
    const jwks = { k2: await upgradeStatus(jwksHub.tunnelUrl, { token: await jwt(k2) }), k1: await upgradeStatus(jwksHub.tunnelUrl, { token: await jwt(k1) }) };

    const line = { new_secret_before_reload: before, after_reload: after, secret_list_overlap: overlap, jwks_k2_before: k2Before, jwks_after_reload: jwks };
    process.stdout.write(`KEY_ROTATION ${JSON.stringify(line)}\n`);
    expect(before).toBe(401);
    expect(after).toEqual({ newSecret: 101, oldSecret: 401 });
    expect(overlap).toEqual({ newSecret: 101, oldSecret: 101 });
    expect(k2Before).toBe(401);
    expect(jwks).toEqual({ k2: 101, k1: 101 });
    expect(await metricOf(hub, 'nowconnect_auth_key_reloads_total', { result: 'ok' })).toBe(1);
    await Promise.all([hub.stop(), listHub.stop(), jwksHub.stop()]);
  }, 90_000);
});
