import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { AuthKeyConfig } from '@nowconnect/ha-config';
import { TunnelAuthenticator } from './tunnel-authenticator';
import { loadVerificationKey } from './verification-key';

const SECRET = 'do-not-leak-me-0123456789abcdef';
let dir: string;

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Loads and returns the error message; fails the test if loading succeeds. */
async function loadError(key: AuthKeyConfig): Promise<string> {
  try {
    await loadVerificationKey(key);
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    return (err as Error).message;
  }
  throw new Error('expected loading to fail');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nc-keys-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadVerificationKey: HMAC secret file', () => {
  it('allows HS256/384/512 and trims surrounding whitespace (not inner)', async () => {
    const key = await loadVerificationKey({ kind: 'hs256_secret_file', path: file('s1', `\r\n\t${SECRET} \n`) });
    expect(key.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
    const token = await new SignJWT({ sub: 'a', aud: 'nowconnect', exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    await expect(key.verify(token, { algorithms: ['HS256'] })).resolves.toBeDefined();
  });

  it('refuses an empty or whitespace-only secret', async () => {
    expect(await loadError({ kind: 'hs256_secret_file', path: file('s2', ' \n\n') })).toMatch(/is empty/);
  });

  it('names the file and errno when unreadable, never the content', async () => {
    const missing = join(dir, 'nope');
    const msg = await loadError({ kind: 'hs256_secret_file', path: missing });
    expect(msg).toContain(missing);
    expect(msg).toContain('ENOENT');
  });
});

describe('loadVerificationKey: public key PEM', () => {
  it.each([
    ['P-256', 'ES256'],
    ['P-384', 'ES384'],
    ['P-521', 'ES512'],
  ])('EC %s allows only %s', async (namedCurve, alg) => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve });
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const key = await loadVerificationKey({ kind: 'public_key_file', path: file(`ec-${namedCurve}.pem`, pem) });
    expect(key.algorithms).toEqual([alg]);
  });

  it('RSA-PSS key pinned to SHA-256 allows only PS256', async () => {
    const { publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048, hashAlgorithm: 'sha256', mgf1HashAlgorithm: 'sha256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    const key = await loadVerificationKey({ kind: 'public_key_file', path: file('pss.pem', pem) });
    expect(key.algorithms).toEqual(['PS256']);
  });

  it.each<[string, () => string | Buffer, RegExp]>([
    ['garbage', () => 'not a pem', /not a valid PEM/],
    ['a private key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), /private key/],
    ['RSA 1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }), /1024-bit RSA/],
    ['secp256k1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }), /curve secp256k1/],
    ['Ed25519', () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }), /ed25519 key/],
  ])('refuses %s', async (name, content, pattern) => {
    const path = file(`bad-${name}.pem`, content());
    const msg = await loadError({ kind: 'public_key_file', path });
    expect(msg).toMatch(pattern);
    expect(msg).toContain(path);
  });
});

describe('loadVerificationKey: JWKS file', () => {
  it('allows the algorithms of the key types present', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES384', { extractable: true });
    const keys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'r' }, { ...(await exportJWK(ec.publicKey)), kid: 'e' }];
    const key = await loadVerificationKey({ kind: 'jwks_file', path: file('ok.json', JSON.stringify({ keys })) });
    expect([...key.algorithms].sort()).toEqual(['ES384', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
  });

  it('honours a key\'s own alg member', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const keys = [{ ...(await exportJWK(rsa.publicKey)), alg: 'PS384' }];
    const key = await loadVerificationKey({ kind: 'jwks_file', path: file('alg.json', JSON.stringify({ keys })) });
    expect(key.algorithms).toEqual(['PS384']);
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    ['not JSON', async () => `{"keys": [ ${SECRET}`, /not valid JSON/],
    ['no keys array', async () => JSON.stringify({ kid: 'x' }), /"keys"/],
    ['empty keys', async () => JSON.stringify({ keys: [] }), /at least one key/],
    ['a symmetric key', async () => JSON.stringify({ keys: [{ kty: 'oct', k: Buffer.from(SECRET).toString('base64url') }] }), /keys\[0\].*only RSA and EC/],
    ['a private key', async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      return JSON.stringify({ keys: [await exportJWK(privateKey)] });
    }, /private key material/],
    ['a broken RSA key', async () => JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB' }] }), /not a valid public JWK/],
    ['an alg that does not fit', async () => {
      const { publicKey } = await generateKeyPair('ES256', { extractable: true });
      return JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), alg: 'RS256' }] });
    }, /does not fit/],
  ])('refuses %s without echoing content', async (name, content, pattern) => {
    const path = file(`bad-${name.replace(/\W/g, '_')}.json`, await content());
    const msg = await loadError({ kind: 'jwks_file', path });
    expect(msg).toMatch(pattern);
    expect(msg).toContain(path);
    expect(msg).not.toContain(SECRET);
    expect(msg).not.toContain(Buffer.from(SECRET).toString('base64url'));
  });
});

describe('TunnelAuthenticator.fromConfig', () => {
  it('refuses an empty audience', async () => {
    const path = file('aud-secret', SECRET);
    await expect(
      TunnelAuthenticator.fromConfig({ audience: '', issuer: undefined, requireConnectorScope: true, clockSkewSec: 60, key: { kind: 'hs256_secret_file', path } }),
    ).rejects.toThrow(/audience/);
  });

  it('propagates key file errors as plain Errors', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const path = file('ok-ec.pem', await exportSPKI(publicKey));
    await expect(
      TunnelAuthenticator.fromConfig({ audience: 'nowconnect', issuer: undefined, requireConnectorScope: true, clockSkewSec: 60, key: { kind: 'jwks_file', path } }),
    ).rejects.toThrow(/not valid JSON/);
  });
});
