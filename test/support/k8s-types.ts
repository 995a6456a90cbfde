/**
 * Strict field check of rendered Kubernetes objects: kubernetes-models' runtime validators check types,
 * enums and required fields but accept unknown keys, so a typo (`readinesProbe`) would pass. Its
 * TypeScript interfaces know every field: each object becomes an object literal typed with its
 * interface, and the compiler's excess-property check reports any field the API does not have.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import type { K8sObject } from './kustomize';

const ROOT = path.resolve(__dirname, '..', '..');

const TYPES: Record<string, [module: string, iface: string]> = {
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/Secret', 'ISecret'],
  'v1/Namespace': ['kubernetes-models/v1/Namespace', 'INamespace'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy'],
  'monitoring.coreos.com/v1/ServiceMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'IServiceMonitor'],
  'monitoring.coreos.com/v1/PrometheusRule': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', 'IPrometheusRule'],
};

/** Type errors per object ("Kind/name: message"); empty when every field is a field of its API type. */
export function strictFieldErrors(objects: readonly K8sObject[]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-k8s-types-'));
  try {
    const imports = new Map<string, string>();
    const lines: string[] = [];
    const names: string[] = [];
    objects.forEach((o, i) => {
      const t = TYPES[`${o.apiVersion}/${o.kind}`];
      if (t === undefined) throw new Error(`no TypeScript type for ${o.apiVersion} ${o.kind}`);
      imports.set(t[1], t[0]);
      lines.push(`export const o${i}: ${t[1]} = ${JSON.stringify(o)};`);
      names.push(`${o.kind}/${o.metadata.name}`);
    });
    const header = [...imports].map(([iface, mod]) => `import type { ${iface} } from '${mod}';`);
    const file = path.join(dir, 'manifests.ts');
    fs.writeFileSync(file, [...header, ...lines].join('\n'));
    const nm = path.join(ROOT, 'node_modules');
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      target: ts.ScriptTarget.ES2022,
      baseUrl: ROOT,
      paths: { 'kubernetes-models/*': [`${nm}/kubernetes-models/*`], '@kubernetes-models/*': [`${nm}/@kubernetes-models/*`] },
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
      const who = line >= header.length ? names[line - header.length] : 'header';
      return `${who}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ').slice(0, 400)}`;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
