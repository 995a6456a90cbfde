/**
 * A small declarative flag parser for the operator tools (`--flag value` or `--flag=value`).
 * Every usage problem is a UsageError whose message names the flag; main() prints it as one line
 * on stderr and exits 2.
 */
import { parseDuration } from './duration';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type FlagKind = 'string' | 'int' | 'number' | 'duration' | 'bool';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly help: string;
  /** Placeholder shown in --help (e.g. URL, N, DN). */
  readonly arg?: string;
  readonly required?: boolean;
  /** Default as text (parsed like a given value); shown in --help. */
  readonly default?: string;
  /** Allowed values (string flags). */
  readonly choices?: readonly string[];
  /** Lower/upper bounds (int, number, duration in ms). */
  readonly min?: number;
  readonly max?: number;
}

export type FlagValue = string | number | boolean;
export type ParsedFlags = ReadonlyMap<string, FlagValue>;

export interface ParseResult {
  readonly help: boolean;
  readonly flags: ParsedFlags;
}

function convert(spec: FlagSpec, raw: string): FlagValue {
  const flag = `--${spec.name}`;
  let value: FlagValue;
  switch (spec.kind) {
    case 'string':
      if (raw === '') throw new UsageError(`${flag}: expected a value, got an empty string`);
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`${flag}: expected one of ${spec.choices.join('|')}, got "${raw}"`);
      }
      return raw;
    case 'bool':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      throw new UsageError(`${flag}: expected true or false, got "${raw}"`);
    case 'int':
      if (!/^-?\d+$/.test(raw)) throw new UsageError(`${flag}: expected an integer, got "${raw}"`);
      value = Number(raw);
      break;
    case 'number':
      if (!/^-?(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(raw)) throw new UsageError(`${flag}: expected a number, got "${raw}"`);
      value = Number(raw);
      break;
    case 'duration': {
      const ms = parseDuration(raw);
      if (ms === undefined) throw new UsageError(`${flag}: expected a duration like 500ms, 30s, 2m or 1h, got "${raw}"`);
      value = ms;
      break;
    }
  }
  if (spec.min !== undefined && value < spec.min) throw new UsageError(`${flag}: must be >= ${spec.min}${spec.kind === 'duration' ? ' ms' : ''}, got "${raw}"`);
  if (spec.max !== undefined && value > spec.max) throw new UsageError(`${flag}: must be <= ${spec.max}${spec.kind === 'duration' ? ' ms' : ''}, got "${raw}"`);
  return value;
}

/** Parses argv (without node and the script). `--help`/`-h` wins over everything else. */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParseResult {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true, flags: new Map() };
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags = new Map<string, FlagValue>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    if (!token.startsWith('--') || token === '--') {
      throw new UsageError(`unexpected argument "${token}" (flags are --name value)`);
    }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq === -1 ? undefined : eq);
    const spec = byName.get(name);
    if (spec === undefined) throw new UsageError(`unknown flag --${name}`);
    if (flags.has(name)) throw new UsageError(`--${name} given twice`);
    let raw: string;
    if (eq !== -1) raw = token.slice(eq + 1);
    else if (spec.kind === 'bool') raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${name}: missing value`);
      raw = next;
      i++;
    }
    flags.set(name, convert(spec, raw));
  }
  for (const spec of specs) {
    if (flags.has(spec.name)) continue;
    if (spec.default !== undefined) flags.set(spec.name, convert(spec, spec.default));
    else if (spec.required) throw new UsageError(`missing required flag --${spec.name}`);
  }
  return { help: false, flags };
}

/** Typed getters over a parse result (the specs guarantee the kinds). */
export function str(flags: ParsedFlags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}
export function num(flags: ParsedFlags, name: string): number | undefined {
  const v = flags.get(name);
  return typeof v === 'number' ? v : undefined;
}
export function bool(flags: ParsedFlags, name: string): boolean {
  return flags.get(name) === true;
}

/** Plain-text help: usage line, summary, then one entry per flag. */
export function renderHelp(usage: string, summary: string, specs: readonly FlagSpec[]): string {
  const lines = [`usage: ${usage}`, '', summary, '', 'flags:'];
  for (const s of specs) {
    const head = `  --${s.name}${s.kind === 'bool' ? '' : ` ${s.arg ?? s.kind.toUpperCase()}`}`;
    const notes = [s.required ? 'required' : undefined, s.default !== undefined ? `default ${s.default}` : undefined, s.choices ? `one of ${s.choices.join('|')}` : undefined]
      .filter((x): x is string => x !== undefined)
      .join('; ');
    lines.push(head, `      ${s.help}${notes ? ` (${notes})` : ''}`);
  }
  lines.push('  --help', '      print this help and exit 0');
  return `${lines.join('\n')}\n`;
}

/** host:port (IPv6 as [::1]:389) → parts, or a UsageError naming the flag. */
export function parseHostPort(flag: string, raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`--${flag}: expected host:port, got "${raw}"`);
  return { host: (m[1] ?? m[2]) as string, port };
}
