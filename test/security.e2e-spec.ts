/**
 * Security tests with real processes (issue 6 item 5), beyond test/auth.e2e-spec.ts (which covers
 * each 401 reason once, alg none, an HS256 token against an RS256 hub, HELLO as another agent on an
 * idle hub, scope [a, b] vs connector:a, and the 429 rate limit) and test/mesh.e2e-spec.ts (no
 * header / FAILED / SUCCESS on /mesh with require_mtls, a foreign or absent client cert on the TLS
 * mesh listener). Here: hijacking a *connected* agent's id, replaying expired tokens, the real `alg`
 * confusion attacks, scope edge cases, every forged ingress client-cert header variant, and a scan
 * of every log line of the suite for tokens, secrets, key material and payload bytes.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeControl, FrameType, type Frame } from '@nowconnect/frames';
import {
  cleanupAll,
  connectTcp,
  freePort,
  freePorts,
  listener,
  makeCa,
  makeCert,
  makeKeyPair,
  makeTmpDir,
  metricValue,
  mintToken,
  mintUnsigned,
  startAgentConnected,
  startEchoServer,
  startHub,
  spawnHub,
  startRedis,
  waitForMetric,
  type HubHandle,
  type JsonEvent,
  type KeyPair,
  type Proc,
  type RedisHandle,
  type TargetServer,
  tryMeshUpgrade,
} from './support';
import { readExactly } from './support/flows';
import { openRawTunnel, steppedEcho } from './support/rawtunnel';
import { upgradeFrom } from './support/flood-procs';
import { scanLogs } from './support/fuzz-logscan';
import { FuzzSocket } from './support/fuzz-frames';

const FAILURES = 'nowconnect_tunnel_auth_failures_total';
const REFUSED = 'nowconnect_hello_refused_total';
const MARKER = `NCSEC-${crypto.randomBytes(6).toString('hex')}-PAYLOAD`;

let echo: TargetServer;
let redis: RedisHandle;
let hub: HubHandle; // HS256
let rsHub: HubHandle; // RS256 public key
let esHub: HubHandle; // ES256 public key
let rsKey: KeyPair;
let esKey: KeyPair;
let echoPort: number;
const procs: Proc[] = [];
const tokens: string[] = [];
const secrets: string[] = [];
/** A distinct loopback source per upgrade attempt keeps the per-address rate limiter out of the way. */
let srcSeq = 10;
const nextSource = (): string => `127.0.0.${srcSeq++}`;

function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

async function metricOf(h: HubHandle, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await h.metrics(), name, labels);
}

/** One upgrade from a fresh source address: expect `status` and, for a refusal, the reason counted. */
async function expectUpgrade(h: HubHandle, token: string, status: number, reason?: string): Promise<void> {
  tokens.push(token);
  const before = reason !== undefined ? await metricOf(h, FAILURES, { reason }) : 0;
  expect(await upgradeFrom(h.tunnelUrl, { token, localAddress: nextSource() })).toBe(status);
  if (reason !== undefined) await waitForMetric(h.httpUrl, FAILURES, { reason }, (v) => v === before + 1);
}

async function pubKeyHub(name: string, key: KeyPair): Promise<HubHandle> {
  const dir = makeTmpDir('nc-sec-');
  const pubFile = path.join(dir, `${name}.pub.pem`);
  fs.writeFileSync(pubFile, key.publicKeyPem);
  const h = await startHub({ name: `hub:${name}`, config: { auth: { public_key_file: pubFile } }, waitReady: true });
  procs.push(h.proc);
  return h;
}

beforeAll(async () => {
  echo = await startEchoServer();
  redis = await startRedis();
  echoPort = await freePort();
  hub = await startHub({ name: 'hub:sec', config: { listeners: [listener('l_a', 'a', echoPort)] }, waitReady: true });
  procs.push(hub.proc);
  secrets.push(hub.secret);
  rsKey = await makeKeyPair('RS256');
  esKey = await makeKeyPair('ES256');
  rsHub = await pubKeyHub('rs256', rsKey);
  esHub = await pubKeyHub('es256', esKey);
}, 90_000);

afterAll(async () => {
  await echo?.close();
  await redis?.stop();
  await cleanupAll();
});

