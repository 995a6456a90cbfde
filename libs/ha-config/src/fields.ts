import { NAME_PATTERN } from '@nowconnect/frames';
import { ConfigError } from './config-error';
import type { FieldTable, IntSpec } from './keys/field-table';

/**
 * Small readers from `unknown` (what the YAML parser hands us) to typed values.
 * Each reader takes the key path to blame and throws ConfigError on the first
 * problem. `null` (a key written with no value) counts as absent.
 */

export type Fields = Readonly<Record<string, unknown>>;

/** Agent ids, connector, listener and replica names (same rule as the HELLO frame). */
export { NAME_PATTERN };
export const NAME_RULE = 'expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}';

export const ROOT_PATH = '(root)';

export function childPath(parent: string, key: string): string {
  return parent === '' || parent === ROOT_PATH ? key : `${parent}.${key}`;
}

export function itemPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

function isAbsent(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

/** The raw values of a section's keys; only keys of its table can be read (a typo does not type-check). */
export type SectionFields<T extends FieldTable> = { readonly [K in keyof T]?: unknown };

/**
 * A mapping with only the keys of `table` (keys/*-keys.ts, the one source of truth shared with the
 * JSON Schema); absent => `{}`.
 */
export function section<T extends FieldTable>(value: unknown, path: string, table: T): SectionFields<T> {
  if (isAbsent(value)) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(path, 'expected a mapping');
  const fields = value as Fields;
  for (const key of Object.keys(fields)) {
    if (!Object.hasOwn(table, key)) throw new ConfigError(childPath(path, key), 'unknown key');
  }
  return fields as SectionFields<T>;
}

/** An integer key with bounds and default from its table entry. */
export function intField(spec: IntSpec & { readonly default: number }, value: unknown, path: string): number {
  return optInt(value, path, spec.default, spec.min, spec.max);
}

/** A list; absent => undefined. */
export function optList(value: unknown, path: string): readonly unknown[] | undefined {
  if (isAbsent(value)) return undefined;
  if (!Array.isArray(value)) throw new ConfigError(path, 'expected a list');
  return value;
}

/** A non-empty string (surrounding whitespace trimmed); absent => undefined. */
export function optString(value: unknown, path: string): string | undefined {
  if (isAbsent(value)) return undefined;
  if (typeof value !== 'string') throw new ConfigError(path, 'expected a string');
  const text = value.trim();
  if (text === '') throw new ConfigError(path, 'expected a non-empty string');
  return text;
}

export function reqString(value: unknown, path: string): string {
  const text = optString(value, path);
  if (text === undefined) throw new ConfigError(path, 'required');
  return text;
}

export function optName(value: unknown, path: string): string | undefined {
  const text = optString(value, path);
  if (text !== undefined && !NAME_PATTERN.test(text)) throw new ConfigError(path, NAME_RULE);
  return text;
}

export function reqName(value: unknown, path: string): string {
  const text = optName(value, path);
  if (text === undefined) throw new ConfigError(path, 'required');
  return text;
}

export function optBool(value: unknown, path: string, fallback: boolean): boolean {
  if (isAbsent(value)) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(path, 'expected true or false');
  return value;
}

/** An integer within [min, max]; the bounds are named in the error. */
export function optInt(value: unknown, path: string, fallback: number, min: number, max: number): number {
  if (isAbsent(value)) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(path, `expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** An env var's value, trimmed; unset or blank => undefined. */
export function envValue(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const text = value.trim();
  return text === '' ? undefined : text;
}

/** Freezes a freshly parsed config all the way down, so `readonly` holds at run time too. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
