/**
 * Process lifecycle with real hubs and agents (dist/): the agent reconnects by itself after a hub
 * restart, walks its fail-over list past a dead hub, picks up a rotated token file without a
 * restart; and the hub drains on SIGTERM as SPEC §9 says.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import {
  cleanupAll,
  connectTcp,
  freePort,
  listener,
  mintToken,
  pumpEcho,
  randomSecret,
  startAgent,
  startAgentConnected,
  startEchoServer,
  startHub,
  waitForMetric,
  type HubHandle,
  type TargetServer,
} from './support';
import { readExactly, waitClosed, waitStatus } from './support/flows';

const MiB = 1024 * 1024;
const CONNECTOR = 'echo';

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

/** A fixed hub config (bind and listener ports chosen once) so a restarted hub is the "same" hub. */
async function fixedConfig(extraServer: Record<string, unknown> = {}): Promise<{
  config: Record<string, unknown>;
  hubPort: number;
  listenPort: number;
}> {
  const hubPort = await freePort();
  const listenPort = await freePort();
  return {
    hubPort,
    listenPort,
    config: {
      server: { bind: `127.0.0.1:${hubPort}`, ...extraServer },
      listeners: [listener('l1', CONNECTOR, listenPort)],
    },
  };
}

async function expectEcho(port: number, bytes = 256 * 1024): Promise<void> {
  const r = await pumpEcho(port, bytes, { timeoutMs: 20_000 });
  expect(r.recvBytes).toBe(bytes);
  expect(r.recvSha).toBe(r.sentSha);
}

