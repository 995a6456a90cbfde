/**
 * TLS and HTTP CONNECT proxies with real processes (SPEC §3 server.tls, §4 ca_file / proxy_url /
 * HTTPS_PROXY, §8 cloud_connect_failed reasons).
 */
import * as path from 'node:path';
import {
  cleanupAll,
  freePort,
  freePorts,
  httpRequest,
  listener,
  makeCa,
  makeCert,
  makeTmpDir,
  pumpEcho,
  startAgent,
  startAgentConnected,
  startConnectProxy,
  startEchoServer,
  startHub,
  tlsTerminatingProxy,
  type AgentHandle,
  type CaFiles,
  type CertFiles,
  type ConnectProxy,
  type HubHandle,
  type JsonEvent,
  type Proc,
  type TargetServer,
  type TlsProxy,
} from './support';

const KiB = 1024;
let echo: TargetServer;
let ca: CaFiles;
let cert: CertFiles;
/** server.tls hub: https/wss only. */
let tlsHub: HubHandle;
let tlsListenPort: number;
/** Plain hub (TLS terminated at the "ingress" in front of it). */
let plainHub: HubHandle;
let plainListenPort: number;
let ingress: TlsProxy;
const proxies: ConnectProxy[] = [];

function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

/** Stop an agent and wait until its hub has dropped it, so later flows cannot land on it. */
async function retire(hub: HubHandle, agent: AgentHandle, mark: number): Promise<void> {
  await agent.stop();
  await hub.proc.waitForEventSince(mark, 'agent_disconnected', (e) => e.agent_id === agent.agentId, 10_000);
}

async function echoOk(port: number, bytes = 512 * KiB): Promise<void> {
  const r = await pumpEcho(port, bytes);
  expect(r.recvBytes).toBe(bytes);
  expect(r.recvSha).toBe(r.sentSha);
}

beforeAll(async () => {
  echo = await startEchoServer();
  ca = await makeCa(path.join(makeTmpDir('nc-tls-'), 'ca'));
  cert = await makeCert(ca, { cn: 'hub.test', sans: ['IP:127.0.0.1', 'DNS:localhost'] });
  const [p1, p2] = await freePorts(2);
  tlsListenPort = p1!;
  plainListenPort = p2!;
  tlsHub = await startHub({
    config: {
      server: { tls: { cert_file: cert.certFile, key_file: cert.keyFile } },
      listeners: [listener('l_tls', 'echo', tlsListenPort)],
    },
    ca: ca.certPem,
    waitReady: true,
  });
  plainHub = await startHub({ config: { listeners: [listener('l_plain', 'echo', plainListenPort)] }, waitReady: true });
  ingress = await tlsTerminatingProxy({ certFile: cert.certFile, keyFile: cert.keyFile, targetPort: plainHub.port });
}, 60_000);

afterAll(async () => {
  for (const p of proxies) await p.close().catch(() => undefined);
  await ingress?.close().catch(() => undefined);
  await echo?.close();
  await cleanupAll();
});

describe('TLS on the hub (server.tls)', () => {
  it('serves /healthz over https (verified with the private CA) and not over plain http', async () => {
    expect(tlsHub.httpUrl).toBe(`https://127.0.0.1:${tlsHub.port}`);
    const r = await tlsHub.get('/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
    const plain = await httpRequest(`http://127.0.0.1:${tlsHub.port}/healthz`, { timeoutMs: 3000 }).then(
      (res) => res.status,
      () => 'error' as const,
    );
    expect(plain).not.toBe(200);
  });

  it('an agent with NC_CA_FILE connects over wss:// and carries a flow', async () => {
    const mark = tlsHub.proc.mark();
    const agent = await startAgentConnected(tlsHub, {
      agentId: 'agent-tls',
      connectors: { echo: `127.0.0.1:${echo.port}` },
      env: { NC_CA_FILE: ca.certFile },
    });
    expect(agent.connected.connectors).toEqual(['echo']);
    expect(await agent.proc.waitForEvent('connecting_to_cloud')).toMatchObject({ url: tlsHub.tunnelUrl });
    await echoOk(tlsListenPort);
    await retire(tlsHub, agent, mark);
  });

  it("an agent without the CA fails with cloud_connect_failed reason 'tls' and never connects", async () => {
    const mark = tlsHub.proc.mark();
    const agent = await startAgent({
      hubUrl: tlsHub.tunnelUrl,
      agentId: 'agent-noca',
      token: await tlsHub.token('agent-noca'),
      connectors: { echo: `127.0.0.1:${echo.port}` },
    });
    const first = await agent.proc.waitForEvent('cloud_connect_failed', undefined, 15_000);
    expect(first.reason).toBe('tls');
    // it keeps retrying, and keeps failing the same way (verification is never skipped)
    await agent.proc.waitForEvent(
      'cloud_connect_failed',
      (e) => e !== first && agent.proc.eventsNamed('cloud_connect_failed').length >= 2,
      15_000,
    );
    await agent.kill();
    const failures = agent.proc.eventsNamed('cloud_connect_failed');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures.every((e) => e.reason === 'tls')).toBe(true);
    expect(eventsSince(tlsHub.proc, mark, 'agent_connected')).toHaveLength(0);
    expect(eventsSince(tlsHub.proc, mark, 'tunnel_auth_failed')).toHaveLength(0);
  });

  it('a plain hub behind a TLS-terminating ingress: an agent with the CA connects via wss:// and carries a flow', async () => {
    const mark = plainHub.proc.mark();
    const before = ingress.connections();
    const url = `wss://127.0.0.1:${ingress.port}/tunnel`;
    const agent = await startAgentConnected(plainHub, {
      agentId: 'agent-ingress',
      urls: [url],
      connectors: { echo: `127.0.0.1:${echo.port}` },
      env: { NC_CA_FILE: ca.certFile },
    });
    expect(await agent.proc.waitForEvent('connecting_to_cloud')).toMatchObject({ url });
    expect(ingress.connections()).toBeGreaterThan(before);
    await echoOk(plainListenPort);
    await retire(plainHub, agent, mark);
  });
});

