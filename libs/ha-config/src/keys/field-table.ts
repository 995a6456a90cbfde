/**
 * The declarative key tables: the ONE source of truth for which keys cloud.yaml and premise.yaml
 * accept. The parsers' unknown-key checks (`section()` in ../fields.ts), the JSON Schemas under
 * config/schema/ (json-schema.ts, `npm run config:schema`) and the key reference in
 * docs/configuration.md are all derived from these tables; schema-agreement.spec.ts fails when a
 * parser reads a key the table lacks or the table lists a key no parser reads.
 *
 * To add a key: add one entry to the section's table (kind, doc, default, bounds, env), read it in
 * the parser as `f['new_key']` (a key missing from the table does not type-check), then run
 * `npm run config:schema` and commit the regenerated files.
 */

export type JsonSchema = Readonly<Record<string, unknown>>;

interface Common {
  /** One line for docs/configuration.md and the schema's `description`. */
  readonly doc: string;
  /** Env var that overrides the key (documented; the parser applies it). */
  readonly env?: string;
  /** Required in every valid file (not merely defaulted or overridable by env). */
  readonly required?: boolean;
  /** Default as shown in the docs when it is not a plain value (e.g. "max(8388608, limits.max_frame_bytes)"). */
  readonly defaultText?: string;
}

export type FieldSpec =
  | (Common & { readonly kind: 'string'; readonly default?: string; readonly pattern?: string })
  | (Common & { readonly kind: 'name'; readonly default?: string })
  | (Common & { readonly kind: 'file' })
  | (Common & { readonly kind: 'int'; readonly min: number; readonly max: number; readonly default?: number })
  | (Common & { readonly kind: 'bool'; readonly default: boolean })
  | (Common & { readonly kind: 'host_port'; readonly default?: string })
  /** requireOneOf: exactly one of these keys must be present (e.g. target | targets). */
  | (Common & { readonly kind: 'section'; readonly fields: FieldTable; readonly requireOneOf?: readonly string[] })
  | (Common & { readonly kind: 'list'; readonly items: FieldSpec; readonly minItems?: number })
  /** Anything else: the JSON Schema is spelled out (enums, unions). */
  | (Common & { readonly kind: 'custom'; readonly schema: JsonSchema; readonly default?: unknown });

export type FieldTable = Readonly<Record<string, FieldSpec>>;

export type IntSpec = Extract<FieldSpec, { kind: 'int' }>;
