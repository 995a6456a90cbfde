import { NAME_PATTERN } from '@nowconnect/frames';
import { CLOUD_FIELDS } from './cloud-keys';
import type { FieldSpec, FieldTable, JsonSchema } from './field-table';
import { PREMISE_FIELDS } from './premise-keys';

/**
 * JSON Schema (draft 2020-12) from the key tables. config/schema/*.schema.json are this output,
 * written by `npm run config:schema`; a test fails when the committed files differ.
 * The schema is a key/shape check for editors and CI; the runtime parser checks more (CIDRs,
 * URLs, cross-key rules) and is the authority (`nowconnect config check`).
 */

const HOST_PORT_PATTERN = '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]\\s]+):[0-9]{1,5}$';

function withDefault(schema: Record<string, unknown>, spec: FieldSpec): JsonSchema {
  const out: Record<string, unknown> = { description: spec.env === undefined ? spec.doc : `${spec.doc} (env ${spec.env})`, ...schema };
  if ('default' in spec && spec.default !== undefined) out['default'] = spec.default;
  return out;
}

export function fieldSchema(spec: FieldSpec): JsonSchema {
  switch (spec.kind) {
    case 'string':
      return withDefault({ type: 'string', minLength: 1, ...(spec.pattern === undefined ? {} : { pattern: spec.pattern }) }, spec);
    case 'name':
      return withDefault({ type: 'string', pattern: NAME_PATTERN.source }, spec);
    case 'file':
      return withDefault({ type: 'string', minLength: 1 }, spec);
    case 'int':
      return withDefault({ type: 'integer', minimum: spec.min, maximum: spec.max }, spec);
    case 'bool':
      return withDefault({ type: 'boolean' }, spec);
    case 'host_port':
      return withDefault({ type: 'string', pattern: HOST_PORT_PATTERN }, spec);
    case 'section':
      return withDefault(
        {
          ...tableSchema(spec.fields),
          ...(spec.requireOneOf === undefined ? {} : { oneOf: spec.requireOneOf.map((key) => ({ properties: { [key]: true }, required: [key] })) }),
        },
        spec,
      );
    case 'list':
      return withDefault({ type: 'array', items: fieldSchema(spec.items), ...(spec.minItems === undefined ? {} : { minItems: spec.minItems }) }, spec);
    case 'custom':
      return withDefault({ ...spec.schema }, spec);
  }
}

export function tableSchema(table: FieldTable): Record<string, unknown> {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [key, spec] of Object.entries(table)) {
    properties[key] = fieldSchema(spec);
    if (spec.required === true) required.push(key);
  }
  return { type: 'object', additionalProperties: false, properties, ...(required.length > 0 ? { required } : {}) };
}

function documentSchema(id: string, title: string, table: FieldTable): JsonSchema {
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: id, title, ...tableSchema(table) };
}

export const CLOUD_SCHEMA_FILE = 'config/schema/cloud.schema.json';
export const PREMISE_SCHEMA_FILE = 'config/schema/premise.schema.json';

export function cloudSchema(): JsonSchema {
  return documentSchema('https://nowconnect.invalid/schema/cloud.schema.json', 'NowConnect hub config (cloud.yaml)', CLOUD_FIELDS);
}

export function premiseSchema(): JsonSchema {
  return documentSchema('https://nowconnect.invalid/schema/premise.schema.json', 'NowConnect agent config (premise.yaml)', PREMISE_FIELDS);
}

/** The file text as committed (2-space JSON + newline). */
export function schemaText(schema: JsonSchema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
