/**
 * Tunnel auth with real processes (SPEC §5): every refusal is HTTP 401 on the upgrade (before any
 * WebSocket frame) with nowconnect_tunnel_auth_failures_total{reason}; HELLO scope / agent id
 * checks; RS256 public-key hubs; per-address rate limiting (429).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeControl, FrameType } from '@nowconnect/frames';
import {
  cleanupAll,
  freePorts,
  listener,
  makeKeyPair,
  makeTmpDir,
  metricValue,
  mintToken,
  mintUnsigned,
  pumpEcho,
  randomSecret,
  startAgentConnected,
  startAgent,
  startEchoServer,
  startHub,
  waitForMetric,
  type HubHandle,
  type JsonEvent,
  type KeyPair,
  type Proc,
  type TargetServer,
} from './support';
import { openHelloedTunnel, openRawTunnel, upgradeStatus, type UpgradeOptions } from './support/rawtunnel';

const ISSUER = 'https://idp.nowconnect.test';
const FAILURES = 'nowconnect_tunnel_auth_failures_total';
const REFUSED = 'nowconnect_hello_refused_total';

let echo: TargetServer;
/** HS256 hub with auth.issuer set. */
let hub: HubHandle;
/** RS256 hub (auth.public_key_file). */
let rsHub: HubHandle;
let rsKey: KeyPair;
let rsListenPort: number;

function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

async function metricOf(h: HubHandle, name: string, labels: Record<string, string>): Promise<number> {
  return metricValue(await h.metrics(), name, labels);
}

/** Upgrade once; expect exactly `status`, the reason counter +1 and a tunnel_auth_failed log line. */
async function expectRefused(h: HubHandle, opts: UpgradeOptions, reason: string, status = 401): Promise<void> {
  const before = await metricOf(h, FAILURES, { reason });
  const mark = h.proc.mark();
  expect(await upgradeStatus(h.tunnelUrl, opts)).toBe(status);
  await waitForMetric(h.httpUrl, FAILURES, { reason }, (v) => v === before + 1);
  const ev = await h.proc.waitForEventSince(mark, 'tunnel_auth_failed', undefined, 5000);
  expect(ev.reason).toBe(reason);
  expect(ev.client).toBe('127.0.0.x');
  // never log the token
  if (opts.token !== undefined) expect(h.proc.stdoutText()).not.toContain(opts.token);
}

beforeAll(async () => {
  echo = await startEchoServer();
  const [p1, p2] = await freePorts(2);
  rsListenPort = p2!;
  hub = await startHub({
    config: { auth: { issuer: ISSUER }, listeners: [listener('l_a', 'a', p1!)] },
    waitReady: true,
  });
  rsKey = await makeKeyPair('RS256');
  const keyDir = makeTmpDir('nc-rs-');
  const pubFile = path.join(keyDir, 'hub-rs256.pub.pem');
  fs.writeFileSync(pubFile, rsKey.publicKeyPem);
  rsHub = await startHub({
    config: { auth: { public_key_file: pubFile }, listeners: [listener('l_rs', 'echo', rsListenPort)] },
    waitReady: true,
  });
}, 60_000);

afterAll(async () => {
  await echo?.close();
  await cleanupAll();
});

