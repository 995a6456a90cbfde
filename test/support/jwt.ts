import { SignJWT, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, type KeyLike } from 'jose';
import * as crypto from 'node:crypto';

export interface MintOptions {
  /** HS* secret (the same string the hub reads from hs256_secret_file, trimmed). */
  secret?: string | Uint8Array;
  /** RS256/PS256/ES256 (etc.) private key: a jose KeyLike or a PKCS#8 PEM string. */
  privateKey?: KeyLike | string;
  alg?: string;
  sub?: string;
  /** Audience; pass null to omit the claim. */
  aud?: string | string[] | null;
  /** Seconds from now until exp; negative for an already-expired token; null to omit exp. */
  expSec?: number | null;
  iss?: string;
  /**
   * Space-separated scope string or a list (joined with spaces). Default `connector:*` (hubs
   * refuse tokens without connector: entries, auth.require_connector_scope); null omits the claim.
   */
  scope?: string | string[] | null;
  kid?: string;
  /** Extra claims merged into the payload. */
  extra?: Record<string, unknown>;
  /** Extra protected-header fields. */
  header?: Record<string, unknown>;
}

function claims(o: MintOptions): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const p: Record<string, unknown> = { iat: now };
  if (o.sub !== undefined) p.sub = o.sub;
  const aud = o.aud === undefined ? 'nowconnect' : o.aud;
  if (aud !== null) p.aud = aud;
  const expSec = o.expSec === undefined ? 3600 : o.expSec;
  if (expSec !== null) {
    p.exp = now + expSec;
    if (expSec < 0) p.iat = now + expSec - 60;
  }
  if (o.iss !== undefined) p.iss = o.iss;
  const scope = o.scope === undefined ? 'connector:*' : o.scope;
  if (scope !== null) p.scope = Array.isArray(scope) ? scope.join(' ') : scope;
  return { ...p, ...(o.extra ?? {}) };
}

/** Sign a JWT for the tunnel (defaults: HS256, aud 'nowconnect', exp in 1 h). */
export async function mintToken(o: MintOptions): Promise<string> {
  const alg = o.alg ?? (o.privateKey !== undefined ? 'RS256' : 'HS256');
  let key: KeyLike | Uint8Array;
  if (o.privateKey !== undefined) {
    key = typeof o.privateKey === 'string' ? await importPKCS8(o.privateKey, alg) : o.privateKey;
  } else if (o.secret !== undefined) {
    key = typeof o.secret === 'string' ? new TextEncoder().encode(o.secret) : o.secret;
  } else {
    throw new Error('mintToken: give secret or privateKey');
  }
  const header = { ...(o.header ?? {}), alg, typ: 'JWT', ...(o.kid !== undefined ? { kid: o.kid } : {}) };
  return new SignJWT(claims(o)).setProtectedHeader(header).sign(key);
}

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/** An unsigned `alg: none` token with the same claims mintToken would produce (must be refused). */
export function mintUnsigned(o: Omit<MintOptions, 'secret' | 'privateKey' | 'alg'> = {}): string {
  return `${b64url({ alg: 'none', typ: 'JWT', ...(o.header ?? {}) })}.${b64url(claims(o))}.`;
}

export interface KeyPair {
  alg: string;
  privateKey: KeyLike;
  publicKey: KeyLike;
  privateKeyPem: string;
  /** SPKI PEM, what the hub's public_key_file holds. */
  publicKeyPem: string;
  /** Public JWK with kid/alg/use set, for a jwks_file. */
  publicJwk: Record<string, unknown>;
}

/** Generate an asymmetric key pair (RS256, PS256, ES256, ...) for public_key_file / jwks_file tests. */
export async function makeKeyPair(alg = 'RS256', kid = `k-${crypto.randomBytes(4).toString('hex')}`): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return {
    alg,
    privateKey,
    publicKey,
    privateKeyPem: await exportPKCS8(privateKey),
    publicKeyPem: await exportSPKI(publicKey),
    publicJwk: { ...jwk, kid, alg, use: 'sig' },
  };
}

/** A random HS256 secret (hex text). */
export function randomSecret(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('hex');
}
