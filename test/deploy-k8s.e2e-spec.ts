/**
 * Operations (issue 5, item 3): deploy/k8s. No cluster: the kustomizations are rendered by the real
 * `kubectl kustomize` (test/support/kustomize.ts), every object is validated against the Kubernetes /
 * Prometheus Operator schemas (kubernetes-models), and the Deployments are checked against what the
 * hub really parses (our loader on the rendered ConfigMap) and really serves — a hub is started from
 * dist/ with the rendered ConfigMap and Secrets as its pod filesystem, through the container's own
 * command, and answers the probes the Deployment names.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { loadCloudConfig, loadPremiseConfig, type CloudConfig } from '@nowconnect/ha-config';
import { AGENT_MAIN, HUB_MAIN, cleanupAll, freePort, makeTmpDir, requireBuilt, startRedis, type RedisHandle } from './support';
import { Proc } from './support/proc';
import { httpRequest, waitForHttpStatus } from './support/http';
import { certChecks, envWithout, execForm, parseDockerfile, runTool, sansCover } from './support/deploy';
import { kubectlPath, kustomizeBuild, type K8sObject } from './support/kustomize';
import { strictFieldErrors } from './support/k8s-types';

const ROOT = path.resolve(__dirname, '..');
const promRuleGen = require(path.join(ROOT, 'scripts/gen-k8s-prometheusrule.js')) as { render(text: string): string; RULES: string; OUT: string };

type Obj = Record<string, unknown>;
interface Probe {
  httpGet?: { path: string; port: string | number; scheme?: string };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: Obj }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: Obj }>;
  terminationGracePeriodSeconds?: number;
  topologySpreadConstraints?: Array<{ topologyKey: string; whenUnsatisfiable: string; labelSelector: { matchLabels: Record<string, string> } }>;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
}

const VARIANTS = ['base', 'overlays/single', 'overlays/ha', 'premise'] as const;
type Variant = (typeof VARIANTS)[number];
const rendered = new Map<Variant, K8sObject[]>();
let k8sDir: string;

/** Fake downward-API values for env resolution (what the kubelet would fill in). */
const POD = { 'metadata.name': 'nowconnect-cloud-5d8f7c9b6d-x7k2p', 'metadata.namespace': 'nowconnect', 'status.podIP': '10.1.2.3' };

beforeAll(() => {
  // A copy of deploy/k8s whose secrets/ dirs (git-ignored) hold fresh dev secrets from scripts/dev-certs.sh.
  k8sDir = path.join(makeTmpDir('nc-deploy-k8s-'), 'k8s');
  fs.cpSync(path.join(ROOT, 'deploy/k8s'), k8sDir, { recursive: true, filter: (src) => !src.split(path.sep).includes('secrets') });
  const secrets = path.join(k8sDir, 'overlays/ha/secrets');
  const r = runTool('bash', [path.join(ROOT, 'scripts/dev-certs.sh'), secrets, 'nowconnect']);
  if (r.code !== 0) throw new Error(`dev-certs.sh: ${r.stderr}`);
  for (const d of ['overlays/single/secrets', 'premise/secrets']) fs.cpSync(secrets, path.join(k8sDir, d), { recursive: true });
  for (const v of VARIANTS) rendered.set(v, kustomizeBuild(path.join(k8sDir, v)));
});

afterAll(async () => {
  await cleanupAll();
});

function objects(v: Variant): K8sObject[] {
  const objs = rendered.get(v);
  if (objs === undefined) throw new Error(`${v} not rendered`);
  return objs;
}
function one(v: Variant, kind: string, name: string): K8sObject {
  const hits = objects(v).filter((o) => o.kind === kind && (o.metadata.name === name || new RegExp(`^${name}-[a-z0-9]{10}$`).test(o.metadata.name)));
  if (hits.length !== 1) throw new Error(`${v}: ${hits.length} ${kind} named ${name}`);
  return hits[0]!;
}
function podSpec(d: K8sObject): PodSpec {
  return ((d['spec'] as Obj)['template'] as Obj)['spec'] as PodSpec;
}
function container(d: K8sObject): Container {
  const c = podSpec(d).containers;
  expect(c).toHaveLength(1);
  return c[0]!;
}

