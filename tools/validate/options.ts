import { UsageError, num, parseHostPort, str, type FlagSpec, type ParsedFlags } from '../common/args';

export const VALIDATE_FLAGS: readonly FlagSpec[] = [
  { name: 'hub', kind: 'string', arg: 'URL', required: true, help: 'the hub\'s HTTP base URL (server.bind), e.g. http://nowconnect-cloud:8765' },
  { name: 'listener', kind: 'string', arg: 'HOST:PORT', required: true, help: 'a hub listener to push traffic through, e.g. nowconnect-cloud:389' },
  { name: 'connector', kind: 'string', arg: 'NAME', help: 'the connector of that listener; when absent it is derived from which counters the probe connection moves' },
  { name: 'ldap-base', kind: 'string', arg: 'DN', help: 'do an anonymous LDAP search of this base DN through the listener (else a TCP round trip)' },
  { name: 'ldap-scope', kind: 'string', arg: 'SCOPE', default: 'base', choices: ['base', 'one', 'sub'], help: 'scope of the LDAP search' },
  { name: 'ldap-filter', kind: 'string', arg: 'FILTER', default: '(objectClass=*)', help: 'filter of the LDAP search' },
  { name: 'send', kind: 'string', arg: 'TEXT', help: 'TCP mode: send TEXT (\\r \\n \\t escapes) and expect at least one byte back; without it the connection must stay open (not reset) for --hold-ms' },
  { name: 'hold-ms', kind: 'int', arg: 'MS', default: '1000', min: 0, max: 600_000, help: 'TCP mode without --send: how long the connection must stay open' },
  { name: 'timeout-ms', kind: 'int', arg: 'MS', default: '5000', min: 100, max: 600_000, help: 'deadline of every step (HTTP calls, connects, the LDAP search, waiting for counters)' },
];

export interface ValidateOptions {
  readonly hubUrl: string;
  readonly listener: { readonly host: string; readonly port: number };
  readonly connector: string | undefined;
  readonly ldap: { readonly base: string; readonly scope: 'base' | 'one' | 'sub'; readonly filter: string } | undefined;
  readonly send: Buffer | undefined;
  readonly holdMs: number;
  readonly timeoutMs: number;
}

export function unescapeText(s: string): string {
  return s.replace(/\\([rnt\\])/g, (_m, c: string) => ({ r: '\r', n: '\n', t: '\t', '\\': '\\' })[c] ?? c);
}

export function toValidateOptions(flags: ParsedFlags): ValidateOptions {
  const hub = str(flags, 'hub') ?? '';
  let parsed: URL;
  try {
    parsed = new URL(hub);
  } catch {
    throw new UsageError(`--hub: expected an http(s) URL, got "${hub}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--hub: expected an http(s) URL, got "${hub}"`);
  const base = str(flags, 'ldap-base');
  const send = str(flags, 'send');
  if (base !== undefined && send !== undefined) throw new UsageError('--send: only for the TCP round trip, not with --ldap-base');
  return {
    hubUrl: hub.replace(/\/+$/, ''),
    listener: parseHostPort('listener', str(flags, 'listener') ?? ''),
    connector: str(flags, 'connector'),
    ldap: base === undefined ? undefined : { base, scope: str(flags, 'ldap-scope') as 'base' | 'one' | 'sub', filter: str(flags, 'ldap-filter') ?? '(objectClass=*)' },
    send: send === undefined ? undefined : Buffer.from(unescapeText(send), 'utf8'),
    holdMs: num(flags, 'hold-ms') ?? 1000,
    timeoutMs: num(flags, 'timeout-ms') ?? 5000,
  };
}