describe('auth: upgrade refusals are HTTP 401 with a reason', () => {
  it('accepts a valid token (control: 101)', async () => {
    const token = await hub.token('agent-ok', { iss: ISSUER });
    expect(await upgradeStatus(hub.tunnelUrl, { token })).toBe(101);
  });

  it('missing_token: no Authorization header', async () => {
    await expectRefused(hub, {}, 'missing_token');
  });

  it('malformed: a garbage bearer token', async () => {
    await expectRefused(hub, { token: 'not-a-jwt-at-all' }, 'malformed');
  });

  it('bad_signature: signed with another secret', async () => {
    const token = await mintToken({ secret: randomSecret(), sub: 'agent-x', iss: ISSUER });
    await expectRefused(hub, { token }, 'bad_signature');
  });

  it('algorithm: alg none', async () => {
    await expectRefused(hub, { token: mintUnsigned({ sub: 'agent-x', iss: ISSUER }) }, 'algorithm');
  });

  it('expired: exp in the past beyond the clock skew', async () => {
    const token = await hub.token('agent-x', { iss: ISSUER, expSec: -300 });
    await expectRefused(hub, { token }, 'expired');
  });

  it('audience: aud is not nowconnect', async () => {
    const token = await hub.token('agent-x', { iss: ISSUER, aud: 'someone-else' });
    await expectRefused(hub, { token }, 'audience');
  });

  it('issuer: iss does not match auth.issuer', async () => {
    const token = await hub.token('agent-x', { iss: 'https://evil.example' });
    await expectRefused(hub, { token }, 'issuer');
  });

  it('a real agent with an expired token gets cloud_connect_failed reason auth (401) and never connects', async () => {
    const mark = hub.proc.mark();
    const agent = await startAgent({
      hubUrl: hub.tunnelUrl,
      agentId: 'agent-expired',
      token: await hub.token('agent-expired', { iss: ISSUER, expSec: -300 }),
      connectors: { a: `127.0.0.1:${echo.port}` },
    });
    const failed = await agent.proc.waitForEvent('cloud_connect_failed', undefined, 15_000);
    expect(failed).toMatchObject({ reason: 'auth', status: 401 });
    await agent.kill();
    expect(eventsSince(hub.proc, mark, 'tunnel_auth_failed').map((e) => e.reason)).toContain('expired');
    expect(eventsSince(hub.proc, mark, 'agent_connected')).toHaveLength(0);
    expect(agent.proc.stdoutText()).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });

  it('algorithm: an HS256 token against an RS256 public-key hub', async () => {
    const token = await rsHub.token('agent-x'); // HS256 with some secret
    await expectRefused(rsHub, { token }, 'algorithm');
  });
});

describe('auth: RS256 public-key hub', () => {
  it('a real agent with a valid RS256 token connects and carries a flow', async () => {
    const token = await mintToken({ privateKey: rsKey.privateKey, sub: 'agent-rs' });
    const agent = await startAgentConnected(rsHub, {
      agentId: 'agent-rs',
      token,
      connectors: { echo: `127.0.0.1:${echo.port}` },
    });
    expect(agent.connected.connectors).toEqual(['echo']);
    const r = await pumpEcho(rsListenPort, 256 * 1024);
    expect(r.recvBytes).toBe(256 * 1024);
    expect(r.recvSha).toBe(r.sentSha);
    expect(rsHub.proc.stdoutText()).not.toContain(token);
    await agent.stop();
  });
});

