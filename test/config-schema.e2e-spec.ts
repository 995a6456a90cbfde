import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { parse } from 'yaml';
import { parseCloudConfig, parsePremiseConfig } from '@nowconnect/ha-config';
import { REPO_ROOT } from './support/hub';

/**
 * Every config in the repository validates against config/schema/*.schema.json (with a real JSON
 * Schema validator, ajv) and parses with the runtime parser: the examples under config/, the compose
 * configs, and every file a kustomization turns into a ConfigMap (or an inline ConfigMap's data).
 * The schema-vs-parser key agreement itself is libs/ha-config/src/keys/schema-agreement.spec.ts.
 */

type Kind = 'cloud' | 'premise';
type Json = Record<string, unknown>;

const rel = (file: string): string => path.relative(REPO_ROOT, file);

function kindOfName(file: string): Kind | undefined {
  const base = path.basename(file);
  if (/^cloud[.-].*ya?ml$|^cloud\.ya?ml$/.test(base)) return 'cloud';
  if (/^premise[.-].*ya?ml$|^premise\.ya?ml$/.test(base)) return 'premise';
  return undefined;
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

/** [label, kind, YAML text] of every config the repository ships. */
function repoConfigs(): [string, Kind, string][] {
  const out: [string, Kind, string][] = [];
  const add = (file: string, kind: Kind | undefined): void => {
    if (kind !== undefined && !out.some(([l]) => l === rel(file))) out.push([rel(file), kind, fs.readFileSync(file, 'utf8')]);
  };
  for (const file of fs.readdirSync(path.join(REPO_ROOT, 'config'))) add(path.join(REPO_ROOT, 'config', file), kindOfName(file));
  for (const file of walk(path.join(REPO_ROOT, 'deploy', 'compose'))) add(file, kindOfName(file));
  for (const file of walk(path.join(REPO_ROOT, 'deploy', 'k8s')).filter((f) => /\.ya?ml$/.test(f))) {
    for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      // configMapGenerator files (`files: [cloud.yaml]` or `key=path`)
      for (const gen of (doc['configMapGenerator'] as Json[] | undefined) ?? []) {
        for (const entry of (gen['files'] as string[] | undefined) ?? []) {
          const [key, src] = entry.includes('=') ? (entry.split('=', 2) as [string, string]) : [path.basename(entry), entry];
          add(path.join(path.dirname(file), src), kindOfName(key));
        }
      }
      // inline ConfigMaps
      if (doc['kind'] === 'ConfigMap') {
        for (const [key, text] of Object.entries((doc['data'] as Json | undefined) ?? {})) {
          const kind = kindOfName(key);
          if (kind !== undefined && typeof text === 'string') out.push([`${rel(file)} data.${key}`, kind, text]);
        }
      }
    }
  }
  return out;
}

function parseAllDocuments(text: string): Json[] {
  return text
    .split(/^---\s*$/m)
    .map((t) => parse(t) as unknown)
    .filter((d): d is Json => typeof d === 'object' && d !== null && !Array.isArray(d));
}

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validators = {
  cloud: ajv.compile(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config/schema/cloud.schema.json'), 'utf8'))),
  premise: ajv.compile(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config/schema/premise.schema.json'), 'utf8'))),
};

const CONFIGS = repoConfigs();

describe('every config in the repository validates against the JSON Schema and parses', () => {
  it('finds the examples, the compose configs and the k8s ConfigMap sources', () => {
    const labels = CONFIGS.map(([l]) => l);
    for (const expected of ['config/cloud.yaml', 'config/premise.yaml', 'config/cloud.ha-example.yaml', 'deploy/compose/cloud.yaml', 'deploy/compose/premise.yaml', 'deploy/k8s/base/cloud.yaml', 'deploy/k8s/overlays/ha/cloud.yaml', 'deploy/k8s/premise/premise.yaml']) {
      expect(labels).toContain(expected);
    }
  });

  it.each(CONFIGS)('%s (%s)', (_label, kind, text) => {
    const raw = parse(text) as unknown;
    const validate = validators[kind];
    expect(validate(raw) ? [] : validate.errors).toEqual([]);
    // The runtime parser agrees (files are not opened here: they are mounts at run time).
    expect(() => (kind === 'cloud' ? parseCloudConfig(raw, {}) : parsePremiseConfig(raw, {}))).not.toThrow();
  });

  it('the example configs name their schema for the YAML language server', () => {
    for (const [label, kind, text] of CONFIGS.filter(([l]) => l.startsWith('config/') || l.startsWith('deploy/'))) {
      const rootRel = path.relative(path.dirname(path.join(REPO_ROOT, label.split(' ')[0] ?? '')), path.join(REPO_ROOT, 'config/schema'));
      expect(`${label}: ${text.split('\n')[0]}`).toBe(`${label}: # yaml-language-server: $schema=${rootRel}/${kind}.schema.json`);
    }
  });

  it('a wrong key or value is reported by the schema', () => {
    expect(validators.cloud({ server: { bnd: '0.0.0.0:1' } })).toBe(false);
    expect(validators.cloud({ limits: { keepalive_sec: 0 } })).toBe(false);
    expect(validators.premise({ connectors: [{ name: 'c' }] })).toBe(false);
  });
});