describe('security: identity', () => {
  it('a token for agent A with a HELLO as the connected agent B is refused (1008 agent_mismatch); B keeps its tunnel and its flow stays exact', async () => {
    const b = await startAgentConnected(hub, { agentId: 'agent-b', connectors: { a: `127.0.0.1:${echo.port}` } });
    procs.push(b.proc);
    const flow = await steppedEcho(echoPort, 4 * 1024 * 1024);
    await flow.firstHalf();
    const mark = hub.proc.mark();
    const before = await metricOf(hub, REFUSED, { reason: 'agent_mismatch' });
    const tokenA = await hub.token('agent-a');
    tokens.push(tokenA);
    const t = await openRawTunnel(hub.tunnelUrl, { token: tokenA });
    await t.send(encodeControl(FrameType.HELLO, { agent_id: 'agent-b', connectors: ['a'], version: 'evil' }));
    expect((await t.closed).code).toBe(1008);
    expect(t.frames.filter((f) => f.type === FrameType.HELLO_ACK)).toHaveLength(0);
    await waitForMetric(hub.httpUrl, REFUSED, { reason: 'agent_mismatch' }, (v) => v === before + 1);
    const ev = await hub.proc.waitForEventSince(mark, 'hello_refused', (e) => e.reason === 'agent_mismatch', 5000);
    expect(ev).toMatchObject({ agent_id: 'agent-a', hello_agent_id: 'agent-b' });
    const r = await flow.finish();
    expect(r.recvSha).toBe(r.sentSha);
    expect(eventsSince(hub.proc, mark, 'agent_replaced')).toHaveLength(0);
    expect(eventsSince(hub.proc, mark, 'agent_disconnected').filter((e) => e.agent_id === 'agent-b')).toHaveLength(0);
    // A payload marker through B's tunnel, for the log scan below.
    const s = await connectTcp(echoPort);
    s.write(MARKER);
    expect((await readExactly(s, MARKER.length)).toString()).toBe(MARKER);
    s.destroy();
    await b.stop();
  });
});

