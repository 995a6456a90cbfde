/**
 * Operations (issue 5, items 1–2): the Dockerfile, docker-compose.yml and the dev certificates.
 * No container engine: `docker-compose config` (Debian's docker-compose 1.29) resolves and validates the
 * compose file; every file it mounts must exist and parse — hub and agent configs with OUR loader and the
 * env compose sets; certificates are checked with openssl and node:crypto; Prometheus' config with promtool.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jwtVerify } from 'jose';
import { parse as parseYaml, stringify } from 'yaml';
import { loadCloudConfig, loadPremiseConfig, type CloudConfig } from '@nowconnect/ha-config';
import {
  AGENT_MAIN,
  HUB_MAIN,
  cleanupAll,
  findBin,
  freePort,
  ldapsearch,
  makeTmpDir,
  metricValue,
  requireBuilt,
  startRedis,
  waitForHttpStatus,
  waitForMetric,
} from './support';
import { pollUntil } from './support/http';
import { Proc } from './support/proc';
import {
  certChecks,
  certSans,
  dockerIgnored,
  envWithout,
  execForm,
  filesUnder,
  parseDockerfile,
  parseMountedFile,
  runTool,
} from './support/deploy';

const ROOT = path.resolve(__dirname, '..');
const HUBS = ['nowconnect-cloud', 'nowconnect-cloud-b'] as const;
const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  environment?: Record<string, string>;
  volumes?: string[];
  secrets?: Array<{ source: string; target?: string }>;
  ports?: Array<{ published?: number | string; target: number }>;
  profiles?: string[];
  stop_grace_period?: string;
  hostname?: string;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  read_only?: boolean;
}
interface ComposeConfig {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
}

let secretsDir: string;
let compose: ComposeConfig;

afterAll(async () => {
  await cleanupAll();
});

beforeAll(() => {
  secretsDir = path.join(makeTmpDir('nc-deploy-compose-'), 'secrets');
  const certs = runTool('bash', [path.join(ROOT, 'scripts/dev-certs.sh'), secretsDir]);
  if (certs.code !== 0) throw new Error(`dev-certs.sh failed: ${certs.stderr}`);
  const r = runTool('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
    cwd: ROOT,
    env: envWithout(['NC_', 'OPENLDAP_', 'COMPOSE_', 'PROMETHEUS_', 'GRAFANA_'], { NC_SECRETS_DIR: secretsDir }),
  });
  if (r.code !== 0) throw new Error(`docker-compose config failed (${r.code}): ${r.stderr}`);
  compose = parseYaml(r.stdout) as ComposeConfig;
});

function service(name: string): ComposeService {
  const s = compose.services[name];
  if (s === undefined) throw new Error(`compose has no service ${name}`);
  return s;
}

/** Container path -> host path, from a service's bind mounts and compose secrets (/run/secrets/<target>). */
function mounts(name: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const v of service(name).volumes ?? []) {
    const [src, dst] = v.split(':');
    if (src === undefined || dst === undefined || !src.startsWith('/')) throw new Error(`${name}: not a bind mount: ${v}`);
    m.set(dst, src);
  }
  for (const s of service(name).secrets ?? []) {
    const file = compose.secrets[s.source]?.file;
    if (file === undefined) throw new Error(`${name}: secret ${s.source} has no file`);
    const target = s.target === undefined ? s.source : s.target;
    m.set(target.startsWith('/') ? target : `/run/secrets/${target}`, file);
  }
  return m;
}

/** The host file behind a container path (exact mount or a file inside a mounted directory). */
function hostPath(name: string, containerPath: string): string {
  for (const [dst, src] of mounts(name)) {
    if (containerPath === dst) return src;
    if (containerPath.startsWith(`${dst}/`)) return path.join(src, containerPath.slice(dst.length + 1));
  }
  throw new Error(`${name}: ${containerPath} is not mounted`);
}

function hubConfig(name: string): CloudConfig {
  const env = service(name).environment ?? {};
  if (env['NC_CONFIG'] === undefined) throw new Error(`${name}: NC_CONFIG not set`);
  return loadCloudConfig({ ...env, NC_CONFIG: hostPath(name, env['NC_CONFIG']) });
}