describe('HTTP CONNECT proxy', () => {
  it('NC_PROXY_URL: the agent reaches a ws:// hub through the proxy and carries a flow', async () => {
    const proxy = await startConnectProxy();
    proxies.push(proxy);
    const mark = plainHub.proc.mark();
    const agent = await startAgentConnected(plainHub, {
      agentId: 'agent-proxied',
      connectors: { echo: `127.0.0.1:${echo.port}` },
      env: { NC_PROXY_URL: `http://127.0.0.1:${proxy.port}/` },
    });
    expect(proxy.connects.length).toBeGreaterThanOrEqual(1);
    expect(proxy.connects.every((c) => c.target === `127.0.0.1:${plainHub.port}`)).toBe(true);
    expect(proxy.connectCount()).toBeGreaterThanOrEqual(1);
    await echoOk(plainListenPort);
    await retire(plainHub, agent, mark);
  });

  it('HTTPS_PROXY: the agent reaches a wss:// hub through the proxy (TLS inside the tunnel) and carries a flow', async () => {
    const proxy = await startConnectProxy();
    proxies.push(proxy);
    const mark = tlsHub.proc.mark();
    const agent = await startAgentConnected(tlsHub, {
      agentId: 'agent-https-proxy',
      connectors: { echo: `127.0.0.1:${echo.port}` },
      env: { NC_CA_FILE: ca.certFile, HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` },
    });
    expect(proxy.connects.length).toBeGreaterThanOrEqual(1);
    expect(proxy.connects.every((c) => c.target === `127.0.0.1:${tlsHub.port}`)).toBe(true);
    expect(proxy.connectCount()).toBeGreaterThanOrEqual(1);
    await echoOk(tlsListenPort);
    await retire(tlsHub, agent, mark);
  });

  it("a dead proxy gives cloud_connect_failed reason 'proxy' and no direct fallback", async () => {
    const deadProxyPort = await freePort();
    const mark = plainHub.proc.mark();
    const agent = await startAgent({
      hubUrl: plainHub.tunnelUrl,
      agentId: 'agent-dead-proxy',
      token: await plainHub.token('agent-dead-proxy'),
      connectors: { echo: `127.0.0.1:${echo.port}` },
      env: { NC_PROXY_URL: `http://127.0.0.1:${deadProxyPort}` },
    });
    const first = await agent.proc.waitForEvent('cloud_connect_failed', undefined, 15_000);
    expect(first.reason).toBe('proxy');
    await agent.proc.waitForEvent(
      'cloud_connect_failed',
      () => agent.proc.eventsNamed('cloud_connect_failed').length >= 3,
      15_000,
    );
    await agent.kill();
    const failures = agent.proc.eventsNamed('cloud_connect_failed');
    expect(failures.every((e) => e.reason === 'proxy')).toBe(true);
    // The hub itself is reachable (other agents connect to it), yet it never saw this agent.
    expect(eventsSince(plainHub.proc, mark, 'agent_connected')).toHaveLength(0);
    expect(eventsSince(plainHub.proc, mark, 'tunnel_auth_failed')).toHaveLength(0);
    expect(agent.proc.eventsNamed('cloud_disconnected')).toHaveLength(0);
  });
});
