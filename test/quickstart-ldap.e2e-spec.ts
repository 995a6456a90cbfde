/**
 * docs/quickstart-ldap.md is executable documentation: its `my-nowconnect/` kustomization (kustomization,
 * namespace, ingress) renders with the real `kubectl kustomize` against this checkout's deploy/k8s, the
 * ingress routes /tunnel to the hub Service's http port, the agent's premise.yaml parses with our loader,
 * and the systemd unit passes `systemd-analyze verify`.
 */
import * as crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { loadPremiseConfig } from '@nowconnect/ha-config';
import { cleanupAll, findBin, makeTmpDir } from './support';
import { kustomizeBuild, type K8sObject } from './support/kustomize';

const ROOT = path.resolve(__dirname, '..');
const DOC = fs.readFileSync(path.join(ROOT, 'docs/quickstart-ldap.md'), 'utf8');

afterAll(async () => {
  await cleanupAll();
});

/** Fenced blocks in order: [language, body, the nearest preceding `my-nowconnect/FILE` mention]. */
function blocks(): Array<{ lang: string; body: string; file: string | undefined }> {
  const out: Array<{ lang: string; body: string; file: string | undefined }> = [];
  const lines = DOC.split('\n');
  let file: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) {
      const m = /^`my-nowconnect\/([\w.-]+)`/.exec(lines[i]!);
      if (m) file = m[1];
      continue;
    }
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ lang: open[1]!, body: `${body.join('\n')}\n`, file });
    file = undefined;
  }
  return out;
}

describe('docs/quickstart-ldap.md', () => {
  it('the my-nowconnect kustomization renders with kubectl kustomize: namespace, hub with the pushed image and generated secret, ingress to /tunnel', () => {
    const dir = makeTmpDir('nc-quickstart-');
    fs.cpSync(path.join(ROOT, 'deploy/k8s'), path.join(dir, 'nowconnect/deploy/k8s'), { recursive: true, filter: (src) => !src.split(path.sep).includes('secrets') });
    const mine = path.join(dir, 'my-nowconnect');
    fs.mkdirSync(path.join(mine, 'secrets'), { recursive: true });
    const files = blocks().filter((b) => b.lang === 'yaml' && b.file !== undefined);
    expect(files.map((b) => b.file).sort()).toEqual(['ingress.yaml', 'kustomization.yaml', 'namespace.yaml']);
    for (const b of files) fs.writeFileSync(path.join(mine, b.file!), b.body);
    fs.writeFileSync(path.join(mine, 'secrets/jwt-secret'), crypto.randomBytes(32).toString('base64'));

    const objs = kustomizeBuild(mine);
    const find = (kind: string, name: RegExp): K8sObject => {
      const hits = objs.filter((o) => o.kind === kind && name.test(o.metadata.name));
      expect([kind, String(name), hits.length]).toEqual([kind, String(name), 1]);
      return hits[0]!;
    };
    for (const o of objs) if (o.kind !== 'Namespace') expect([o.kind, o.metadata.name, o.metadata.namespace]).toEqual([o.kind, o.metadata.name, 'nowconnect']);
    expect(find('Namespace', /^nowconnect$/).metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');

    const deploy = find('Deployment', /^nowconnect-cloud$/) as K8sObject & { spec: { template: { spec: { containers: Array<{ image: string }>; volumes: Array<{ secret?: { secretName: string } }> } } } };
    expect(deploy.spec.template.spec.containers[0]!.image).toBe('registry.example.com/nowconnect/cloud-hub:0.1.0');
    const secret = find('Secret', /^nowconnect-jwt-[a-z0-9]{10}$/);
    expect(deploy.spec.template.spec.volumes.map((v) => v.secret?.secretName).filter(Boolean)).toEqual([secret.metadata.name]);

    const svc = find('Service', /^nowconnect-cloud$/) as K8sObject & { spec: { ports: Array<{ name: string; port: number }> } };
    const ing = find('Ingress', /^nowconnect-tunnel$/) as K8sObject & {
      spec: { tls: Array<{ hosts: string[] }>; rules: Array<{ host: string; http: { paths: Array<{ path: string; pathType: string; backend: { service: { name: string; port: { name: string } } } }> } }> };
    };
    expect(() => new Ingress(ing as never).validate()).not.toThrow();
    expect(ing.spec.tls[0]!.hosts).toEqual([ing.spec.rules[0]!.host]);
    const paths = ing.spec.rules.flatMap((r) => r.http.paths);
    expect(paths.map((p) => [p.path, p.pathType])).toEqual([['/tunnel', 'Exact']]); // nothing else public
    const backend = paths[0]!.backend.service;
    expect(backend.name).toBe(svc.metadata.name);
    expect(svc.spec.ports.map((p) => p.name)).toContain(backend.port.name);
    // The LDAP port applications use, as the page says.
    expect(svc.spec.ports.find((p) => p.name === 'ldap')?.port).toBe(389);
  });

  it("the agent's premise.yaml parses with our loader: the ingress URL, the agent id of the token, connector addomain", () => {
    const premise = blocks().find((b) => b.lang === 'yaml' && b.body.includes('cloud_url:'));
    expect(premise).toBeDefined();
    const file = path.join(makeTmpDir('nc-quickstart-premise-'), 'premise.yaml');
    fs.writeFileSync(file, premise!.body);
    const cfg = loadPremiseConfig({ NC_CONFIG: file });
    expect(cfg.cloudUrls).toEqual(['wss://nowconnect.example.com/tunnel']);
    expect(cfg.agentId).toBe('corp-dc1');
    expect(cfg.connectors.map((c) => [c.name, c.target.host, c.target.port])).toEqual([['addomain', 'dc1.corp.internal', 389]]);
    expect(DOC).toContain('--agent corp-dc1 --connector addomain');
  });

  it('the systemd unit passes systemd-analyze verify', () => {
    const unit = blocks().find((b) => b.lang === 'ini');
    expect(unit?.body).toContain('ExecStart=/usr/bin/node /opt/nowconnect/dist/apps/premise-agent/main.js');
    const file = path.join(makeTmpDir('nc-quickstart-unit-'), 'nowconnect-agent.service');
    // The unit names /usr/bin/node; verify checks that ExecStart's binary exists, so use this Node's path.
    fs.writeFileSync(file, unit!.body.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
    const r = spawnSync(findBin('systemd-analyze'), ['verify', file], { encoding: 'utf8', timeout: 60_000 });
    expect([r.status, r.stderr.trim()]).toEqual([0, '']);
  });
});