function seconds(duration: string | undefined): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration ?? '');
  if (m === null || duration === undefined || duration === '') throw new Error(`unsupported duration ${duration}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}

/** slapadd the compose openldap service's seed LDIFs into a fresh mdb database (schemas as in Debian's slapd). */
function seedLdapDb(): { dir: string; conf: string; root: string } {
  const env = service('openldap').environment ?? {};
  const seedDir = hostPath('openldap', env['LDAP_CUSTOM_LDIF_DIR'] ?? '/ldifs');
  const ldifs = filesUnder(seedDir).filter((f) => f.endsWith('.ldif'));
  expect(ldifs.length).toBeGreaterThan(0);
  const root = env['LDAP_ROOT']!;
  const dir = makeTmpDir('nc-ldap-seed-');
  fs.mkdirSync(path.join(dir, 'db'));
  const conf = path.join(dir, 'slapd.conf');
  fs.writeFileSync(
    conf,
    [
      ...['core', 'cosine', 'nis', 'inetorgperson'].map((x) => `include /etc/ldap/schema/${x}.schema`),
      `pidfile ${path.join(dir, 'slapd.pid')}`,
      `argsfile ${path.join(dir, 'slapd.args')}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'database mdb',
      'maxsize 10485760',
      `suffix "${root}"`,
      `rootdn "cn=${env['LDAP_ADMIN_USERNAME']},${root}"`,
      `directory ${path.join(dir, 'db')}`,
      'access to * by * read',
      '',
    ].join('\n'),
  );
  for (const f of ldifs) {
    const r = runTool('slapadd', ['-f', conf, '-l', f], { timeoutMs: 30_000 });
    expect([path.basename(f), r.code, r.stderr.split('\n').filter((l) => /error|invalid|unknown/i.test(l))]).toEqual([path.basename(f), 0, []]);
  }
  return { dir, conf, root };
}

describe('scripts/dev-certs.sh', () => {
  it('makes a CA and one mesh certificate per hub: verified by openssl, SANs for the compose service, localhost and 127.0.0.1, server+client use', () => {
    for (const hub of HUBS) {
      const cert = path.join(secretsDir, `${hub}.crt`);
      const verify = runTool('openssl', ['verify', '-CAfile', path.join(secretsDir, 'ca.crt'), cert]);
      expect(verify).toMatchObject({ code: 0 });
      expect(verify.stdout.trim()).toBe(`${cert}: OK`);
      expect(certSans(cert).sort()).toEqual([`DNS:${hub}`, 'DNS:localhost', 'IP:127.0.0.1'].sort());
      const c = certChecks(cert, path.join(secretsDir, `${hub}.key`), path.join(secretsDir, 'ca.crt'));
      expect(c).toEqual({ signedByCa: true, keyMatches: true, eku: expect.arrayContaining([EKU_SERVER, EKU_CLIENT]) });
    }
    const k8s = path.join(secretsDir, 'k8s-mesh.crt');
    expect(runTool('openssl', ['verify', '-CAfile', path.join(secretsDir, 'ca.crt'), k8s]).code).toBe(0);
    expect(certSans(k8s)).toEqual(expect.arrayContaining(['DNS:*.nowconnect-cloud-mesh.nowconnect.svc.cluster.local', 'DNS:nowconnect-cloud-mesh']));
  });

  it('makes an agent token the hubs accept: HS256 with jwt-secret, aud nowconnect, sub = the agent id, scoped to its connectors', async () => {
    const secret = fs.readFileSync(path.join(secretsDir, 'jwt-secret'), 'utf8').trim();
    const token = fs.readFileSync(path.join(secretsDir, 'agent-token'), 'utf8').trim();
    const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(secret), { audience: 'nowconnect' });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('dev-agent-1');
    expect(payload.scope).toBe('connector:addomain');
    expect(payload.exp).toBeGreaterThan(Date.now() / 1000 + 30 * 86400);
  });
});

