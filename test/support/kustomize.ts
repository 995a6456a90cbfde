/**
 * Renders a kustomization with the real `kubectl kustomize` (kubectl 1.32 / kustomize 5.5 at /usr/bin/kubectl;
 * scripts/ensure-system-deps.js names it when missing). No cluster and no network: `kubectl kustomize` only
 * reads the directory. The output is parsed into plain objects for the tests.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};

/** kubectl: $KUBECTL if set, else /usr/bin/kubectl, else the first `kubectl` on PATH. */
export function kubectlPath(): string {
  const candidates = [process.env['KUBECTL'], '/usr/bin/kubectl', ...(process.env['PATH'] ?? '').split(':').filter(Boolean).map((d) => `${d}/kubectl`)];
  for (const c of candidates) {
    if (c === undefined || c === '') continue;
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  throw new Error('kubectl not found (the tests render deploy/k8s with `kubectl kustomize`): run `node scripts/ensure-system-deps.js` for what to install');
}

/** `kubectl kustomize <dir>`: every rendered object, in kustomize's output order. */
export function kustomizeBuild(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync(kubectlPath(), ['kustomize', dir], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${err.stderr?.trim() || err.message}`);
  }
  const objs: K8sObject[] = [];
  for (const doc of parseAllDocuments(out)) {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: unparsable output: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o === null) continue;
    // kustomize wraps long base64 Secret values at 70 columns (a YAML block scalar); the API server's base64
    // decoder (Go's encoding/base64) skips the newlines. Store the values as the API server would.
    if (o.kind === 'Secret' && o['data'] !== null && typeof o['data'] === 'object') {
      const data = o['data'] as Record<string, string>;
      for (const k of Object.keys(data)) data[k] = String(data[k]).replace(/[\r\n]/g, '');
    }
    objs.push(o);
  }
  return objs;
}