/** The files a container sees under each mountPath: ConfigMap and Secret data (decoded), by volume. */
function podFiles(v: Variant, d: K8sObject): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const m of container(d).volumeMounts ?? []) {
    const vol = (podSpec(d).volumes ?? []).find((x) => x.name === m.name);
    if (vol === undefined) throw new Error(`volumeMount ${m.name} has no volume`);
    if (vol.configMap !== undefined) {
      const cm = objects(v).find((o) => o.kind === 'ConfigMap' && o.metadata.name === vol.configMap!.name);
      if (cm === undefined) throw new Error(`ConfigMap ${vol.configMap.name} not rendered`);
      for (const [k, text] of Object.entries(cm['data'] as Record<string, string>)) files.set(`${m.mountPath}/${k}`, Buffer.from(text));
    } else if (vol.secret !== undefined) {
      const s = objects(v).find((o) => o.kind === 'Secret' && o.metadata.name === vol.secret!.secretName);
      if (s === undefined) throw new Error(`Secret ${vol.secret.secretName} not rendered`);
      for (const [k, b64] of Object.entries(s['data'] as Record<string, string>)) files.set(`${m.mountPath}/${k}`, Buffer.from(b64, 'base64'));
    }
  }
  return files;
}

/** Container env as the kubelet would set it (downward API from POD; optional absent secret refs unset). */
function containerEnv(c: Container, secretValues: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const field = (e.valueFrom?.['fieldRef'] as { fieldPath?: string } | undefined)?.fieldPath;
    if (field !== undefined) env[e.name] = POD[field as keyof typeof POD];
    const sref = e.valueFrom?.['secretKeyRef'] as { name: string; key: string; optional?: boolean } | undefined;
    if (sref !== undefined) {
      const val = secretValues[`${sref.name}/${sref.key}`];
      if (val !== undefined) env[e.name] = val;
      else if (sref.optional !== true) throw new Error(`${e.name}: required secret ${sref.name}/${sref.key}`);
    }
  }
  return env;
}

/** Write the pod's files under `dir` (mountPath prefixed) and return container path -> host path. */
function materialize(files: Map<string, Buffer>, dir: string): (p: string) => string {
  for (const [p, buf] of files) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), buf);
  }
  return (p: string) => {
    if (!files.has(p)) throw new Error(`${p} is not in the pod's mounted files`);
    return path.join(dir, p);
  };
}

/** The hub's cloud.yaml parsed by OUR loader with the container's env, from the rendered objects. */
function hubConfig(v: Variant): { cfg: CloudConfig; env: Record<string, string>; files: Map<string, Buffer>; host: (p: string) => string } {
  const d = one(v, 'Deployment', 'nowconnect-cloud');
  const env = containerEnv(container(d));
  const files = podFiles(v, d);
  const host = materialize(files, makeTmpDir('nc-k8s-pod-'));
  const cfg = loadCloudConfig({ ...env, NC_CONFIG: host(env['NC_CONFIG']!) });
  return { cfg, env, files, host };
}

function portNumber(c: Container, port: string | number): number {
  if (typeof port === 'number') return port;
  const p = (c.ports ?? []).find((x) => x.name === port);
  if (p === undefined) throw new Error(`no containerPort named ${port}`);
  return p.containerPort;
}

