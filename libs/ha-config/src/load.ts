import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { CloudConfig, PremiseConfig } from './config.types';
import { parseCloudConfig } from './cloud-config';
import { ConfigError } from './config-error';
import { envValue } from './fields';
import { parsePremiseConfig } from './premise-config';

/** File I/O around the pure parsers: NC_CONFIG -> YAML -> parse*Config. */

type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_CLOUD_CONFIG = 'config/cloud.yaml';
export const DEFAULT_PREMISE_CONFIG = 'config/premise.yaml';

function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'error';
}

/** YAML text -> plain JS value; an empty document is `{}`. `blame` is the ConfigError path. */
export function parseYaml(text: string, blame: string, fileLabel: string | undefined): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = fileLabel === undefined ? '' : ` in ${fileLabel}`;
  const [first] = doc.errors;
  if (first !== undefined) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    const message = first.message.split('\n')[0] ?? first.code;
    throw new ConfigError(blame, `YAML syntax error${where} at line ${line}, column ${col}: ${message}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(blame, `YAML error${where}: ${String((err as Error).message).split('\n')[0]}`);
  }
  return value === undefined || value === null ? {} : value;
}

/**
 * NC_CONFIG set: the file must be readable (else ConfigError at `NC_CONFIG`).
 * NC_CONFIG unset: the default file, relative to cwd; if it does not exist the
 * raw config is `{}` (env alone).
 */
function readConfig(env: Env, defaultPath: string): unknown {
  const explicit = envValue(env, 'NC_CONFIG');
  const file = explicit ?? defaultPath;
  let text: string;
  try {
    text = readFileSync(resolve(process.cwd(), file), 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (explicit === undefined && code === 'ENOENT') return DEFAULT_MISSING;
    if (explicit !== undefined) throw new ConfigError('NC_CONFIG', `cannot read ${file} (${code})`);
    throw new ConfigError(defaultPath, `cannot read (${code})`);
  }
  return explicit !== undefined ? parseYaml(text, 'NC_CONFIG', file) : parseYaml(text, defaultPath, undefined);
}

/** Marks "NC_CONFIG unset and the default file absent": env alone must then make a valid config. */
const DEFAULT_MISSING = Object.freeze({});

/**
 * Parses; when the default file was absent and env alone is not enough (a key is missing, not an
 * env value wrong), the error says so first
 * (`config/cloud.yaml: default config file not found in /dir (set NC_CONFIG or --config); ...`).
 */
function parseOrNameDefault<T>(raw: unknown, defaultPath: string, parse: (raw: unknown) => T): T {
  try {
    return parse(raw);
  } catch (err) {
    // A bad env value is about the env var, not about the missing file: its message stays as is.
    if (raw !== DEFAULT_MISSING || !(err instanceof ConfigError) || err.path.startsWith('NC_')) throw err;
    throw new ConfigError(defaultPath, `default config file not found in ${process.cwd()} (set NC_CONFIG or --config); with env alone: ${err.message}`);
  }
}

export function loadCloudConfig(env: Env = process.env): CloudConfig {
  return parseOrNameDefault(readConfig(env, DEFAULT_CLOUD_CONFIG), DEFAULT_CLOUD_CONFIG, (raw) => parseCloudConfig(raw, env));
}

export function loadPremiseConfig(env: Env = process.env): PremiseConfig {
  return parseOrNameDefault(readConfig(env, DEFAULT_PREMISE_CONFIG), DEFAULT_PREMISE_CONFIG, (raw) => parsePremiseConfig(raw, env));
}

/** A secret or token file: read, surrounding whitespace trimmed; unreadable or empty => ConfigError naming the file. */
export function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, `cannot read secret file (${errnoCode(err)})`);
  }
  const secret = text.trim();
  if (secret === '') throw new ConfigError(path, 'secret file is empty');
  return secret;
}
