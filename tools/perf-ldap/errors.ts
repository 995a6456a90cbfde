import { ResultCodeError } from 'ldapts';

/** Node socket error codes → error kinds of the report. */
const ERRNO_KIND: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  ECONNABORTED: 'connection_reset',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
};

function snake(className: string): string {
  return className
    .replace(/Error$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * An error of a connect, bind or search → its kind: `ldap_<code>_<name>` for an LDAP result code
 * (e.g. ldap_32_no_such_object), `timeout`, `connection_refused`, `connection_reset`,
 * `connection_closed`, `dns`, `unreachable`, `tls`, or `other`.
 * ldapts reports socket failures as plain Errors whose message carries the errno ("read ECONNRESET")
 * and its own deadlines as "... timed out" / "Connection timeout": those are matched here, once.
 */
export function classifyError(e: unknown): string {
  if (e instanceof ResultCodeError) return `ldap_${e.code}_${snake(e.constructor.name)}`;
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno === 'string') {
    if (ERRNO_KIND[errno] !== undefined) return ERRNO_KIND[errno];
    if (/^ERR_TLS|^ERR_SSL|CERT|DEPTH_ZERO|^UNABLE_TO_/.test(errno)) return 'tls';
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (/timed out|timeout/i.test(msg)) return 'timeout';
  const inMsg = /\b(E[A-Z_]{4,})\b/.exec(msg)?.[1];
  if (inMsg !== undefined && ERRNO_KIND[inMsg] !== undefined) return ERRNO_KIND[inMsg];
  if (/Connection closed|Socket connection not established|Socket error/i.test(msg)) return 'connection_closed';
  return 'other';
}

/** Whether the connection should be replaced after this kind (everything but an LDAP result). */
export function isConnectionKind(kind: string): boolean {
  return !kind.startsWith('ldap_') && kind !== 'other';
}