function preStopSeconds(c: Container): number {
  const ps = c.lifecycle?.preStop;
  if (ps?.sleep !== undefined) return ps.sleep.seconds;
  const cmd = ps?.exec?.command ?? [];
  if (cmd[0] === 'sleep') return Number(cmd[1]);
  return 0;
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Namespace': Namespace,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

describe('kubectl kustomize', () => {
  it('is kubectl with kustomize v5 (what `kubectl apply -k` uses on a cluster)', () => {
    const v = execFileSync(kubectlPath(), ['version', '--client'], { encoding: 'utf8', timeout: 30_000 });
    expect(v).toMatch(/^Kustomize Version: v5\./m);
  });

  it('renders base, both overlays and the premise kustomization; generated names carry the hash and every reference follows', () => {
    const summary = Object.fromEntries(VARIANTS.map((v) => [v, objects(v).map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort()]));
    expect(summary).toEqual({
      base: ['ConfigMap/nowconnect-cloud-config-<hash>', 'Deployment/nowconnect-cloud', 'NetworkPolicy/nowconnect-cloud', 'PodDisruptionBudget/nowconnect-cloud', 'PrometheusRule/nowconnect', 'Service/nowconnect-cloud', 'ServiceMonitor/nowconnect-cloud'],
      'overlays/single': ['ConfigMap/nowconnect-cloud-config-<hash>', 'Deployment/nowconnect-cloud', 'Namespace/nowconnect', 'NetworkPolicy/nowconnect-cloud', 'PodDisruptionBudget/nowconnect-cloud', 'PrometheusRule/nowconnect', 'Secret/nowconnect-jwt-<hash>', 'Service/nowconnect-cloud', 'ServiceMonitor/nowconnect-cloud'],
      'overlays/ha': ['ConfigMap/nowconnect-cloud-config-<hash>', 'Deployment/nowconnect-cloud', 'Namespace/nowconnect', 'NetworkPolicy/nowconnect-cloud', 'NetworkPolicy/nowconnect-cloud-mesh', 'PodDisruptionBudget/nowconnect-cloud', 'PrometheusRule/nowconnect', 'Secret/nowconnect-jwt-<hash>', 'Secret/nowconnect-mesh-tls-<hash>', 'Service/nowconnect-cloud', 'Service/nowconnect-cloud-mesh', 'ServiceMonitor/nowconnect-cloud'],
      premise: ['ConfigMap/nowconnect-premise-config-<hash>', 'Deployment/nowconnect-premise', 'Namespace/nowconnect-premise', 'NetworkPolicy/nowconnect-premise', 'Secret/nowconnect-agent-token-<hash>'],
    });
    for (const v of ['overlays/single', 'overlays/ha', 'premise'] as const) {
      const ns = v === 'premise' ? 'nowconnect-premise' : 'nowconnect';
      for (const o of objects(v)) {
        if (o.kind === 'Namespace') expect([o.metadata.name, o.metadata.namespace]).toEqual([ns, undefined]);
        else expect([v, o.kind, o.metadata.name, o.metadata.namespace]).toEqual([v, o.kind, o.metadata.name, ns]);
      }
      for (const d of objects(v).filter((o) => o.kind === 'Deployment')) {
        for (const vol of podSpec(d).volumes ?? []) {
          const ref = vol.configMap?.name ?? vol.secret?.secretName;
          if (ref === undefined) continue;
          expect([vol.name, objects(v).some((o) => (o.kind === 'ConfigMap' || o.kind === 'Secret') && o.metadata.name === ref)]).toEqual([vol.name, true]);
          expect(ref).toMatch(/-[a-z0-9]{10}$/);
        }
      }
    }
  });
});

describe.each(VARIANTS)('deploy/k8s/%s', (v) => {
  it('every object validates against the Kubernetes / Prometheus Operator schema', () => {
    for (const o of objects(v)) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      if (Model === undefined) throw new Error(`no schema model for ${o.apiVersion} ${o.kind}`);
      expect(() => new Model(o as never).validate()).not.toThrow();
      expect(o.metadata.labels?.['app.kubernetes.io/part-of']).toBe('nowconnect');
    }
  });
});

describe('every rendered object, all kustomizations', () => {
  it('has only fields its API type knows (TypeScript excess-property check; a planted typo is caught)', () => {
    const all = VARIANTS.flatMap((v) => objects(v));
    // Negative control in the same compile: a Deployment with a misspelt probe field must be reported.
    const typo = structuredClone(one('overlays/ha', 'Deployment', 'nowconnect-cloud'));
    typo.metadata.name = 'planted-typo';
    const c = container(typo) as unknown as Obj;
    c['readinesProbe'] = c['readinessProbe'];
    delete c['readinessProbe'];
    const errors = strictFieldErrors([...all, typo]);
    expect(errors).toEqual([expect.stringMatching(/^Deployment\/planted-typo: .*readinesProbe/)]);
  });
});

