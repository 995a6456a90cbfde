import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import type { AuthConfig, AuthKeyConfig } from '@nowconnect/ha-config';
import { AUTH_FAILURE_REASONS, scopeAllows, TunnelAuthenticator, type AuthResult } from './index';

const SECRET = 'correct-horse-battery-staple-0123456789';
const now = (): number => Math.floor(Date.now() / 1000);
const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

let dir: string;
let rsa: { publicKey: KeyLike; privateKey: KeyLike };
let ec: { publicKey: KeyLike; privateKey: KeyLike };
let rsaPem: string;
let paths: { secret: string; rsa: string; ec: string; jwks: string };

function claims(overrides: JWTPayload = {}, omit: readonly string[] = []): JWTPayload {
  const base: JWTPayload = { sub: 'agent-1', aud: 'nowconnect', exp: now() + 600, iat: now(), ...overrides };
  for (const k of omit) delete base[k];
  return base;
}

function sign(payload: JWTPayload, alg: string, key: KeyLike | Uint8Array, kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) }).sign(key);
}

const secretKey = (s = SECRET): Uint8Array => new TextEncoder().encode(s);

function auth(key: AuthKeyConfig, issuer?: string): Promise<TunnelAuthenticator> {
  const cfg: AuthConfig = { audience: 'nowconnect', issuer, key, requireConnectorScope: true, clockSkewSec: 60 };
  return TunnelAuthenticator.fromConfig(cfg);
}

