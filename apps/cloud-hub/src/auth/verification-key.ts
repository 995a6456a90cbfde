/**
 * Loads the hub's token verification key from the file named in `auth`
 * (SPEC §3, §5) and derives the JWS algorithms that fit it.
 *
 * Every failure is a plain Error whose message names the file and the rule,
 * never the file's content (it may be a secret). The caller exits with code 2.
 */
import { readFile } from 'node:fs/promises';
import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyOptions, type KeyLike, type JWTVerifyResult } from 'jose';
import type { AuthKeyConfig } from '@nowconnect/ha-config';

export interface VerificationKey {
  /** Algorithms a token's `alg` header may name for this key. Never `none`. */
  readonly algorithms: readonly string[];
  verify(token: string, options: JWTVerifyOptions): Promise<JWTVerifyResult>;
}

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
const PSS_ALGS = ['PS256', 'PS384', 'PS512'] as const;
const MIN_RSA_BITS = 2048;

/** Node's curve names (KeyObject) and JWK `crv` names -> the only ES alg for that curve. */
const EC_CURVE_ALG: ReadonlyMap<string, string> = new Map([
  ['prime256v1', 'ES256'],
  ['secp384r1', 'ES384'],
  ['secp521r1', 'ES512'],
  ['P-256', 'ES256'],
  ['P-384', 'ES384'],
  ['P-521', 'ES512'],
]);

export async function loadVerificationKey(cfg: AuthKeyConfig): Promise<VerificationKey> {
  switch (cfg.kind) {
    case 'hs256_secret_file':
      return loadSecret(cfg.path);
    case 'hs256_secret_files':
      return loadSecrets(cfg.paths);
    case 'public_key_file':
      return loadPublicKey(cfg.path);
    case 'jwks_file':
      return loadJwks(cfg.path);
  }
}

async function readKeyFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
    throw new Error(`auth: cannot read ${what} file ${path} (${code})`);
  }
}

async function loadSecret(path: string): Promise<VerificationKey> {
  const secret = trimAsciiWhitespace(await readKeyFile(path, 'HMAC secret'));
  if (secret.length === 0) {
    throw new Error(`auth: HMAC secret file ${path} is empty`);
  }
  const key = createSecretKey(secret);
  return { algorithms: HMAC_ALGS, verify: (token, options) => jwtVerify(token, key, options) };
}

/** The files a key config reads (watched for changes, see key-file-watcher). */
export function keyFilePaths(cfg: AuthKeyConfig): readonly string[] {
  return cfg.kind === 'hs256_secret_files' ? cfg.paths : [cfg.path];
}