describe.each(['overlays/single', 'overlays/ha'] as const)('hub Deployment in %s', (v) => {
  it('probes: startup and liveness /healthz, readiness /readyz, on the containerPort of server.bind from the ConfigMap (parsed by our loader)', () => {
    const { cfg } = hubConfig(v);
    const c = container(one(v, 'Deployment', 'nowconnect-cloud'));
    const probes = { startup: c.startupProbe?.httpGet, liveness: c.livenessProbe?.httpGet, readiness: c.readinessProbe?.httpGet };
    expect({ startup: probes.startup?.path, liveness: probes.liveness?.path, readiness: probes.readiness?.path }).toEqual({ startup: '/healthz', liveness: '/healthz', readiness: '/readyz' });
    for (const p of Object.values(probes)) {
      expect(portNumber(c, p!.port)).toBe(cfg.server.bind.port);
      expect(p!.scheme ?? 'HTTP').toBe(cfg.server.tls ? 'HTTPS' : 'HTTP');
    }
    // The startup probe allows a slow start (under load) before liveness takes over.
    expect((c.startupProbe!.periodSeconds ?? 10) * (c.startupProbe!.failureThreshold ?? 3)).toBeGreaterThanOrEqual(30);
  });

  it('drain: terminationGracePeriodSeconds > preStop sleep + server.drain_timeout_sec', () => {
    const { cfg } = hubConfig(v);
    const d = one(v, 'Deployment', 'nowconnect-cloud');
    const preStop = preStopSeconds(container(d));
    expect(preStop).toBeGreaterThan(0);
    expect(podSpec(d).terminationGracePeriodSeconds).toBeGreaterThan(preStop + cfg.server.drainTimeoutSec);
  });

  it('ports: containerPorts and the Service match server.bind and every listener; file paths in cloud.yaml are mounted from Secrets', () => {
    const { cfg, files } = hubConfig(v);
    const c = container(one(v, 'Deployment', 'nowconnect-cloud'));
    const containerPorts = (c.ports ?? []).map((p) => p.containerPort).sort();
    const expected = [cfg.server.bind.port, ...cfg.listeners.map((l) => l.bind.port), ...(cfg.ha.mesh.listen && cfg.ha.enabled ? [cfg.ha.mesh.listen.port] : [])];
    expect(containerPorts).toEqual(expected.sort());
    const svc = one(v, 'Service', 'nowconnect-cloud');
    const svcTargets = ((svc['spec'] as Obj)['ports'] as Array<{ targetPort: string | number }>).map((p) => portNumber(c, p.targetPort)).sort();
    expect(svcTargets).toEqual([cfg.server.bind.port, ...cfg.listeners.map((l) => l.bind.port)].sort());
    const needed = [cfg.auth.key.path, ...(cfg.ha.enabled ? [cfg.ha.mesh.tls.caBundle, cfg.ha.mesh.tls.certFile, cfg.ha.mesh.tls.keyFile] : [])];
    for (const p of needed) expect([p, files.has(p!)]).toEqual([p, true]);
  });

  it('runs non-root as the image user, with NC_REPLICA_ID = the pod name and the image of the Dockerfile hub target', () => {
    const d = one(v, 'Deployment', 'nowconnect-cloud');
    const { env, cfg } = hubConfig(v);
    expect(env['NC_REPLICA_ID']).toBe(POD['metadata.name']);
    expect(cfg.ha.replicaId).toBe(POD['metadata.name']);
    const docker = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
    const users = docker.instructions.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(podSpec(d).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(users[users.length - 1]!.split(':')[0]) });
    const hubCmd = execForm(docker.instructions.filter((i) => i.stage === 'hub' && i.op === 'CMD')[0]!.args)!;
    const c = container(d);
    expect(c.image).toBe('nowconnect/cloud-hub:dev');
    if (c.command !== undefined) expect(c.command[c.command.length - 1]).toMatch(new RegExp(`exec ${hubCmd.join(' ')}$`));
  });

  it('PDB, topology spread and NetworkPolicy select the hub pods and allow the ports the hub serves', () => {
    const d = one(v, 'Deployment', 'nowconnect-cloud');
    const podLabels = ((d['spec'] as Obj)['template'] as { metadata: { labels: Record<string, string> } }).metadata.labels;
    const selects = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, val]) => podLabels[k] === val);
    const pdb = one(v, 'PodDisruptionBudget', 'nowconnect-cloud')['spec'] as { maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
    expect(selects(pdb.selector.matchLabels)).toBe(true);
    const replicas = (d['spec'] as { replicas: number }).replicas;
    expect(replicas).toBe(v === 'overlays/ha' ? 3 : 1);
    expect(pdb.maxUnavailable).toBe(1);
    const spread = podSpec(d).topologySpreadConstraints ?? [];
    expect(spread.map((t) => t.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const t of spread) expect(selects(t.labelSelector.matchLabels)).toBe(true);
    expect(spread[0]!.whenUnsatisfiable).toBe(v === 'overlays/ha' ? 'DoNotSchedule' : 'ScheduleAnyway');
    const c = container(d);
    const allowed = new Set<number>();
    for (const np of objects(v).filter((o) => o.kind === 'NetworkPolicy')) {
      const spec = np['spec'] as { podSelector: { matchLabels: Record<string, string> }; ingress?: Array<{ ports?: Array<{ port: string | number }> }> };
      expect(selects(spec.podSelector.matchLabels)).toBe(true);
      for (const rule of spec.ingress ?? []) for (const p of rule.ports ?? []) allowed.add(portNumber(c, p.port));
    }
    expect([...allowed].sort()).toEqual((c.ports ?? []).map((p) => p.containerPort).sort());
  });

  it('ServiceMonitor scrapes /metrics on the http port of the hub Service, job "nowconnect" as in the compose Prometheus', () => {
    const sm = one(v, 'ServiceMonitor', 'nowconnect-cloud')['spec'] as { jobLabel: string; selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> };
    const svc = one(v, 'Service', 'nowconnect-cloud');
    const svcLabels = svc.metadata.labels ?? {};
    expect(Object.entries(sm.selector.matchLabels).every(([k, val]) => svcLabels[k] === val)).toBe(true);
    const mesh = objects(v).find((o) => o.kind === 'Service' && o.metadata.name === 'nowconnect-cloud-mesh');
    if (mesh !== undefined) expect(Object.entries(sm.selector.matchLabels).every(([k, val]) => mesh.metadata.labels?.[k] === val)).toBe(false);
    expect(sm.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    const svcPorts = ((svc['spec'] as Obj)['ports'] as Array<{ name: string }>).map((p) => p.name);
    expect(svcPorts).toContain('http');
    const compose = parseYaml(fs.readFileSync(path.join(ROOT, 'deploy/compose/prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ job_name: string }> };
    expect(svcLabels[sm.jobLabel]).toBe(compose.scrape_configs[0]!.job_name);
  });
});

describe.each(['overlays/single', 'overlays/ha', 'premise'] as const)('Pod Security in %s', (v) => {
  it('the namespace enforces "restricted" and every pod meets it (non-root, no escalation, no capabilities, RuntimeDefault seccomp, allowed volume types)', () => {
    const ns = objects(v).find((o) => o.kind === 'Namespace')!;
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const d of objects(v).filter((o) => o.kind === 'Deployment')) {
      const ps = podSpec(d) as PodSpec & { hostNetwork?: boolean; hostPID?: boolean; securityContext?: { seccompProfile?: { type: string } } };
      expect(ps.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(ps.securityContext?.runAsUser).toBeGreaterThan(0);
      expect([ps.hostNetwork ?? false, ps.hostPID ?? false]).toEqual([false, false]);
      for (const vol of ps.volumes ?? []) {
        expect([vol.name, Object.keys(vol).filter((k) => k !== 'name')]).toEqual([vol.name, [expect.stringMatching(/^(configMap|secret|emptyDir|projected|downwardAPI)$/)]]);
      }
      for (const c of ps.containers as Array<Container & { securityContext?: Obj }>) {
        expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect((c.ports ?? []).every((p) => (p as { hostPort?: number }).hostPort === undefined)).toBe(true);
      }
    }
  });
});

describe('HA overlay specifics', () => {
  it('cloud.yaml: HA enabled in active mode, mesh mTLS on a dedicated port, require_mtls', () => {
    const { cfg } = hubConfig('overlays/ha');
    expect(cfg.ha).toMatchObject({ enabled: true, mode: 'active', readinessDegradedCode: 503 });
    expect(cfg.ha.mesh.requireMtls).toBe(true);
    expect(cfg.ha.mesh.listen?.port).toBeDefined();
    const base = hubConfig('overlays/single').cfg;
    expect(base.ha.enabled).toBe(false);
    expect(cfg.server).toEqual(base.server);
    expect(cfg.listeners).toEqual(base.listeners);
  });

  it('a headless Service (clusterIP None, not-ready addresses published) exposes the mesh port of every hub pod', () => {
    const { cfg } = hubConfig('overlays/ha');
    const mesh = one('overlays/ha', 'Service', 'nowconnect-cloud-mesh')['spec'] as { clusterIP: string; publishNotReadyAddresses: boolean; ports: Array<{ port: number; targetPort: string }> };
    expect(mesh.clusterIP).toBe('None');
    expect(mesh.publishNotReadyAddresses).toBe(true);
    const c = container(one('overlays/ha', 'Deployment', 'nowconnect-cloud'));
    expect(mesh.ports.map((p) => [p.port, portNumber(c, p.targetPort)])).toEqual([[cfg.ha.mesh.listen!.port, cfg.ha.mesh.listen!.port]]);
  });

  it('the mesh Secret holds a CA-signed server+client certificate whose SANs cover the advertised per-pod names', () => {
    const { cfg, host } = hubConfig('overlays/ha');
    const t = cfg.ha.mesh.tls;
    const checks = certChecks(host(t.certFile!), host(t.keyFile!), host(t.caBundle!));
    expect(checks).toEqual({ signedByCa: true, keyMatches: true, eku: expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']) });
    expect(sansCover(host(t.certFile!), '10-1-2-3.nowconnect-cloud-mesh.nowconnect.svc.cluster.local')).toBe(true);
  });
});

describe('premise agent Deployment', () => {
  it('premise.yaml parses with our loader; its token is a mounted Secret; no inbound traffic; connectors are ones the hub listens for', () => {
    const d = one('premise', 'Deployment', 'nowconnect-premise');
    const c = container(d);
    const env = containerEnv(c);
    const files = podFiles('premise', d);
    const host = materialize(files, makeTmpDir('nc-k8s-agent-'));
    const cfg = loadPremiseConfig({ ...env, NC_CONFIG: host(env['NC_CONFIG']!) });
    if (cfg.token.kind !== 'file') throw new Error('expected a token file');
    expect(files.has(cfg.token.path)).toBe(true);
    expect(cfg.cloudUrls.every((u) => new URL(u).pathname === '/tunnel')).toBe(true);
    const hubConnectors = new Set(hubConfig('overlays/ha').cfg.listeners.map((l) => l.connector));
    expect(cfg.connectors.every((x) => hubConnectors.has(x.name))).toBe(true);
    expect(c.image).toBe('nowconnect/premise-agent:dev');
    expect(podSpec(d).securityContext?.runAsNonRoot).toBe(true);
    const np = one('premise', 'NetworkPolicy', 'nowconnect-premise')['spec'] as { policyTypes: string[]; ingress: unknown[] };
    expect(np).toMatchObject({ policyTypes: ['Ingress'], ingress: [] });
  });
});

describe('PrometheusRule', () => {
  it('is generated from deploy/prometheus/rules/nowconnect.rules.yml by scripts/gen-k8s-prometheusrule.js (committed file up to date)', () => {
    const committed = fs.readFileSync(path.join(ROOT, promRuleGen.OUT), 'utf8');
    expect(committed).toBe(promRuleGen.render(fs.readFileSync(path.join(ROOT, promRuleGen.RULES), 'utf8')));
    const check = runTool(process.execPath, [path.join(ROOT, 'scripts/gen-k8s-prometheusrule.js'), '--check'], { cwd: ROOT });
    expect([check.code, check.stderr]).toEqual([0, '']);
    const rules = parseYaml(fs.readFileSync(path.join(ROOT, promRuleGen.RULES), 'utf8')) as { groups: unknown };
    expect((one('overlays/ha', 'PrometheusRule', 'nowconnect')['spec'] as { groups: unknown }).groups).toEqual(rules.groups);
  });
});

/**
 * The real thing: a hub started from dist/ through the Deployment's own command, with the rendered
 * ConfigMap and Secrets written out as its pod filesystem (container paths re-rooted under a temp dir,
 * ports replaced by free ones), answering the probes the Deployment names.
 */
describe('a hub started from the rendered manifests', () => {
  const dockerHealthcheck = (): string[] => {
    const docker = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
    const hc = docker.instructions.find((i) => i.stage === 'hub' && i.op === 'HEALTHCHECK')!;
    return execForm(hc.args.replace(/^.*?\bCMD\b/s, ''))!;
  };

  async function startFromManifests(v: 'overlays/single' | 'overlays/ha', redis?: RedisHandle): Promise<{ proc: Proc; http: number; meshPort?: number; root: string; cfg: CloudConfig }> {
    requireBuilt(HUB_MAIN);
    requireBuilt(AGENT_MAIN);
    const d = one(v, 'Deployment', 'nowconnect-cloud');
    const c = container(d);
    const root = makeTmpDir('nc-k8s-run-');
    const files = podFiles(v, d);
    const env = containerEnv(c, redis ? { 'nowconnect-redis/url': redis.url } : {});
    // Re-root container paths; free ports instead of the pod's fixed ones.
    const raw = parseYaml(files.get(env['NC_CONFIG']!)!.toString('utf8')) as Obj;
    const reroot = (p: unknown): string => path.join(root, String(p));
    const http = await freePort();
    const server = raw['server'] as Obj;
    server['bind'] = `127.0.0.1:${http}`;
    for (const l of raw['listeners'] as Obj[]) l['bind'] = `127.0.0.1:${await freePort()}`;
    const auth = raw['auth'] as Obj;
    auth['hs256_secret_file'] = reroot(auth['hs256_secret_file']);
    let meshPort: number | undefined;
    const ha = raw['ha'] as Obj;
    const mesh = ha['mesh'] as Obj | undefined;
    if (mesh !== undefined) {
      meshPort = await freePort();
      mesh['listen'] = `127.0.0.1:${meshPort}`;
      const t = mesh['tls'] as Obj;
      for (const k of ['ca_bundle', 'cert_file', 'key_file']) t[k] = reroot(t[k]);
    }
    materialize(files, root);
    fs.writeFileSync(reroot(env['NC_CONFIG']), stringify(raw));
    const argv = c.command ?? ['node', ...execForm(parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).instructions.filter((i) => i.stage === 'hub' && i.op === 'CMD')[0]!.args)!.slice(1)];
    const cmd = argv[0] === 'node' ? process.execPath : argv[0]!;
    const proc = new Proc(cmd, argv.slice(1), { cwd: ROOT, name: `hub(${v})`, env: { ...env, NC_CONFIG: reroot(env['NC_CONFIG']), PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` } });
    const cfg = loadCloudConfig({ ...env, NC_CONFIG: reroot(env['NC_CONFIG']) });
    return { proc, http, meshPort, root, cfg };
  }

  async function probeAll(v: 'overlays/single' | 'overlays/ha', http: number, proc: Proc): Promise<void> {
    const c = container(one(v, 'Deployment', 'nowconnect-cloud'));
    const abort = (): string | undefined => (proc.running ? undefined : `hub exited: ${proc.tail()}`);
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
      const r = await waitForHttpStatus(`http://127.0.0.1:${http}${probe!.httpGet!.path}`, 200, { timeoutMs: 60_000, abort });
      expect(r.status).toBe(200);
    }
    expect((await httpRequest(`http://127.0.0.1:${http}/metrics`)).status).toBe(200);
  }

  it('single overlay: the probes answer 200, the image HEALTHCHECK passes, SIGTERM drains and exits 0 within the grace period', async () => {
    const { proc, http } = await startFromManifests('overlays/single');
    await probeAll('overlays/single', http, proc);
    // The Dockerfile's HEALTHCHECK command, as Docker would run it, against this hub and against a closed port.
    const hc = dockerHealthcheck();
    const runHc = (url: string): number => {
      try {
        execFileSync(process.execPath, hc.slice(1), { env: envWithout(['NC_'], { NC_HEALTHCHECK_URL: url }), timeout: 20_000, stdio: 'ignore' });
        return 0;
      } catch (err) {
        return (err as { status?: number }).status ?? -1;
      }
    };
    expect(runHc(`http://127.0.0.1:${http}/healthz`)).toBe(0);
    expect(runHc(`http://127.0.0.1:${await freePort()}/healthz`)).toBe(1);
    const grace = podSpec(one('overlays/single', 'Deployment', 'nowconnect-cloud')).terminationGracePeriodSeconds!;
    const exit = await proc.stop('SIGTERM', grace * 1000);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('HA overlay (through the container command, real redis-server): probes 200, the advertised mesh URL is the pod name the certificate covers, mesh mTLS: a peer with the Secret certificate gets the /mesh upgrade, one without is refused', async () => {
    const redis = await startRedis();
    try {
      const { proc, http, meshPort, cfg } = await startFromManifests('overlays/ha', redis);
      await probeAll('overlays/ha', http, proc);
      const started = await proc.waitForEvent('ha_started', undefined, 30_000);
      const advertised = `wss://10-1-2-3.nowconnect-cloud-mesh.${POD['metadata.namespace']}.svc.cluster.local:8766/mesh`;
      expect(started['mesh_url']).toBe(advertised);
      expect(new URL(advertised).port).toBe(String(hubConfig('overlays/ha').cfg.ha.mesh.listen!.port));
      // A peer's dial: a WebSocket upgrade on /mesh over TLS, server name (SNI and the certificate identity
      // check) = the advertised host. With the Secret's certificate as client certificate
      // the upgrade completes; without one the hub refuses it.
      const t = cfg.ha.mesh.tls;
      const dial = (withCert: boolean): Promise<string> =>
        new Promise((resolve) => {
          // ws hands these to tls.connect (its ClientOptions type does not list servername).
          const opts: WebSocket.ClientOptions & ConnectionOptions = {
            servername: new URL(advertised).hostname,
            ca: fs.readFileSync(t.caBundle!),
            ...(withCert ? { cert: fs.readFileSync(t.certFile!), key: fs.readFileSync(t.keyFile!) } : {}),
            handshakeTimeout: 20_000,
          };
          const ws = new WebSocket(`wss://127.0.0.1:${meshPort!}/mesh`, opts);
          ws.once('open', () => {
            resolve('open');
            ws.terminate();
          });
          ws.once('error', (err) => resolve(`error: ${err.message}`));
        });
      expect(await dial(true)).toBe('open');
      expect(await dial(false)).toMatch(/^error: .*certificate required/);
      const exit = await proc.stop('SIGTERM', podSpec(one('overlays/ha', 'Deployment', 'nowconnect-cloud')).terminationGracePeriodSeconds! * 1000);
      expect(exit).toEqual({ code: 0, signal: null });
    } finally {
      await redis.stop();
    }
  });
});