const bearer = (t: string): string => `Bearer ${t}`;
const reasonOf = (r: AuthResult): string => (r.ok ? 'ok' : r.reason);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nc-auth-'));
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  rsaPem = await exportSPKI(rsa.publicKey);
  const rsa2 = await generateKeyPair('RS256', { extractable: true });
  paths = {
    secret: join(dir, 'secret'),
    rsa: join(dir, 'rsa.pem'),
    ec: join(dir, 'ec.pem'),
    jwks: join(dir, 'jwks.json'),
  };
  writeFileSync(paths.secret, `  ${SECRET}\n\n`); // surrounding whitespace is trimmed
  writeFileSync(paths.rsa, rsaPem);
  writeFileSync(paths.ec, await exportSPKI(ec.publicKey));
  const keys = [
    { ...(await exportJWK(rsa2.publicKey)), kid: 'rsa-old', use: 'sig' },
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-new', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1' },
  ];
  writeFileSync(paths.jwks, JSON.stringify({ keys }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('AUTH_FAILURE_REASONS', () => {
  it('holds exactly the SPEC §5 label values', () => {
    expect([...AUTH_FAILURE_REASONS]).toEqual([
      'missing_token', 'malformed', 'bad_signature', 'algorithm', 'expired', 'audience', 'issuer', 'rate_limited',
    ]);
  });
});

describe('TunnelAuthenticator with an HMAC secret file', () => {
  let a: TunnelAuthenticator;
  beforeAll(async () => {
    a = await auth({ kind: 'hs256_secret_file', path: paths.secret });
  });

  it('accepts a valid HS256 token (secret file whitespace trimmed) and reports the agent', async () => {
    const exp = now() + 300;
    const r = await a.verify(bearer(await sign(claims({ exp }), 'HS256', secretKey())));
    expect(r).toEqual({ ok: true, agentId: 'agent-1', scope: { kind: 'unscoped' }, expiresAt: exp * 1000 });
  });

  it('accepts HS384 and HS512, and a lower-case scheme', async () => {
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'HS384', secretKey()))))).toBe('ok');
    expect(reasonOf(await a.verify(`bearer  ${await sign(claims(), 'HS512', secretKey())}`))).toBe('ok');
  });

  it.each([
    ['absent header', undefined, 'missing_token'],
    ['empty header', '', 'missing_token'],
    ['blank header', '   ', 'missing_token'],
    ['scheme without token', 'Bearer', 'missing_token'],
    ['other scheme', 'Basic x', 'malformed'],
    ['garbage token', 'Bearer not-a-jwt', 'malformed'],
    ['three garbage parts', 'Bearer abc.def.ghi', 'malformed'],
    ['two tokens', 'Bearer a.b.c d.e.f', 'malformed'],
    ['oversized token', `Bearer ${'a'.repeat(9000)}.b.c`, 'malformed'],
  ])('%s -> %s', async (_name, header, reason) => {
    expect(reasonOf(await a.verify(header))).toBe(reason);
  });

  it('refuses alg none (hand-crafted, empty signature) as algorithm', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`;
    expect(reasonOf(await a.verify(bearer(token)))).toBe('algorithm');
  });

  it('refuses RS256/ES256 tokens against a secret as algorithm', async () => {
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', rsa.privateKey))))).toBe('algorithm');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'ES256', ec.privateKey))))).toBe('algorithm');
  });

  it('refuses a token signed with another secret as bad_signature', async () => {
    const token = await sign(claims(), 'HS256', secretKey('some-other-secret-value-xxxxxxxxxx'));
    expect(reasonOf(await a.verify(bearer(token)))).toBe('bad_signature');
  });

  it('refuses a tampered payload as bad_signature', async () => {
    const [h, , s] = (await sign(claims(), 'HS256', secretKey())).split('.');
    const forged = `${h}.${b64url(claims({ sub: 'agent-2' }))}.${s}`;
    expect(reasonOf(await a.verify(bearer(forged)))).toBe('bad_signature');
  });

  it.each<[string, JWTPayload, readonly string[], string]>([
    ['expired beyond the 60 s skew', { exp: now() - 120 }, [], 'expired'],
    ['expired within the skew (30 s)', { exp: now() - 30 }, [], 'ok'],
    ['no exp', {}, ['exp'], 'expired'],
    ['non-numeric exp', { exp: 'soon' as unknown as number }, [], 'malformed'],
    ['nbf far in the future', { nbf: now() + 600 }, [], 'expired'],
    ['no aud', {}, ['aud'], 'audience'],
    ['wrong aud', { aud: 'someone-else' }, [], 'audience'],
    ['aud array containing nowconnect', { aud: ['other', 'nowconnect'] }, [], 'ok'],
    ['aud array without nowconnect', { aud: ['other', 'more'] }, [], 'audience'],
    ['any iss when no issuer is configured', { iss: 'https://anyone.example' }, [], 'ok'],
    ['no sub', {}, ['sub'], 'malformed'],
    ['sub with a space', { sub: 'agent 1' }, [], 'malformed'],
    ['sub too long', { sub: `a${'b'.repeat(128)}` }, [], 'malformed'],
    ['sub starting with a dot', { sub: '.agent' }, [], 'malformed'],
    ['sub with allowed punctuation', { sub: 'site-1.rack_2:agent' }, [], 'ok'],
    ['scope of the wrong type', { scope: 42 }, [], 'malformed'],
  ])('%s -> %s', async (_name, overrides, omit, reason) => {
    const token = await sign(claims(overrides, omit), 'HS256', secretKey());
    expect(reasonOf(await a.verify(bearer(token)))).toBe(reason);
  });

  it('parses the scope claim into the result', async () => {
    const r = await a.verify(bearer(await sign(claims({ scope: 'tunnel connector:ad connector:db' }), 'HS256', secretKey())));
    if (!r.ok) throw new Error(`expected ok, got ${r.reason}`);
    expect(scopeAllows(r.scope, 'ad')).toBe(true);
    expect(scopeAllows(r.scope, 'db')).toBe(true);
    expect(scopeAllows(r.scope, 'other')).toBe(false);
  });
});

describe('TunnelAuthenticator issuer check', () => {
  it('requires a matching iss when an issuer is configured', async () => {
    const a = await auth({ kind: 'hs256_secret_file', path: paths.secret }, 'https://idp.example');
    const ok = await sign(claims({ iss: 'https://idp.example' }), 'HS256', secretKey());
    const wrong = await sign(claims({ iss: 'https://evil.example' }), 'HS256', secretKey());
    const missing = await sign(claims(), 'HS256', secretKey());
    expect(reasonOf(await a.verify(bearer(ok)))).toBe('ok');
    expect(reasonOf(await a.verify(bearer(wrong)))).toBe('issuer');
    expect(reasonOf(await a.verify(bearer(missing)))).toBe('issuer');
  });
});

describe('TunnelAuthenticator with an RSA public key PEM', () => {
  let a: TunnelAuthenticator;
  beforeAll(async () => {
    a = await auth({ kind: 'public_key_file', path: paths.rsa });
  });

  it('allows exactly RS* and PS*', () => {
    expect([...a.algorithms].sort()).toEqual(['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
  });

  it('accepts RS256 and PS256 tokens', async () => {
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', rsa.privateKey))))).toBe('ok');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'PS256', rsa.privateKey))))).toBe('ok');
  });

  it('refuses HS256 signed with the public key bytes (alg confusion) as algorithm', async () => {
    const token = await sign(claims(), 'HS256', new TextEncoder().encode(rsaPem));
    expect(reasonOf(await a.verify(bearer(token)))).toBe('algorithm');
  });

  it('refuses alg none and ES256 as algorithm', async () => {
    const none = `${b64url({ alg: 'none' })}.${b64url(claims())}.`;
    expect(reasonOf(await a.verify(bearer(none)))).toBe('algorithm');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'ES256', ec.privateKey))))).toBe('algorithm');
  });

  it('refuses a token from another RSA key as bad_signature', async () => {
    const other = await generateKeyPair('RS256');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', other.privateKey))))).toBe('bad_signature');
  });

  it('refuses an expired RS256 token as expired', async () => {
    const token = await sign(claims({ exp: now() - 3600 }), 'RS256', rsa.privateKey);
    expect(reasonOf(await a.verify(bearer(token)))).toBe('expired');
  });
});

describe('TunnelAuthenticator with an EC P-256 public key PEM', () => {
  it('accepts ES256 only', async () => {
    const a = await auth({ kind: 'public_key_file', path: paths.ec });
    expect(a.algorithms).toEqual(['ES256']);
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'ES256', ec.privateKey))))).toBe('ok');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', rsa.privateKey))))).toBe('algorithm');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'HS256', secretKey()))))).toBe('algorithm');
  });
});

describe('TunnelAuthenticator with a JWKS file', () => {
  let a: TunnelAuthenticator;
  beforeAll(async () => {
    a = await auth({ kind: 'jwks_file', path: paths.jwks });
  });

  it('picks the key by kid', async () => {
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', rsa.privateKey, 'rsa-new'))))).toBe('ok');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'ES256', ec.privateKey, 'ec-1'))))).toBe('ok');
  });

  it('refuses a kid naming the wrong key, or an unknown kid, as bad_signature', async () => {
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', rsa.privateKey, 'rsa-old'))))).toBe('bad_signature');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', rsa.privateKey, 'nope'))))).toBe('bad_signature');
  });

  it('tries every matching key when no kid is given', async () => {
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', rsa.privateKey))))).toBe('ok');
    const expired = await sign(claims({ exp: now() - 3600 }), 'RS256', rsa.privateKey);
    expect(reasonOf(await a.verify(bearer(expired)))).toBe('expired');
    const stranger = await generateKeyPair('RS256');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'RS256', stranger.privateKey))))).toBe('bad_signature');
  });

  it('refuses HS256, ES384 (no such key) and none as algorithm', async () => {
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'HS256', secretKey(), 'rsa-new'))))).toBe('algorithm');
    const p384 = await generateKeyPair('ES384');
    expect(reasonOf(await a.verify(bearer(await sign(claims(), 'ES384', p384.privateKey))))).toBe('algorithm');
    const none = `${b64url({ alg: 'none', kid: 'rsa-new' })}.${b64url(claims())}.`;
    expect(reasonOf(await a.verify(bearer(none)))).toBe('algorithm');
  });
});