/** Rotation overlap: the first secret whose signature verifies decides (claim errors then count). */
async function loadSecrets(paths: readonly string[]): Promise<VerificationKey> {
  const keys = await Promise.all(paths.map(loadSecret));
  return {
    algorithms: HMAC_ALGS,
    verify: async (token, options) => {
      let lastError: unknown;
      for (const key of keys) {
        try {
          return await key.verify(token, options);
        } catch (err) {
          if ((err as { code?: unknown } | undefined)?.code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw err;
          lastError = err;
        }
      }
      throw lastError;
    },
  };
}

async function loadPublicKey(path: string): Promise<VerificationKey> {
  const pem = (await readKeyFile(path, 'public key')).toString('utf8');
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new Error(`auth: public key file ${path} holds a private key; give the hub only the public key`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error(`auth: public key file ${path} is not a valid PEM public key or certificate`);
  }
  const algorithms = algorithmsForKey(key, `public key file ${path}`);
  return { algorithms, verify: (token, options) => jwtVerify(token, key, options) };
}

async function loadJwks(path: string): Promise<VerificationKey> {
  const where = `JWKS file ${path}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse((await readKeyFile(path, 'JWKS')).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`auth: ${where} is not valid JSON`);
    throw err;
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.keys) || parsed.keys.length === 0) {
    throw new Error(`auth: ${where} must be a JSON object {"keys": [...]} with at least one key`);
  }
  const algorithms = new Set<string>();
  parsed.keys.forEach((jwk: unknown, i: number) => {
    for (const alg of algorithmsForJwk(jwk, `${where}: keys[${i}]`)) algorithms.add(alg);
  });
  let getKey: ReturnType<typeof createLocalJWKSet>;
  try {
    getKey = createLocalJWKSet(parsed as unknown as JSONWebKeySet);
  } catch {
    throw new Error(`auth: ${where} is not a valid JSON Web Key Set`);
  }
  return { algorithms: [...algorithms], verify: (token, options) => verifyWithJwks(token, getKey, options) };
}

/**
 * jose refuses to guess when several keys fit a token without `kid` (e.g.
 * during rotation); it attaches the candidates to the error. Try each: the
 * first whose signature verifies decides (claim errors then count).
 */
async function verifyWithJwks(
  token: string,
  getKey: ReturnType<typeof createLocalJWKSet>,
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, getKey, options);
  } catch (err) {
    const candidates = (err as Partial<AsyncIterable<KeyLike>> | undefined)?.[Symbol.asyncIterator];
    if ((err as { code?: unknown } | undefined)?.code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' || candidates === undefined) {
      throw err;
    }
    let lastError: unknown = err;
    for await (const key of { [Symbol.asyncIterator]: candidates.bind(err) }) {
      try {
        return await jwtVerify(token, key, options);
      } catch (keyErr) {
        if ((keyErr as { code?: unknown } | undefined)?.code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw keyErr;
        lastError = keyErr;
      }
    }
    throw lastError;
  }
}

function algorithmsForJwk(jwk: unknown, where: string): readonly string[] {
  if (!isRecord(jwk)) throw new Error(`auth: ${where} is not a JSON object`);
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') {
    throw new Error(`auth: ${where} has kty ${JSON.stringify(jwk.kty)}; only RSA and EC public keys are allowed`);
  }
  if ('d' in jwk || 'p' in jwk || 'q' in jwk) {
    throw new Error(`auth: ${where} holds private key material; give the hub only public keys`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    throw new Error(`auth: ${where} is not a valid public JWK`);
  }
  const fitting = algorithmsForKey(key, where);
  if (jwk.alg === undefined) return fitting;
  if (typeof jwk.alg !== 'string' || !fitting.includes(jwk.alg)) {
    throw new Error(`auth: ${where} has alg ${JSON.stringify(jwk.alg)}, which does not fit its key type`);
  }
  return [jwk.alg];
}

/** RSA: RS*+PS*; RSA-PSS: PS* (its own hash when pinned); EC P-256/384/521: ES256/384/512. */
function algorithmsForKey(key: KeyObject, where: string): readonly string[] {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) {
        throw new Error(`auth: ${where} is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`);
      }
      if (key.asymmetricKeyType === 'rsa') return RSA_ALGS;
      const hash = details?.hashAlgorithm;
      return hash === undefined ? PSS_ALGS : PSS_ALGS.filter((alg) => `sha${alg.slice(2)}` === hash);
    }
    case 'ec': {
      const alg = EC_CURVE_ALG.get(details?.namedCurve ?? '');
      if (alg === undefined) {
        throw new Error(`auth: ${where} uses EC curve ${details?.namedCurve ?? 'unknown'}; only P-256, P-384 and P-521 are allowed`);
      }
      return [alg];
    }
    default:
      throw new Error(`auth: ${where} is a ${key.asymmetricKeyType ?? 'unknown'} key; only RSA and EC (P-256/384/521) keys are allowed`);
  }
}

function trimAsciiWhitespace(buf: Buffer): Buffer {
  const isWs = (b: number | undefined): boolean => b === 0x20 || (b !== undefined && b >= 0x09 && b <= 0x0d);
  let start = 0;
  let end = buf.length;
  while (start < end && isWs(buf[start])) start++;
  while (end > start && isWs(buf[end - 1])) end--;
  return buf.subarray(start, end);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