describe('security: expired and replayed tokens', () => {
  it('an expired token (beyond the 60 s skew) replayed from 5 addresses: 401 expired each time, never a tunnel', async () => {
    const expired = await hub.token('agent-exp', { expSec: -120 });
    for (let i = 0; i < 5; i++) await expectUpgrade(hub, expired, 401, 'expired');
    const unsigned = mintUnsigned({ sub: 'agent-exp', expSec: 3600 }); // re-dated by an attacker, unsigned
    await expectUpgrade(hub, unsigned, 401, 'algorithm');
    const [h, , sig] = expired.split('.');
    const payload = JSON.parse(Buffer.from(expired.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const redated = `${h}.${Buffer.from(JSON.stringify({ ...payload, exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url')}.${sig}`;
    await expectUpgrade(hub, redated, 401, 'bad_signature');
  });

  it('the skew boundary: 30 s past exp is still accepted (documented 60 s tolerance)', async () => {
    await expectUpgrade(hub, await hub.token('agent-skew', { expSec: -30 }), 101);
  });
});

describe('security: alg confusion', () => {
  it('RS256 hub: HS256 signed with the hub`s own public key PEM is refused as algorithm', async () => {
    const t = await mintToken({ secret: new TextEncoder().encode(rsKey.publicKeyPem), alg: 'HS256', sub: 'agent-x' });
    await expectUpgrade(rsHub, t, 401, 'algorithm');
    // control: the real key works
    await expectUpgrade(rsHub, await mintToken({ privateKey: rsKey.privateKey, sub: 'agent-x' }), 101);
  });

  it('ES256 hub: HS256 signed with the EC public key PEM, and an RS256 token, are refused as algorithm', async () => {
    await expectUpgrade(esHub, await mintToken({ secret: new TextEncoder().encode(esKey.publicKeyPem), alg: 'HS256', sub: 'x' }), 401, 'algorithm');
    await expectUpgrade(esHub, await mintToken({ privateKey: rsKey.privateKey, alg: 'RS256', sub: 'x' }), 401, 'algorithm');
    await expectUpgrade(esHub, await mintToken({ privateKey: esKey.privateKey, alg: 'ES256', sub: 'x' }), 101);
  });

  it('RS256 hub: a token carrying its own key in a `jwk` header, signed by the attacker, is refused as bad_signature', async () => {
    const attacker = await makeKeyPair('RS256');
    const t = await mintToken({ privateKey: attacker.privateKey, sub: 'agent-x', header: { jwk: attacker.publicJwk } });
    await expectUpgrade(rsHub, t, 401, 'bad_signature');
  });

  it('RS256 hub: alg none, and HS256 hub: RS256 / ES256 tokens, are refused as algorithm', async () => {
    await expectUpgrade(rsHub, mintUnsigned({ sub: 'agent-x' }), 401, 'algorithm');
    await expectUpgrade(hub, await mintToken({ privateKey: rsKey.privateKey, sub: 'agent-x' }), 401, 'algorithm');
    await expectUpgrade(hub, await mintToken({ privateKey: esKey.privateKey, alg: 'ES256', sub: 'agent-x' }), 401, 'algorithm');
  });
});

describe('security: connector scope', () => {
  async function hello(scope: string, connectors: string[]): Promise<number | 'ack'> {
    const id = `agent-scope-${crypto.randomBytes(3).toString('hex')}`;
    const token = await hub.token(id, { scope });
    tokens.push(token);
    const t = await FuzzSocket.open<Frame>(hub.tunnelUrl, { token, mesh: false });
    await t.send([encodeControl(FrameType.HELLO, { agent_id: id, connectors, version: 'test' })]);
    const r = await t.until((f) => f.type === FrameType.HELLO_ACK, 10_000);
    const outcome = r.kind === 'frame' ? ('ack' as const) : r.kind === 'closed' ? r.code : -1;
    await t.close();
    return outcome;
  }

  it.each<[string, string, string[], number | 'ack']>([
    ['an empty connector entry allows nothing', 'connector:', ['a'], 1008],
    ['names are case-sensitive', 'connector:A', ['a'], 1008],
    ['one connector outside a two-entry scope', 'connector:a connector:b', ['a', 'c'], 1008],
    ['a prefix is not a wildcard', 'connector:a', ['ab'], 1008],
    ['connector:* allows any', 'openid connector:*', ['a', 'zz'], 'ack'],
    ['no connector entries at all is refused (auth.require_connector_scope, default true)', 'openid profile', ['a', 'b'], 1008],
  ])('%s (scope %j, HELLO %j)', async (_what, scope, connectors, expected) => {
    const before = await metricOf(hub, REFUSED, { reason: 'scope' });
    expect(await hello(scope, connectors)).toBe(expected);
    if (expected !== 'ack') await waitForMetric(hub.httpUrl, REFUSED, { reason: 'scope' }, (v) => v === before + 1);
  });
});

describe('security: forged ingress client-cert headers on /mesh (issue 13 finding 1)', () => {
  let meshHub: HubHandle; // TLS mesh listener, no ha.mesh.ingress.trusted_proxies
  let proxyHub: HubHandle; // mesh only on server.bind, behind an ingress at 127.0.0.1
  let tlsPort: number;
  let caPem: Buffer;
  let client: { cert: Buffer; key: Buffer };
  const HASH = crypto.createHash('sha256').update('forged').digest('hex');
  const NGINX_PROOF = { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=hub-x' };
  const ENVOY_PROOF = { 'x-forwarded-client-cert': `Hash=${HASH};Subject="CN=hub-x"` };

  beforeAll(async () => {
    const dir = makeTmpDir('nc-sec-mesh-');
    const ca = await makeCa(path.join(dir, 'ca'));
    const cert = await makeCert(ca, { cn: 'hub-sec', clientAuth: true });
    caPem = fs.readFileSync(cert.caFile);
    const c = await makeCert(ca, { cn: 'test-client', clientAuth: true });
    client = { cert: fs.readFileSync(c.certFile), key: fs.readFileSync(c.keyFile) };
    const [port, listen, proxyPort] = await freePorts(3);
    tlsPort = listen!;
    meshHub = await startHub({
      name: 'hub:sec-mesh',
      config: {
        server: { bind: `127.0.0.1:${port}` },
        ha: {
          enabled: true,
          mode: 'active',
          replica_id: 'hub-sec',
          redis_url: redis.url,
          mesh: {
            listen: `127.0.0.1:${tlsPort}`,
            advertise_url: `wss://127.0.0.1:${tlsPort}/mesh`,
            require_mtls: true,
            tls: { ca_bundle: cert.caFile, cert_file: cert.certFile, key_file: cert.keyFile },
          },
        },
      },
    });
    procs.push(meshHub.proc);
    proxyHub = await startHub({
      name: 'hub:sec-proxy',
      config: {
        server: { bind: `127.0.0.1:${proxyPort}` },
        ha: {
          enabled: true,
          mode: 'active',
          replica_id: 'hub-sec-proxy',
          redis_url: redis.url.replace(/\/0$/, '/4'), // its own registry: the two hubs must not dial each other here
          mesh: { require_mtls: true, advertise_url: `ws://127.0.0.1:${proxyPort}/mesh`, ingress: { trusted_proxies: ['127.0.0.1/32'] } },
        },
      },
    });
    procs.push(proxyHub.proc);
    // /healthz answers as soon as HTTP listens; /mesh upgrades are verified once the mesh started.
    await meshHub.proc.waitForEvent('mesh_started');
    await proxyHub.proc.waitForEvent('mesh_started');
  }, 60_000);

  it('without ha.mesh.ingress.trusted_proxies, /mesh on server.bind answers 404 to forged nginx and Envoy proofs (was 101), counted and logged', async () => {
    const mark = meshHub.proc.mark();
    const before = await metricOf(meshHub, 'nowconnect_mesh_upgrade_refused_total', { reason: 'no_trusted_proxies' });
    const nginx = await tryMeshUpgrade(meshHub.meshUrl, { headers: NGINX_PROOF });
    const envoy = await tryMeshUpgrade(meshHub.meshUrl, { headers: ENVOY_PROOF });
    process.stdout.write(`SECURITY_MESH_INGRESS ${JSON.stringify({ finding: 1, before: 'http 101 (open)', forged_nginx: nginx, forged_envoy: envoy })}\n`);
    expect([nginx, envoy]).toEqual(['http 404', 'http 404']);
    await waitForMetric(meshHub.httpUrl, 'nowconnect_mesh_upgrade_refused_total', { reason: 'no_trusted_proxies' }, (v) => v === before + 2);
    const ev = await meshHub.proc.waitForEventSince(mark, 'mesh_upgrade_refused', (e) => e.reason === 'no_trusted_proxies', 5000);
    expect(ev).toMatchObject({ status: 404, client: '127.0.0.x' });
  });

  it('with trusted_proxies, the same proofs from any other source are refused 403 untrusted_source; from the proxy they pass', async () => {
    const mark = proxyHub.proc.mark();
    const before = await metricOf(proxyHub, 'nowconnect_mesh_upgrade_refused_total', { reason: 'untrusted_source' });
    expect(await tryMeshUpgrade(proxyHub.meshUrl, { headers: NGINX_PROOF, localAddress: '127.0.0.2' })).toBe('http 403');
    expect(await tryMeshUpgrade(proxyHub.meshUrl, { headers: ENVOY_PROOF, localAddress: '127.0.0.3' })).toBe('http 403');
    await waitForMetric(proxyHub.httpUrl, 'nowconnect_mesh_upgrade_refused_total', { reason: 'untrusted_source' }, (v) => v === before + 2);
    await proxyHub.proc.waitForEventSince(mark, 'mesh_upgrade_refused', (e) => e.reason === 'untrusted_source', 5000);
    // control: from the trusted ingress address the documented proofs upgrade (the peer still has to prove its replica id)
    expect(await tryMeshUpgrade(proxyHub.meshUrl, { headers: NGINX_PROOF, localAddress: '127.0.0.1' })).toBe('open');
    expect(await tryMeshUpgrade(proxyHub.meshUrl, { headers: ENVOY_PROOF, localAddress: '127.0.0.1' })).toBe('open');
  });

  it.each<[string, Record<string, string | string[]>, string]>([
    ['SUCCESS without a subject or cert', { 'ssl-client-verify': 'SUCCESS' }, 'no_client_cert'],
    ['SUCCESS with an empty subject', { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': '' }, 'no_client_cert'],
    ['lower-case success', { 'ssl-client-verify': 'success', 'ssl-client-subject-dn': 'CN=x' }, 'client_cert_not_verified'],
    ['NONE', { 'ssl-client-verify': 'NONE', 'ssl-client-subject-dn': 'CN=x' }, 'client_cert_not_verified'],
    // Node joins the repeated lines ("SUCCESS, SUCCESS"): not the one value SUCCESS
    ['the verify header sent twice', { 'ssl-client-verify': ['SUCCESS', 'SUCCESS'], 'ssl-client-subject-dn': 'CN=x' }, 'client_cert_not_verified'],
    ['FAILED next to a valid-looking XFCC', { 'ssl-client-verify': 'FAILED:expired', 'x-forwarded-client-cert': `Hash=${HASH};Subject="CN=x"` }, 'client_cert_not_verified'],
    ['XFCC without a Hash', { 'x-forwarded-client-cert': 'Subject="CN=hub-x";URI=spiffe://x' }, 'no_client_cert'],
    ['XFCC with a short Hash', { 'x-forwarded-client-cert': 'Hash=abc;Subject="CN=hub-x"' }, 'no_client_cert'],
    ['malformed XFCC', { 'x-forwarded-client-cert': 'Hash="unterminated;Subject=x' }, 'malformed_header'],
    ['a made-up header', { 'x-client-cert': 'CN=hub-x', 'x-ssl-verified': 'true' }, 'no_client_cert'],
  ])('from the trusted proxy, %s -> 403, counted, logged with the reason', async (_what, headers, reason) => {
    const mark = proxyHub.proc.mark();
    const before = await metricOf(proxyHub, 'nowconnect_mesh_upgrade_refused_total', { reason });
    // Node's http client sends an array value as repeated header lines.
    expect(await tryMeshUpgrade(proxyHub.meshUrl, { headers: headers as unknown as Record<string, string>, localAddress: '127.0.0.1' })).toBe('http 403');
    await waitForMetric(proxyHub.httpUrl, 'nowconnect_mesh_upgrade_refused_total', { reason }, (v) => v === before + 1);
    const ev = await proxyHub.proc.waitForEventSince(mark, 'mesh_upgrade_refused', (e) => e.reason === reason, 5000);
    expect(ev.client).toBe('127.0.0.x');
  });

  it('the TLS mesh listener ignores ingress headers: no client certificate + SUCCESS headers is still refused', async () => {
    const r = await tryMeshUpgrade(`wss://127.0.0.1:${tlsPort}/mesh`, { ca: caPem, headers: { ...NGINX_PROOF, ...ENVOY_PROOF } });
    expect(r).not.toBe('open');
    // control: the same listener with a client certificate from the mesh CA
    expect(await tryMeshUpgrade(`wss://127.0.0.1:${tlsPort}/mesh`, { ca: caPem, ...client })).toBe('open');
  });

  it('an active hub whose only mesh path is server.bind, without trusted_proxies, exits 2 with one line naming the key', async () => {
    const bad = await spawnHub({ config: { ha: { enabled: true, mode: 'active', replica_id: 'hub-bad', mesh: { require_mtls: true } } } });
    expect(await bad.proc.waitForExit(20_000)).toEqual({ code: 2, signal: null });
    const lines = bad.proc.stderrText().split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ha\.mesh\.ingress\.trusted_proxies: required in active mode/);
  });
});

describe('security: logs', () => {
  it('no line of any hub or agent of this suite holds a JWT, a secret, private key material or a payload marker', () => {
    const scan = scanLogs(procs, { secrets: [...secrets, rsKey.privateKeyPem.split('\n')[1]!, esKey.privateKeyPem.split('\n')[1]!], markers: [MARKER], tokens });
    process.stdout.write(`SECURITY_LOGSCAN ${JSON.stringify({ processes: scan.processes, lines: scan.lines, tokens: tokens.length, findings: scan.findings.length })}\n`);
    expect(scan.findings).toEqual([]);
    expect(scan.lines).toBeGreaterThan(50);
  });
});
