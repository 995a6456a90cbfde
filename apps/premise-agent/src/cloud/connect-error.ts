/**
 * Why a dial to the cloud hub failed. The value is logged as the `reason` of the
 * `cloud_connect_failed` agent event (SPEC §8), so the set is closed and stable.
 *
 * - dns      the hub host name did not resolve (ENOTFOUND, EAI_AGAIN)
 * - refused  the hub host answered with a TCP RST (ECONNREFUSED)
 * - tls      certificate verification or TLS protocol failure
 * - proxy    the HTTP CONNECT proxy was unreachable, refused the CONNECT (status set), or misbehaved
 * - auth     the hub refused the upgrade with 401/403 (status set)
 * - timeout  no open WebSocket within the handshake deadline (or ETIMEDOUT from the OS)
 * - http     the hub answered the upgrade with another non-101 status (status set)
 * - reset    the connection was reset or closed mid-handshake (ECONNRESET, EPIPE, ECONNABORTED)
 * - network  anything else (EHOSTUNREACH, ENETUNREACH, protocol errors without a code, ...)
 */
export type CloudConnectReason =
  | 'dns'
  | 'refused'
  | 'tls'
  | 'proxy'
  | 'auth'
  | 'timeout'
  | 'http'
  | 'reset'
  | 'network';

export interface CloudConnectErrorOptions {
  /** true when retrying with the same configuration cannot succeed (e.g. an unsupported proxy scheme). */
  permanent?: boolean;
  /** HTTP status of the proxy's CONNECT answer ('proxy') or of the hub's upgrade answer ('auth' / 'http'). */
  status?: number;
  /** The underlying error `code` (e.g. ECONNREFUSED), when there was one. */
  code?: string;
  cause?: unknown;
}

/**
 * The only error `dialCloud` rejects with. Messages never contain the bearer token nor proxy
 * credentials; they are safe to log.
 */
export class CloudConnectError extends Error {
  override readonly name = 'CloudConnectError';
  readonly reason: CloudConnectReason;
  readonly permanent?: boolean;
  readonly status?: number;
  readonly code?: string;

  constructor(reason: CloudConnectReason, message: string, options: CloudConnectErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    if (options.permanent !== undefined) this.permanent = options.permanent;
    if (options.status !== undefined) this.status = options.status;
    if (options.code !== undefined) this.code = options.code;
  }
}

const DNS_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** OpenSSL verify-error codes that node exposes as `err.code` without a common prefix. */
const TLS_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'HOSTNAME_MISMATCH',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'EPROTO',
]);
/** Prefixes of TLS/certificate codes: CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, ERR_SSL_WRONG_VERSION_NUMBER, ... */
const TLS_PREFIXES: readonly string[] = ['CERT_', 'CRL_', 'UNABLE_TO_', 'ERROR_IN_CERT_', 'ERR_TLS_', 'ERR_SSL_', 'ERR_OSSL_'];

/** The `code` of an error, or of the first inner error of an AggregateError (happy-eyeballs dials). */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code !== '') return code;
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.length > 0) return errorCode(inner[0]);
  return undefined;
}

/**
 * Maps a socket/TLS error to a reason by its `code` only (never by message). A CloudConnectError
 * keeps its own reason. Errors without a known code are 'network'.
 */
export function classifyConnectError(err: unknown): CloudConnectReason {
  if (err instanceof CloudConnectError) return err.reason;
  const code = errorCode(err);
  if (code === undefined) return 'network';
  if (DNS_CODES.has(code)) return 'dns';
  if (code === 'ECONNREFUSED') return 'refused';
  if (RESET_CODES.has(code)) return 'reset';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (TLS_CODES.has(code) || TLS_PREFIXES.some((p) => code.startsWith(p))) return 'tls';
  return 'network';
}
