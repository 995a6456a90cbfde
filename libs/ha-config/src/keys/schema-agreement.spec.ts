import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseCloudConfig } from '../cloud-config';
import { ConfigError } from '../config-error';
import { parsePremiseConfig } from '../premise-config';
import { CLOUD_SCHEMA_FILE, cloudSchema, PREMISE_SCHEMA_FILE, premiseSchema, schemaText } from './json-schema';
import { withKeyReference } from './key-docs';

/**
 * The drift guard: the schema and the parser agree on every key, in both directions, at every
 * mapping of both files. For each property the schema lists, a config carrying just that key (on a
 * valid base) must get past the parser's unknown-key check AND the parser must actually read the
 * key (a getter records the read); for each mapping, a key the schema does not list must be refused
 * by the parser as `unknown key`; every integer key's bounds are the parser's. A key added to a parser
 * but not to its table does not type-check.
 */

type Json = Record<string, unknown>;
type Parse = (raw: unknown) => unknown;

const ROOT = resolve(__dirname, '../../../..');
const SENTINEL = 'zz_not_a_key';
const CROSS_KEY_MINIMUM = new Set(['ha.mesh.per_link_max_inflight_bytes']);
/** health.timeout_ms <= health.interval_sec * 1000: with interval_sec at its default the maximum is refused by that rule. */
const CROSS_KEY_MAXIMUM = new Set(['connectors[0].health.timeout_ms']);

/** A valid item for each list of mappings, so a key can be placed inside `list[0]`. */
const BASE_ITEMS: Record<string, Json> = {
  listeners: { name: 'l1', bind: '127.0.0.1:0', connector: 'c1' },
  connectors: { name: 'c1', target: '127.0.0.1:1' },
};

const BASES: Record<'cloud' | 'premise', () => Json> = {
  cloud: () => ({ auth: { hs256_secret_file: '/x' } }),
  premise: () => ({ cloud_url: 'ws://h/tunnel', agent_id: 'a1', token_file: '/t', connectors: [{ ...BASE_ITEMS['connectors'] }] }),
};

const PARSERS: Record<'cloud' | 'premise', Parse> = {
  cloud: (raw) => parseCloudConfig(raw, {}),
  premise: (raw) => parsePremiseConfig(raw, {}),
};

/** A step of a path: a key, or `[]` for "item 0 of the list". */
type Step = string | '[]';

interface MappingNode {
  readonly steps: readonly Step[];
  readonly schema: Json;
}

function mappings(schema: Json, steps: Step[] = []): MappingNode[] {
  const out: MappingNode[] = [];
  if (schema['type'] === 'object' && typeof schema['properties'] === 'object') {
    out.push({ steps, schema });
    for (const [key, child] of Object.entries(schema['properties'] as Record<string, Json>)) out.push(...mappings(child, [...steps, key]));
  } else if (schema['type'] === 'array' && typeof schema['items'] === 'object') {
    out.push(...mappings(schema['items'] as Json, [...steps, '[]']));
  }
  return out;
}

function label(steps: readonly Step[]): string {
  return steps.map((s, i) => (s === '[]' ? '[0]' : i === 0 ? s : `.${s}`)).join('') || '(root)';
}

/** The mapping at `steps` inside `raw`, created on the way (lists get their base item). */
function mappingAt(raw: Json, steps: readonly Step[]): Json {
  let node: Json = raw;
  steps.forEach((step, i) => {
    if (step === '[]') return;
    const isList = steps[i + 1] === '[]';
    if (isList) {
      const base = BASE_ITEMS[step];
      if (base === undefined) throw new Error(`add a valid base item for the list '${step}' to BASE_ITEMS`);
      const list = Array.isArray(node[step]) ? (node[step] as Json[]) : [];
      if (list.length === 0) list.push({ ...base });
      node[step] = list;
      node = list[0] as Json;
    } else {
      if (typeof node[step] !== 'object' || node[step] === null) node[step] = {};
      node = node[step] as Json;
    }
  });
  return node;
}

