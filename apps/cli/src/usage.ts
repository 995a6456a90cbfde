import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage problem: printed as one line naming the flag, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  /** `token issue`, `config check`, ... */
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** Flag help lines, e.g. `--config FILE   the hub config (else NC_CONFIG, else config/cloud.yaml)`. */
  readonly flags: readonly string[];
  readonly options: Options;
  readonly positionals?: boolean;
  /** Hands every argument through untouched (validate, perf-ldap have their own parser). */
  readonly passThrough?: boolean;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export interface Parsed {
  readonly values: Record<string, unknown>;
  readonly positionals: string[];
}

const COMMON: Options = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } };

export function parseCommandArgs(cmd: Command, argv: readonly string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...cmd.options, ...COMMON },
      allowPositionals: cmd.positionals === true,
      strict: true,
    });
    return { values: values as Record<string, unknown>, positionals };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message.split('. To specify')[0] ?? code);
    throw err;
  }
}

export function commandHelp(cmd: Command): string {
  const flags = [...cmd.flags, '--help, -h         this text', '--version          print the version'];
  return `${cmd.summary}\n\nusage: ${cmd.usage}\n\n${flags.map((f) => `  ${f}`).join('\n')}\n`;
}

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A string flag that must be present. */
export function required(values: Record<string, unknown>, flag: string): string {
  const v = values[flag];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${flag} is required`);
  return v;
}

export function optionalString(values: Record<string, unknown>, flag: string): string | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${flag}: expected a value`);
  return v;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90d`, `12h`, `30m`, `45s` -> seconds. */
export function parseTtl(text: string, flag: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  const seconds = m === null ? NaN : Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? NaN);
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new UsageError(`--${flag}: expected a duration like 90d, 12h, 30m or 45s`);
  return seconds;
}