describe('auth: HELLO checks against the token', () => {
  it('scope: connector:a allows a HELLO for [a] only', async () => {
    const token = await hub.token('agent-scope-ok', { iss: ISSUER, scope: 'connector:a' });
    const t = await openHelloedTunnel(hub.tunnelUrl, token, { agent_id: 'agent-scope-ok', connectors: ['a'] });
    t.ws.close(1000);
    await t.closed;
  });

  it("scope: a raw HELLO for [a, b] with scope 'connector:a' is refused (1008), logged and counted", async () => {
    const before = await metricOf(hub, REFUSED, { reason: 'scope' });
    const mark = hub.proc.mark();
    const token = await hub.token('agent-scope-raw', { iss: ISSUER, scope: 'connector:a' });
    const t = await openRawTunnel(hub.tunnelUrl, { token });
    await t.send(encodeControl(FrameType.HELLO, { agent_id: 'agent-scope-raw', connectors: ['a', 'b'], version: 'test' }));
    const closed = await t.closed;
    expect(closed.code).toBe(1008);
    expect(t.frames.filter((f) => f.type === FrameType.HELLO_ACK)).toHaveLength(0);
    await waitForMetric(hub.httpUrl, REFUSED, { reason: 'scope' }, (v) => v === before + 1);
    const ev = await hub.proc.waitForEventSince(mark, 'hello_refused', (e) => e.agent_id === 'agent-scope-raw', 5000);
    expect(ev).toMatchObject({ reason: 'scope', connectors: ['b'] });
    expect(eventsSince(hub.proc, mark, 'agent_connected')).toHaveLength(0);
  });

  it("scope: a real agent serving [a, b] with scope 'connector:a' is refused and never connects", async () => {
    const before = await metricOf(hub, REFUSED, { reason: 'scope' });
    const mark = hub.proc.mark();
    const agent = await startAgent({
      hubUrl: hub.tunnelUrl,
      agentId: 'agent-scoped',
      token: await hub.token('agent-scoped', { iss: ISSUER, scope: 'connector:a' }),
      connectors: { a: `127.0.0.1:${echo.port}`, b: `127.0.0.1:${echo.port}` },
    });
    const refused = await hub.proc.waitForEventSince(mark, 'hello_refused', (e) => e.agent_id === 'agent-scoped', 15_000);
    expect(refused).toMatchObject({ reason: 'scope', connectors: ['b'] });
    const gone = await agent.proc.waitForEvent('cloud_disconnected', undefined, 15_000);
    expect(gone.code).toBe(1008);
    await agent.kill();
    const refusals = (): number =>
      eventsSince(hub.proc, mark, 'hello_refused').filter((e) => e.agent_id === 'agent-scoped').length;
    await waitForMetric(hub.httpUrl, REFUSED, { reason: 'scope' }, (v) => v === before + refusals() && refusals() >= 1);
    expect(eventsSince(hub.proc, mark, 'agent_connected').filter((e) => e.agent_id === 'agent-scoped')).toHaveLength(0);
  });

  it('agent_mismatch: a token for agent A with a HELLO for agent B is refused (1008)', async () => {
    const before = await metricOf(hub, REFUSED, { reason: 'agent_mismatch' });
    const mark = hub.proc.mark();
    const t = await openRawTunnel(hub.tunnelUrl, { token: await hub.token('agent-A', { iss: ISSUER }) });
    await t.send(encodeControl(FrameType.HELLO, { agent_id: 'agent-B', connectors: ['a'], version: 'test' }));
    expect((await t.closed).code).toBe(1008);
    expect(t.frames.filter((f) => f.type === FrameType.HELLO_ACK)).toHaveLength(0);
    await waitForMetric(hub.httpUrl, REFUSED, { reason: 'agent_mismatch' }, (v) => v === before + 1);
    const ev = await hub.proc.waitForEventSince(mark, 'hello_refused', (e) => e.reason === 'agent_mismatch', 5000);
    expect(ev.agent_id).toBe('agent-A');
    expect(eventsSince(hub.proc, mark, 'agent_connected')).toHaveLength(0);
  });
});

describe('auth: rate limiting', () => {
  it('more than 20 quick failures from one address yield 429, counted as rate_limited', async () => {
    const rl = await startHub({ waitReady: true });
    const statuses: number[] = [];
    const MAX_ATTEMPTS = 80; // bounded: burst 20, refill a few per second, each attempt takes ms
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const status = await upgradeStatus(rl.tunnelUrl, { token: 'garbage-token' });
      statuses.push(status);
      if (status === 429) break;
    }
    expect(statuses[statuses.length - 1]).toBe(429);
    const unauthorized = statuses.slice(0, -1);
    expect(unauthorized.every((s) => s === 401)).toBe(true);
    expect(unauthorized.length).toBeGreaterThanOrEqual(20);
    await waitForMetric(rl.httpUrl, FAILURES, { reason: 'rate_limited' }, (v) => v === 1);
    await waitForMetric(rl.httpUrl, FAILURES, { reason: 'malformed' }, (v) => v === unauthorized.length);
    await rl.proc.waitForEvent('tunnel_auth_failed', (e) => e.reason === 'rate_limited', 5000);
    await rl.stop();
  });
});
