import { NAME_PATTERN } from '@nowconnect/frames';
/**
 * Verifies the `Authorization: Bearer <JWT>` header of a `/tunnel` upgrade
 * (SPEC §5) and turns every refusal into one reason from AUTH_FAILURE_REASONS.
 *
 * Order of checks:
 *   1. header shape            -> missing_token | malformed
 *   2. compact JWS + header    -> malformed
 *   3. `alg` fits the key type -> algorithm   (before any signature work, so
 *      alg confusion such as HS256 against an RSA key never reaches crypto)
 *   4. signature               -> bad_signature
 *   5. claims: iss/aud/sub/exp presence, values, time (skew 60 s)
 *   6. `sub` syntax, `scope` shape -> malformed
 * jose errors are mapped by their `code` (and `claim`) only, never by message. Nothing here
 * logs, and no result or error carries the token.
 */
import { decodeProtectedHeader, type JWTPayload } from 'jose';
import type { AuthConfig } from '@nowconnect/ha-config';
import type { AuthFailureReason } from './auth-failure';
import { parseConnectorScope, type ConnectorScope } from './connector-scope';
import { loadVerificationKey, type VerificationKey } from './verification-key';

export type AuthResult =
  | {
      readonly ok: true;
      /** The token's `sub`: the agent id a HELLO must name. */
      readonly agentId: string;
      readonly scope: ConnectorScope;
      /** The token's `exp`, in epoch milliseconds. */
      readonly expiresAt: number;
    }
  | { readonly ok: false; readonly reason: AuthFailureReason };

/** Allowed clock skew for `exp` (and `nbf`), seconds. */
export const CLOCK_TOLERANCE_SEC = 60;
/** Longer tokens are refused as malformed before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;
export const AGENT_ID_PATTERN = NAME_PATTERN;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const REQUIRED_CLAIMS = ['exp', 'sub'];

export class TunnelAuthenticator {
  private constructor(
    private key: VerificationKey,
    private readonly cfg: AuthConfig,
    private readonly issuer: string | undefined,
  ) {}

  /** Reads the key file named by `cfg.key`. Throws a plain Error (no secrets in it) when unusable. */
  static async fromConfig(cfg: AuthConfig): Promise<TunnelAuthenticator> {
    if (cfg.audience.length === 0) {
      throw new Error('auth: audience must not be empty');
    }
    const key = await loadVerificationKey(cfg.key);
    const issuer = cfg.issuer === undefined || cfg.issuer.length === 0 ? undefined : cfg.issuer;
    return new TunnelAuthenticator(key, cfg, issuer);
  }

  /**
   * Reads the key file(s) again and verifies with them from now on. Throws (as fromConfig) when
   * they are unusable; the current key then stays in use.
   */
  async reload(): Promise<void> {
    this.key = await loadVerificationKey(this.cfg.key);
  }

  /** Allowed clock skew (auth.clock_skew_sec, at most CLOCK_TOLERANCE_SEC), seconds. */
  get clockSkewSec(): number {
    return Math.min(this.cfg.clockSkewSec ?? CLOCK_TOLERANCE_SEC, CLOCK_TOLERANCE_SEC);
  }

  /** The `alg` values this hub accepts (for diagnostics; never includes `none`). */
  get algorithms(): readonly string[] {
    return this.key.algorithms;
  }

  async verify(authorizationHeader: string | undefined): Promise<AuthResult> {
    const extracted = extractBearerToken(authorizationHeader);
    if (typeof extracted !== 'string') return extracted;
    const token = extracted;

    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return fail('malformed');
    }
    if (typeof alg !== 'string') return fail('malformed');
    if (!this.key.algorithms.includes(alg)) return fail('algorithm');

    let payload: JWTPayload;
    try {
      ({ payload } = await this.key.verify(token, {
        algorithms: [...this.key.algorithms],
        audience: this.cfg.audience,
        ...(this.issuer === undefined ? {} : { issuer: this.issuer }),
        clockTolerance: this.clockSkewSec,
        requiredClaims: REQUIRED_CLAIMS,
      }));
    } catch (err) {
      return fail(reasonForError(err));
    }

    const { sub, exp } = payload;
    if (typeof sub !== 'string' || !AGENT_ID_PATTERN.test(sub)) return fail('malformed');
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return fail('malformed');
    const scope = parseConnectorScope(payload['scope']);
    if (scope === undefined) return fail('malformed');
    return { ok: true, agentId: sub, scope, expiresAt: exp * 1000 };
  }
}

/** Returns the token, or the failure for an absent/ill-formed header. */
function extractBearerToken(header: string | undefined): string | AuthResult {
  const trimmed = header?.trim() ?? '';
  if (trimmed.length === 0) return fail('missing_token');
  const match = /^(\S+)(?:\s+(.*))?$/s.exec(trimmed);
  if (match?.[1]?.toLowerCase() !== 'bearer') return fail('malformed');
  const token = match[2] ?? '';
  if (token.length === 0) return fail('missing_token');
  if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return fail('malformed');
  return token;
}

function reasonForError(err: unknown): AuthFailureReason {
  const e = (typeof err === 'object' && err !== null ? err : {}) as Partial<Record<'code' | 'claim' | 'reason', unknown>>;
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return reasonForClaim(e.claim, e.reason);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'bad_signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm';
    default:
      // ERR_JWS_INVALID, ERR_JWT_INVALID, ERR_JOSE_NOT_SUPPORTED, non-jose errors: fail closed.
      return 'malformed';
  }
}

function reasonForClaim(claim: unknown, reason: unknown): AuthFailureReason {
  switch (claim) {
    case 'exp':
      // Missing or in the past; a non-numeric `exp` is a malformed token.
      return reason === 'invalid' ? 'malformed' : 'expired';
    case 'nbf':
      // Not yet valid: outside the token's validity window, like an expired one.
      return reason === 'invalid' ? 'malformed' : 'expired';
    case 'aud':
      return 'audience';
    case 'iss':
      return 'issuer';
    default:
      // 'sub' missing, 'iat' not a number, anything else.
      return 'malformed';
  }
}

function fail(reason: AuthFailureReason): AuthResult {
  return { ok: false, reason };
}