function sample(schema: Json): unknown {
  if ('default' in schema) return schema['default'];
  switch (schema['type']) {
    case 'integer':
      return typeof schema['minimum'] === 'number' ? schema['minimum'] : 1;
    case 'boolean':
      return true;
    case 'object':
      return {};
    case 'array':
      return [];
    default:
      return 'x';
  }
}

function outcome(parse: Parse, raw: Json): ConfigError | undefined {
  try {
    parse(raw);
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
}

describe.each([
  ['cloud', cloudSchema()],
  ['premise', premiseSchema()],
] as const)('%s.yaml: JSON Schema and parser agree on every key', (file, schema) => {
  const parse = PARSERS[file];
  const nodes = mappings(schema as Json);

  it('the base config parses', () => {
    expect(outcome(parse, BASES[file]())).toBeUndefined();
  });

  for (const node of nodes) {
    const props = node.schema['properties'] as Record<string, Json>;
    for (const [key, child] of Object.entries(props)) {
      it(`accepts and reads ${label([...node.steps, key])}`, () => {
        const raw = BASES[file]();
        const target = mappingAt(raw, node.steps);
        let reads = 0;
        const value = sample(child);
        Object.defineProperty(target, key, {
          enumerable: true,
          configurable: true,
          get: () => {
            reads++;
            return value;
          },
        });
        const err = outcome(parse, raw);
        expect(err?.detail).not.toBe('unknown key');
        expect(reads).toBeGreaterThan(0);
      });
    }

    for (const [key, child] of Object.entries(props)) {
      if (child['type'] !== 'integer' || typeof child['minimum'] !== 'number' || typeof child['maximum'] !== 'number') continue;
      const keyPath = label([...node.steps, key]);
      const [min, max] = [child['minimum'], child['maximum']];
      it(`${keyPath}: the parser's bounds are the schema's (${min}..${max})`, () => {
        const at = (value: number): ConfigError | undefined => {
          const raw = BASES[file]();
          mappingAt(raw, node.steps)[key] = value;
          return outcome(parse, raw);
        };
        expect(at(min - 1)?.path).toBe(keyPath);
        expect(at(max + 1)?.path).toBe(keyPath);
        // A rule across keys may refuse the bare minimum (per_link_max_inflight_bytes >= max_frame_bytes) or maximum (timeout_ms <= interval).
        if (!CROSS_KEY_MINIMUM.has(keyPath)) expect(at(min)?.path).not.toBe(keyPath);
        if (!CROSS_KEY_MAXIMUM.has(keyPath)) expect(at(max)?.path).not.toBe(keyPath);
      });
    }

    const requiredKeys = (node.schema['required'] as string[] | undefined) ?? [];
    for (const key of requiredKeys) {
      it(`${label([...node.steps, key])}: required by the schema and by the parser`, () => {
        const raw = BASES[file]();
        const target = mappingAt(raw, node.steps);
        for (const other of requiredKeys) if (!(other in target)) target[other] = sample(props[other] ?? {});
        delete target[key];
        expect(outcome(parse, raw)?.path).toBe(label([...node.steps, key]));
      });
    }

    it(`refuses a key the schema does not list at ${label(node.steps)}`, () => {
      expect(node.schema['additionalProperties']).toBe(false);
      const raw = BASES[file]();
      mappingAt(raw, node.steps)[SENTINEL] = 1;
      const err = outcome(parse, raw);
      expect(err?.detail).toBe('unknown key');
      expect(err?.path.endsWith(SENTINEL)).toBe(true);
    });
  }
});

describe('generated files are committed', () => {
  it.each([
    [CLOUD_SCHEMA_FILE, cloudSchema()],
    [PREMISE_SCHEMA_FILE, premiseSchema()],
  ])('%s equals the generated schema (npm run config:schema)', (file, schema) => {
    expect(readFileSync(resolve(ROOT, file), 'utf8')).toBe(schemaText(schema));
  });

  it('docs/configuration.md carries the generated key reference (npm run config:schema)', () => {
    const doc = readFileSync(resolve(ROOT, 'docs/configuration.md'), 'utf8');
    expect(withKeyReference(doc)).toBe(doc);
  });
});