describe('docker-compose.yml (validated by `docker-compose config`)', () => {
  it('has the services of the user guide, Redis and a second hub; Prometheus and Grafana only in the observability profile', () => {
    const names = Object.keys(compose.services).sort();
    expect(names).toEqual(['grafana', 'nowconnect-cloud', 'nowconnect-cloud-b', 'nowconnect-premise', 'openldap', 'prometheus', 'redis']);
    for (const [name, s] of Object.entries(compose.services)) {
      expect([name, s.profiles ?? []]).toEqual([name, ['prometheus', 'grafana'].includes(name) ? ['observability'] : []]);
    }
    for (const name of [...HUBS, 'nowconnect-premise']) {
      expect(service(name).build).toEqual({ context: ROOT, target: name === 'nowconnect-premise' ? 'agent' : 'hub' });
      expect(service(name).read_only).toBe(true);
    }
  });

  it('every file it mounts exists on the host and parses (YAML, JSON, LDIF), including the observability files', () => {
    const checked: string[] = [];
    for (const name of Object.keys(compose.services)) {
      for (const [dst, src] of mounts(name)) {
        expect([name, dst, fs.existsSync(src)]).toEqual([name, dst, true]);
        for (const f of filesUnder(src)) {
          parseMountedFile(f);
          checked.push(path.relative(ROOT, f));
        }
      }
    }
    expect(checked).toEqual(expect.arrayContaining(['deploy/compose/cloud.yaml', 'deploy/compose/premise.yaml', 'deploy/compose/prometheus.yml']));
    expect(checked.some((f) => f.startsWith('deploy/prometheus/rules/'))).toBe(true);
  });

  it.each(HUBS)('%s: its cloud.yaml parses with our loader and the env compose sets — HA active, mesh mTLS on mounted files, ports published', (name) => {
    const cfg = hubConfig(name);
    const s = service(name);
    const env = s.environment ?? {};
    expect(cfg.ha).toMatchObject({ enabled: true, mode: 'active', replicaId: env['NC_REPLICA_ID'], redisUrl: 'redis://redis:6379/0' });
    expect(Object.keys(compose.services)).toContain(new URL(cfg.ha.redisUrl!).hostname);
    // The mesh: this hub's advertised URL is its own service name on the mTLS listener; its peers are the hubs.
    const adv = new URL(cfg.ha.mesh.advertiseUrl!);
    expect([adv.protocol, adv.hostname, Number(adv.port), adv.pathname]).toEqual(['wss:', name, cfg.ha.mesh.listen!.port, '/mesh']);
    expect(s.hostname).toBe(name);
    expect(cfg.ha.mesh.peers.map((p) => new URL(p).hostname).sort()).toEqual([...HUBS].sort());
    expect(cfg.ha.mesh.requireMtls).toBe(true);
    const tls = cfg.ha.mesh.tls;
    const [ca, cert, key] = [tls.caBundle!, tls.certFile!, tls.keyFile!].map((p) => hostPath(name, p)) as [string, string, string];
    expect(certChecks(cert, key, ca)).toEqual({ signedByCa: true, keyMatches: true, eku: expect.arrayContaining([EKU_SERVER, EKU_CLIENT]) });
    expect(certSans(cert)).toContain(`DNS:${name}`);
    // The JWT secret is a mounted file (never in the image).
    expect(cfg.auth.key.kind).toBe('hs256_secret_file');
    expect(fs.readFileSync(hostPath(name, cfg.auth.key.path), 'utf8')).toBe(fs.readFileSync(path.join(secretsDir, 'jwt-secret'), 'utf8'));
    // Drain fits in the stop grace period; HTTP and listener ports are published.
    expect(seconds(s.stop_grace_period)).toBeGreaterThan(cfg.server.drainTimeoutSec);
    const targets = (s.ports ?? []).map((p) => Number(p.target)).sort();
    expect(targets).toEqual([cfg.server.bind.port, ...cfg.listeners.map((l) => l.bind.port)].sort());
  });

  it('both hubs share one config file but differ in replica id and advertised mesh URL', () => {
    const [a, b] = HUBS.map(hubConfig) as [CloudConfig, CloudConfig];
    expect(a.ha.replicaId).not.toBe(b.ha.replicaId);
    expect(a.ha.mesh.advertiseUrl).not.toBe(b.ha.mesh.advertiseUrl);
    expect({ ...a.listeners[0], allowCidrs: undefined }).toEqual({ ...b.listeners[0], allowCidrs: undefined });
  });

  it('nowconnect-premise: premise.yaml parses with our loader; hub URLs, token and connector target match the other services', async () => {
    const name = 'nowconnect-premise';
    const env = service(name).environment ?? {};
    const cfg = loadPremiseConfig({ ...env, NC_CONFIG: hostPath(name, env['NC_CONFIG']!) });
    expect(cfg.cloudUrls.map((u) => new URL(u).hostname)).toEqual([...HUBS]);
    for (const u of cfg.cloudUrls.map((x) => new URL(x))) {
      expect([u.protocol, Number(u.port), u.pathname]).toEqual(['ws:', hubConfig(u.hostname).server.bind.port, '/tunnel']);
    }
    const connectors = new Set(hubConfig('nowconnect-cloud').listeners.map((l) => l.connector));
    expect(cfg.connectors.map((c) => c.name).every((n) => connectors.has(n))).toBe(true);
    const ldap = service('openldap').environment ?? {};
    expect(cfg.connectors.map((c) => [c.target.host, c.target.port])).toEqual([['openldap', Number(ldap['LDAP_PORT_NUMBER'])]]);
    // The token file is a mounted secret that the hubs' secret verifies, issued to this agent.
    if (cfg.token.kind !== 'file') throw new Error('expected a token file');
    const token = fs.readFileSync(hostPath(name, cfg.token.path), 'utf8').trim();
    const secret = fs.readFileSync(hostPath('nowconnect-cloud', hubConfig('nowconnect-cloud').auth.key.path), 'utf8').trim();
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { audience: 'nowconnect' });
    expect(payload.sub).toBe(cfg.agentId);
    expect(Object.keys(service(name).depends_on ?? {}).sort()).toEqual([...HUBS, 'openldap'].sort());
  });

  it('openldap: the mounted seed LDIF loads into a real OpenLDAP database (slapadd, standard schemas) under LDAP_ROOT', () => {
    const { conf, root } = seedLdapDb();
    const cat = runTool('slapcat', ['-f', conf], { timeoutMs: 30_000 });
    expect(cat.code).toBe(0);
    const dns = cat.stdout.split('\n').filter((l) => l.startsWith('dn: '));
    expect(dns[0]).toBe(`dn: ${root}`);
    expect(dns.length).toBeGreaterThan(1);
  });

  it('prometheus: promtool accepts the scrape config; it scrapes both hubs on server.bind /metrics and loads the mounted rules', () => {
    const cfgFile = hostPath('prometheus', '/etc/prometheus/prometheus.yml');
    const check = runTool('promtool', ['check', 'config', '--syntax-only', cfgFile]);
    expect([check.code, check.stderr]).toEqual([0, '']);
    const prom = parseYaml(fs.readFileSync(cfgFile, 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{ metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const job = prom.scrape_configs[0]!;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job.static_configs.flatMap((s) => s.targets).sort()).toEqual(HUBS.map((h) => `${h}:${hubConfig(h).server.bind.port}`).sort());
    // rule_files point into the mounted rules directory, and promtool accepts every rules file there.
    const rulesHost = hostPath('prometheus', '/etc/prometheus/rules');
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/*.yml']);
    const ruleFiles = filesUnder(rulesHost).filter((f) => f.endsWith('.yml'));
    expect(ruleFiles.length).toBeGreaterThan(0);
    const rules = runTool('promtool', ['check', 'rules', ...ruleFiles]);
    expect([rules.code, rules.stderr]).toEqual([0, '']);
  });

  it('grafana: provisioning and dashboards directories are mounted where Grafana reads them', () => {
    const m = mounts('grafana');
    expect([...m.keys()].sort()).toEqual(['/etc/grafana/provisioning', '/var/lib/grafana/dashboards']);
    expect(path.relative(ROOT, m.get('/etc/grafana/provisioning')!)).toBe('deploy/grafana/provisioning');
    expect(path.relative(ROOT, m.get('/var/lib/grafana/dashboards')!)).toBe('deploy/grafana/dashboards');
  });
});

/**
 * The compose stack as plain processes: the hubs and the agent from dist/ with the compose config files
 * and dev secrets, a real redis-server and an slapd loaded with the compose seed. Only addresses are
 * translated (service:port -> 127.0.0.1:free port, cert SAN IP:127.0.0.1); everything else is the files.
 */
describe('the compose stack without a container engine', () => {
  type Raw = Record<string, any>;
  type HubRun = { proc: Proc; http: string; ldap: number };
  const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));

  it('two hubs link over mesh mTLS; the agent serves OpenLDAP; ldapsearch through either hub (the one without the agent: across the mesh) returns the seed; counters move', async () => {
    requireBuilt(HUB_MAIN);
    requireBuilt(AGENT_MAIN);
    const redis = await startRedis();
    try {
      const { dir, conf, root } = seedLdapDb();
      const ldapPort = await freePort();
      const ldapUrl = `ldap://127.0.0.1:${ldapPort}`;
      const slapd = new Proc(findBin('slapd'), ['-d', '0', '-f', conf, '-h', `${ldapUrl}/`], { name: 'slapd(compose seed)', cwd: dir });
      await pollUntil(async () => ((await ldapsearch(ldapUrl, '', '(objectClass=*)', { scope: 'base', timeoutMs: 3000 })).code === 0 ? true : undefined), {
        timeoutMs: 30_000,
        what: 'slapd',
        abort: () => (slapd.running ? undefined : slapd.tail()),
      });

      // service:containerPort -> local port
      const ports = new Map<string, number>([[`redis:6379`, redis.port], [`openldap:${service('openldap').environment?.['LDAP_PORT_NUMBER']}`, ldapPort]]);
      for (const hub of HUBS) {
        const cfg = hubConfig(hub);
        for (const p of [cfg.server.bind.port, cfg.ha.mesh.listen!.port, ...cfg.listeners.map((l) => l.bind.port)]) ports.set(`${hub}:${p}`, await freePort());
      }
      const local = (svc: string, port: number): number => {
        const p = ports.get(`${svc}:${port}`);
        if (p === undefined) throw new Error(`no local port for ${svc}:${port}`);
        return p;
      };
      const url = (u: string): string => {
        const x = new URL(u);
        x.port = String(local(x.hostname, Number(x.port)));
        x.hostname = '127.0.0.1';
        return x.toString().replace(/\/$/, '');
      };

      const hubs = new Map<string, HubRun>();
      for (const hub of HUBS) {
        const env = { ...(service(hub).environment ?? {}) };
        const raw = parseYaml(fs.readFileSync(hostPath(hub, env['NC_CONFIG']!), 'utf8')) as Raw;
        raw['server'].bind = `127.0.0.1:${local(hub, portOf(raw['server'].bind))}`;
        for (const l of raw['listeners']) l.bind = `127.0.0.1:${local(hub, portOf(l.bind))}`;
        raw['auth'].hs256_secret_file = hostPath(hub, raw['auth'].hs256_secret_file);
        const ha = raw['ha'];
        ha.redis_url = url(ha.redis_url);
        ha.mesh.listen = `127.0.0.1:${local(hub, portOf(ha.mesh.listen))}`;
        ha.mesh.advertise_url = url(ha.mesh.advertise_url);
        ha.mesh.peers = ha.mesh.peers.map(url);
        for (const k of ['ca_bundle', 'cert_file', 'key_file']) ha.mesh.tls[k] = hostPath(hub, ha.mesh.tls[k]);
        const file = path.join(makeTmpDir('nc-compose-hub-'), 'cloud.yaml');
        fs.writeFileSync(file, stringify(raw));
        env['NC_CONFIG'] = file;
        env['NC_MESH_ADVERTISE_URL'] = url(env['NC_MESH_ADVERTISE_URL']!);
        const proc = Proc.node(HUB_MAIN, [], { name: hub, env, cwd: path.dirname(file) });
        const cfg = hubConfig(hub);
        hubs.set(hub, { proc, http: `http://127.0.0.1:${local(hub, cfg.server.bind.port)}`, ldap: local(hub, cfg.listeners[0]!.bind.port) });
      }
      const [a, b] = HUBS.map((h) => hubs.get(h)!) as [HubRun, HubRun];
      await Promise.all([a, b].map((h) => h.proc.waitForEvent('mesh_link_up', undefined, 60_000)));
      // The link was dialed over wss:// to the peer's TLS mesh listener, which requires a CA-signed client certificate.
      // Both hubs dial their static peer at start (peer ids still unknown), so a hub's first mesh_link_up may be the
      // acceptor side of the other hub's dial (no url) while its own dial is still in the handshake: wait for the
      // dialer side itself. The preferred dialer's link is the one the tie-break keeps, so one always comes up.
      const dialed = await Promise.any([a, b].map((h) => h.proc.waitForEvent('mesh_link_up', (e) => e['role'] === 'dialer', 60_000)));
      expect(String(dialed['url'])).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\//);
      for (const h of [a, b]) await waitForHttpStatus(`${h.http}/readyz`, 200, { timeoutMs: 60_000, abort: () => (h.proc.running ? undefined : h.proc.tail()) });

      const agentEnv = { ...(service('nowconnect-premise').environment ?? {}) };
      const raw = parseYaml(fs.readFileSync(hostPath('nowconnect-premise', agentEnv['NC_CONFIG']!), 'utf8')) as Raw;
      raw['cloud_url'] = raw['cloud_url'].map(url);
      // One link: this test proves the mesh path (mTLS, forwarding) with the compose files, so one hub must
      // be without the agent. With the default links: 2 the agent holds both hubs and no flow crosses the
      // mesh (test/agent-links-ha.e2e-spec.ts, test/holders.e2e-spec.ts).
      raw['links'] = 1;
      raw['token_file'] = hostPath('nowconnect-premise', raw['token_file']);
      for (const c of raw['connectors']) {
        const [host, port] = [c.target.slice(0, c.target.lastIndexOf(':')), portOf(c.target)];
        c.target = `127.0.0.1:${local(host, port)}`;
      }
      const agentFile = path.join(makeTmpDir('nc-compose-agent-'), 'premise.yaml');
      fs.writeFileSync(agentFile, stringify(raw));
      const agent = Proc.node(AGENT_MAIN, [], { name: 'nowconnect-premise', env: { ...agentEnv, NC_CONFIG: agentFile }, cwd: path.dirname(agentFile) });
      // The agent dials the first URL of its fail-over list (hub-a); whichever hub it lands on owns it.
      const claimed = (h: HubRun): Promise<HubRun> => h.proc.waitForEvent('ownership_claimed', (e) => e['agent_id'] === 'dev-agent-1', 60_000).then(() => h);
      const owner = await Promise.any([claimed(a), claimed(b)]);
      const origin = owner === a ? b : a;
      const ownerId = service(owner === a ? HUBS[0] : HUBS[1]).environment?.['NC_REPLICA_ID'];
      expect(agent.running).toBe(true);

      // The guide's ping-pong through each hub's LDAP listener: the owner serves locally, the other forwards over the mesh.
      for (const h of [a, b]) {
        const r = await ldapsearch(`ldap://127.0.0.1:${h.ldap}`, root, '(uid=alice)', { attrs: ['mail'], timeoutMs: 20_000 });
        expect([r.code, r.stdout.trim()]).toEqual([0, `dn: uid=alice,ou=people,${root}\nmail: alice@example.org`]);
        for (const direction of ['c2a', 'a2c']) {
          expect(await waitForMetric(h.http, 'nowconnect_tcp_bytes_total', { direction, connector: 'addomain' }, (v) => v > 0)).toBeGreaterThan(0);
        }
      }
      const originMetrics = await (await fetch(`${origin.http}/metrics`)).text();
      expect(metricValue(originMetrics, 'nowconnect_flows_total', { path: 'cross_replica' })).toBeGreaterThanOrEqual(1);
      // The hub's log arrives on its own pipe, not in step with ldapsearch's answer: wait for the line.
      await origin.proc.waitForEvent('connection_open', (e) => e['path'] === 'cross_replica' && e['owner_replica'] === ownerId, 20_000);
    } finally {
      await redis.stop();
    }
  });
});

describe('Dockerfile (static: no engine here)', () => {
  const docker = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const inStage = (stage: string, op: string): string[] => docker.instructions.filter((i) => i.stage === stage && i.op === op).map((i) => i.args);
  /** A stage's instructions including those of the stages it is built FROM. */
  const lineage = (stage: string, op: string): string[] => {
    const s = docker.stages.find((x) => x.name === stage);
    if (s === undefined) throw new Error(`no stage ${stage}`);
    const parent = docker.stages.some((x) => x.name === s.from) ? lineage(s.from, op) : [];
    return [...parent, ...inStage(stage, op)];
  };

  it('is multi-stage: the hub (default, last) and agent targets run production dependencies only, as a non-root user', () => {
    expect(docker.stages.map((s) => s.name)).toEqual(expect.arrayContaining(['build', 'deps', 'runtime', 'agent', 'hub']));
    expect(docker.stages[docker.stages.length - 1]!.name).toBe('hub');
    expect(inStage('deps', 'RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(inStage('build', 'RUN').some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    for (const target of ['hub', 'agent']) {
      const copies = lineage(target, 'COPY');
      expect(copies.filter((c) => c.includes('node_modules'))).toEqual([expect.stringContaining('--from=deps')]);
      const users = lineage(target, 'USER');
      expect(users.length).toBeGreaterThan(0);
      expect(users[users.length - 1]!.split(':')[0]).not.toMatch(/^(root|0)$/);
    }
    expect(execForm(inStage('hub', 'CMD')[0]!)).toEqual(['node', 'dist/apps/cloud-hub/main.js']);
    expect(execForm(inStage('agent', 'CMD')[0]!)).toEqual(['node', 'dist/apps/premise-agent/main.js']);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start:hub']).toBe('node dist/apps/cloud-hub/main.js');
    expect(pkg.scripts['start:agent']).toBe('node dist/apps/premise-agent/main.js');
  });

  it('bakes in no config, secret or certificate; the build context excludes them', () => {
    for (const c of docker.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
      const sources = c.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const src of sources) expect(src).not.toMatch(/(^|\/)(config|\.run|secrets?|certs?|deploy)(\/|$)|\.(pem|key|crt|ya?ml)$|token|secret/i);
    }
    const ignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['config/cloud.yaml', 'config/dev-secret', '.run/compose/jwt-secret', 'deploy/compose/cloud.yaml', 'deploy/k8s/base/kustomization.yaml', 'node_modules/ws/index.js', 'dist/apps/cloud-hub/main.js', '.git/HEAD']) {
      expect([p, dockerIgnored(ignore, p)]).toEqual([p, true]);
    }
    for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'nest-cli.json', 'apps/cloud-hub/src/main.ts', 'libs/frames/src/index.ts']) {
      expect([p, dockerIgnored(ignore, p)]).toEqual([p, false]);
    }
  });

  it('the hub HEALTHCHECK probes /healthz on server.bind; EXPOSE covers the compose hub ports; the agent has no HTTP to probe', () => {
    const hc = inStage('hub', 'HEALTHCHECK');
    expect(hc).toHaveLength(1);
    const cmd = execForm(hc[0]!.replace(/^.*?\bCMD\b/s, ''));
    expect(cmd?.slice(0, 2)).toEqual(['node', '-e']);
    const env = Object.fromEntries(lineage('hub', 'ENV').map((e) => e.split('=') as [string, string]));
    const url = new URL(env['NC_HEALTHCHECK_URL']!);
    const cfg = hubConfig('nowconnect-cloud');
    expect([url.pathname, Number(url.port), url.protocol]).toEqual(['/healthz', cfg.server.bind.port, cfg.server.tls ? 'https:' : 'http:']);
    expect(env['NC_CONFIG']).toBe(service('nowconnect-cloud').environment?.['NC_CONFIG']);
    const exposed = inStage('hub', 'EXPOSE').flatMap((e) => e.split(/\s+/)).map(Number);
    expect(exposed.sort()).toEqual([cfg.server.bind.port, cfg.ha.mesh.listen!.port, ...cfg.listeners.map((l) => l.bind.port)].sort());
    expect(inStage('agent', 'HEALTHCHECK')).toEqual(['NONE']);
    expect(inStage('agent', 'EXPOSE')).toEqual([]);
  });
});