describe('lifecycle: agent reconnection', () => {
  it('reconnects by itself to a hub restarted (SIGTERM, then a new process on the same port and config) and carries a new flow', async () => {
    const { config, hubPort, listenPort } = await fixedConfig();
    const secret = randomSecret();
    const hub1 = await startHub({ config, secret, waitReady: true });
    const agent = await startAgentConnected(hub1, {
      agentId: 'restart-agent',
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` },
    });
    await expectEcho(listenPort);
    const agentPid = agent.proc.pid;

    const amark = agent.proc.mark();
    const exit1 = await hub1.stop();
    expect(exit1).toEqual({ code: 0, signal: null });
    await agent.proc.waitForEventSince(amark, 'cloud_disconnected');

    const hub2 = await startHub({ config, secret, waitReady: true });
    expect(hub2.port).toBe(hubPort);
    const ev = await hub2.proc.waitForEvent('agent_connected', (e) => e.agent_id === 'restart-agent', 30_000);
    expect(ev.connectors).toEqual([CONNECTOR]);
    // the same agent process, no restart: it dialled again on its own
    expect(agent.proc.running).toBe(true);
    expect(agent.proc.pid).toBe(agentPid);
    // (the agent logs it on HELLO_ACK, just after the hub's agent_connected)
    await agent.proc.waitForEventSince(amark, 'tunnel_established', (e) => e.hub === hub2.tunnelUrl);

    await expectEcho(listenPort, MiB);
    expect(await waitForMetric(hub2.httpUrl, 'nowconnect_agents_connected', {}, (v) => v === 1)).toBe(1);
    await agent.stop();
    await hub2.stop();
  });

  it('walks a fail-over list: the dead first URL fails with reason "refused", the live second one connects', async () => {
    const { config, listenPort } = await fixedConfig();
    const hub = await startHub({ config, waitReady: true });
    const deadUrl = `ws://127.0.0.1:${await freePort()}/tunnel`;
    const agent = await startAgentConnected(hub, {
      agentId: 'failover-agent',
      urls: [deadUrl, hub.tunnelUrl],
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` },
    });

    // startAgentConnected waited on the HUB's log; the agent's own lines come on another pipe. Its
    // tunnel_established follows every earlier attempt in that stream, so once it is seen they all are.
    await agent.proc.waitForEvent('tunnel_established');
    const failed = agent.proc.eventsNamed('cloud_connect_failed');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed[0]).toMatchObject({ url: deadUrl, reason: 'refused' });
    // every failure so far was the dead URL; the live one never failed
    expect(failed.filter((e) => e.url !== deadUrl)).toEqual([]);
    const attempts = agent.proc.eventsNamed('connecting_to_cloud').map((e) => e.url);
    expect(attempts[0]).toBe(deadUrl);
    expect(attempts[attempts.length - 1]).toBe(hub.tunnelUrl);

    await expectEcho(listenPort);
    await agent.stop();
    await hub.stop();
  });

  it('token rotation: after the hub restarts with a NEW secret the agent fails with "auth" until a valid token is written to its file, then reconnects without a restart', async () => {
    const { config, listenPort } = await fixedConfig();
    const agentId = 'rotate-agent';
    const secret1 = randomSecret();
    const hub1 = await startHub({ config, secret: secret1, waitReady: true });
    const agent = await startAgentConnected(hub1, {
      agentId,
      token: await mintToken({ secret: secret1, sub: agentId }),
      useTokenFile: true,
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` },
    });
    expect(agent.tokenFile).toBeDefined();
    const agentPid = agent.proc.pid;
    await expectEcho(listenPort);

    expect((await hub1.stop()).code).toBe(0);
    const secret2 = randomSecret();
    const amark = agent.proc.mark();
    const hub2 = await startHub({ config, secret: secret2, waitReady: true });

    // the old token no longer verifies: 401 on the upgrade, reason 'auth' on the agent, bad_signature on the hub
    const authFail = await agent.proc.waitForEventSince(amark, 'cloud_connect_failed', (e) => e.reason === 'auth', 30_000);
    expect(authFail).toMatchObject({ url: hub2.tunnelUrl, reason: 'auth', status: 401 });
    await hub2.proc.waitForEvent('tunnel_auth_failed', (e) => e.reason === 'bad_signature');
    expect(
      await waitForMetric(hub2.httpUrl, 'nowconnect_tunnel_auth_failures_total', { reason: 'bad_signature' }, (v) => v >= 1),
    ).toBeGreaterThanOrEqual(1);
    expect(hub2.proc.eventsNamed('agent_connected')).toEqual([]);
    // the token is never logged
    const oldToken = fs.readFileSync(agent.tokenFile ?? '', 'utf8').trim();
    expect(agent.proc.stdoutText()).not.toContain(oldToken);

    const newToken = await mintToken({ secret: secret2, sub: agentId });
    const hmark = hub2.proc.mark();
    agent.writeToken(newToken);
    await hub2.proc.waitForEventSince(hmark, 'agent_connected', (e) => e.agent_id === agentId, 40_000);
    expect(agent.proc.running).toBe(true);
    expect(agent.proc.pid).toBe(agentPid);
    expect(agent.proc.stdoutText()).not.toContain(newToken);
    await expectEcho(listenPort);
    await agent.stop();
    await hub2.stop();
  });
});

describe('lifecycle: drain on SIGTERM', () => {
  it('drain_timeout_sec 3: /readyz 503 before exit, new connects refused, the running flow echoes, then is reset at the timeout; exit 0', async () => {
    const { config, listenPort } = await fixedConfig({ drain_timeout_sec: 3 });
    const hub: HubHandle = await startHub({ config, waitReady: true });
    const agent = await startAgentConnected(hub, {
      agentId: 'drain-agent',
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` },
    });
    closers.push(() => agent.stop());

    // a long-running, idle flow
    const c = await connectTcp(listenPort);
    c.on('error', () => undefined);
    const hello = crypto.randomBytes(1000);
    c.write(hello);
    expect((await readExactly(c, hello.length)).equals(hello)).toBe(true);
    await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: CONNECTOR }, (v) => v === 1);

    const mark = hub.proc.mark();
    const t0 = Date.now();
    const exited = hub.proc.waitForExit(20_000);
    hub.proc.signal('SIGTERM');

    const readyMs = await waitStatus(() => hub.get('/readyz'), 503, {
      timeoutMs: 2500,
      abort: () => (hub.proc.running ? undefined : `hub exited ${JSON.stringify(hub.proc.exit)}`),
    });
    expect(hub.proc.running).toBe(true);
    const body = await hub.get('/readyz');
    expect(body.status).toBe(503);
    expect(body.body).toMatchObject({ status: 'not_ready' });
    expect((await hub.get('/healthz')).status).toBe(200);

    const started = await hub.proc.waitForEventSince(mark, 'drain_started', undefined, 5000);
    expect(started).toMatchObject({ active_flows: 1, drain_timeout_sec: 3 });
    await expect(connectTcp(listenPort, '127.0.0.1', 3000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // the running flow still carries data both ways during the drain window
    const closed = waitClosed(c, 15_000);
    const mid = crypto.randomBytes(64 * 1024);
    c.write(mid);
    expect((await readExactly(c, mid.length)).equals(mid)).toBe(true);
    const echoedAtMs = Date.now() - t0;
    expect(hub.proc.running).toBe(true);

    // ... until the timeout, then it is reset
    const info = await closed;
    const resetAtMs = Date.now() - t0;
    expect(info.error).toBe('ECONNRESET');
    expect(resetAtMs).toBeGreaterThanOrEqual(2800);
    expect(resetAtMs).toBeLessThan(6000);

    const exit = await exited;
    const exitAtMs = Date.now() - t0;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(hub.proc.eventsNamed('drain_started')).toHaveLength(1);
    console.log(
      `drain: /readyz 503 after ${readyMs} ms, flow echoed at ${echoedAtMs} ms, reset at ${resetAtMs} ms, exit 0 at ${exitAtMs} ms`,
    );
  });

  it('a drain with no flows exits 0 quickly (well before drain_timeout_sec 20)', async () => {
    const { config } = await fixedConfig({ drain_timeout_sec: 20 });
    const hub = await startHub({ config, waitReady: true });
    const agent = await startAgentConnected(hub, {
      agentId: 'idle-drain-agent',
      connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` },
    });
    closers.push(() => agent.stop());
    const t0 = Date.now();
    const exit = await hub.proc.stop('SIGTERM', 10_000);
    const ms = Date.now() - t0;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(ms).toBeLessThan(3000);
    expect(hub.proc.eventsNamed('drain_started')).toEqual([expect.objectContaining({ active_flows: 0 })]);
    console.log(`drain: idle hub exited 0 after ${ms} ms`);
  });
});
