import * as fs from 'node:fs';
import { UsageError, bool, num, str, type FlagSpec, type ParsedFlags } from '../common/args';

export const PERF_FLAGS: readonly FlagSpec[] = [
  { name: 'url', kind: 'string', arg: 'URL', required: true, help: 'LDAP URL to load, normally the hub listener: ldap://nowconnect-cloud:389 (ldaps:// too)' },
  { name: 'bind-dn', kind: 'string', arg: 'DN', help: 'simple bind as this DN once per connection (anonymous when absent)' },
  { name: 'password-file', kind: 'string', arg: 'FILE', help: 'file holding the bind password (whitespace around it trimmed); required with --bind-dn; never printed' },
  { name: 'base', kind: 'string', arg: 'DN', required: true, help: 'search base DN' },
  { name: 'filter', kind: 'string', arg: 'FILTER', default: '(objectClass=*)', help: 'search filter' },
  { name: 'scope', kind: 'string', arg: 'SCOPE', default: 'sub', choices: ['base', 'one', 'sub'], help: 'search scope' },
  { name: 'attributes', kind: 'string', arg: 'A,B,...', help: 'comma-separated attributes to return (all user attributes when absent)' },
  { name: 'concurrency', kind: 'int', arg: 'N', default: '4', min: 1, max: 1000, help: 'workers, each with its own LDAP connection' },
  { name: 'duration', kind: 'duration', arg: 'TIME', default: '30s', min: 100, max: 86_400_000, help: 'measured run time: 500ms, 30s, 2m, 1h' },
  { name: 'warmup', kind: 'duration', arg: 'TIME', default: '0s', min: 0, max: 3_600_000, help: 'unmeasured run time before the measurement (connections and caches warm up)' },
  { name: 'timeout-ms', kind: 'int', arg: 'MS', default: '5000', min: 1, max: 600_000, help: 'deadline of one connect, bind or search; a late one counts as error kind "timeout" and the connection is replaced' },
  { name: 'p99-max-ms', kind: 'number', arg: 'MS', min: 0, help: 'fail (exit 1) when the p99 latency exceeds this (no latency threshold when absent)' },
  { name: 'error-budget', kind: 'number', arg: 'FRACTION', default: '0.001', min: 0, max: 1, help: 'fail (exit 1) when errors / attempts exceeds this fraction (0.001 = 0.1 %)' },
  { name: 'out', kind: 'string', arg: 'DIR', help: 'where report.md and report.json go (default ./perf-reports/ldap-<UTC timestamp>/)' },
  { name: 'json', kind: 'bool', help: 'print the JSON report on stdout instead of the text summary' },
];

export type Scope = 'base' | 'one' | 'sub';

export interface PerfOptions {
  readonly url: string;
  readonly bindDn: string | undefined;
  /** Never printed, never written to a report. */
  readonly password: string | undefined;
  readonly base: string;
  readonly filter: string;
  readonly scope: Scope;
  readonly attributes: readonly string[];
  readonly concurrency: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly timeoutMs: number;
  readonly p99MaxMs: number | undefined;
  readonly errorBudget: number;
  readonly outDir: string | undefined;
  readonly json: boolean;
}

/** The URL without user info (never echo credentials), or a UsageError. */
export function checkLdapUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--url: expected ldap://host:port or ldaps://host:port, got "${raw}"`);
  }
  if ((u.protocol !== 'ldap:' && u.protocol !== 'ldaps:') || u.hostname === '') {
    throw new UsageError(`--url: expected ldap://host:port or ldaps://host:port, got "${u.protocol}//${u.host}"`);
  }
  return `${u.protocol}//${u.host}`;
}

export function toPerfOptions(flags: ParsedFlags, readFile: (p: string) => string = (p) => fs.readFileSync(p, 'utf8')): PerfOptions {
  const url = checkLdapUrl(str(flags, 'url') ?? '');
  const bindDn = str(flags, 'bind-dn');
  const pwFile = str(flags, 'password-file');
  if (bindDn !== undefined && pwFile === undefined) throw new UsageError('--password-file: required with --bind-dn');
  if (bindDn === undefined && pwFile !== undefined) throw new UsageError('--password-file: only with --bind-dn');
  let password: string | undefined;
  if (pwFile !== undefined) {
    try {
      password = readFile(pwFile).trim();
    } catch (e) {
      throw new UsageError(`--password-file: cannot read "${pwFile}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (password === '') throw new UsageError(`--password-file: "${pwFile}" is empty`);
  }
  const attrs = str(flags, 'attributes');
  return {
    url,
    bindDn,
    password,
    base: str(flags, 'base') ?? '',
    filter: str(flags, 'filter') ?? '(objectClass=*)',
    scope: (str(flags, 'scope') ?? 'sub') as Scope,
    attributes: attrs === undefined ? [] : attrs.split(',').map((a) => a.trim()).filter((a) => a !== ''),
    concurrency: num(flags, 'concurrency') ?? 4,
    durationMs: num(flags, 'duration') ?? 30_000,
    warmupMs: num(flags, 'warmup') ?? 0,
    timeoutMs: num(flags, 'timeout-ms') ?? 5000,
    p99MaxMs: num(flags, 'p99-max-ms'),
    errorBudget: num(flags, 'error-budget') ?? 0.001,
    outDir: str(flags, 'out'),
    json: bool(flags, 'json'),
  };
}
