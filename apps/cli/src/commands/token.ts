import { createPrivateKey, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { NAME_PATTERN } from '@nowconnect/frames';
import { optionalString, parseTtl, required, UsageError, type Command } from '../usage';

/** `nowconnect token issue` / `token inspect`: agent tokens as the hub verifies them (SPEC §5). */

function readKeyFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${path} (${String((err as { code?: unknown }).code ?? 'error')})`);
  }
}

/** The alg a private key signs with (RSA -> RS256, EC by curve, Ed25519 -> EdDSA). */
function algFor(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const alg = curve === 'prime256v1' ? 'ES256' : curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : undefined;
      if (alg === undefined) throw new UsageError(`--private-key-file: unsupported EC curve ${String(curve)}`);
      return alg;
    }
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new UsageError(`--private-key-file: unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

function signingKey(values: Record<string, unknown>): { key: KeyObject; alg: string } {
  const secretFile = optionalString(values, 'hs256-secret-file');
  const privateFile = optionalString(values, 'private-key-file');
  if ((secretFile === undefined) === (privateFile === undefined)) throw new UsageError('give exactly one of --hs256-secret-file or --private-key-file');
  if (secretFile !== undefined) {
    if (values['kid'] !== undefined) throw new UsageError('--kid: only with --private-key-file');
    const secret = readKeyFile(secretFile, 'hs256-secret-file').toString('utf8').trim();
    if (secret === '') throw new UsageError(`--hs256-secret-file: ${secretFile} is empty`);
    return { key: createSecretKey(Buffer.from(secret, 'utf8')), alg: 'HS256' };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readKeyFile(privateFile!, 'private-key-file'));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--private-key-file: ${privateFile} is not a PEM private key`);
  }
  return { key, alg: algFor(key) };
}

export const tokenIssue: Command = {
  name: 'token issue',
  summary: 'Sign an agent token (JWT) the hub accepts; prints the token and nothing else on stdout.',
  usage: 'nowconnect token issue --agent ID --connector NAME [--connector NAME...] [--ttl 90d] (--hs256-secret-file F | --private-key-file F [--kid K])',
  flags: [
    '--agent ID                 the agent id (`sub`; the agent\'s agent_id must equal it)',
    '--connector NAME           a connector the agent may serve (repeat; `*` = any)',
    '--ttl DURATION             lifetime, e.g. 90d, 12h, 30m (default 90d)',
    '--audience AUD             `aud` (default nowconnect; the hub\'s auth.audience)',
    '--issuer ISS               `iss` (the hub\'s auth.issuer, when it sets one)',
    '--hs256-secret-file FILE   the hub\'s auth.hs256_secret_file',
    '--private-key-file FILE    PEM private key of the hub\'s public_key_file / jwks_file (RS256, PS256, ES256/384/512, EdDSA)',
    '--kid KID                  `kid` header (JWKS key selection)',
  ],
  options: {
    agent: { type: 'string' },
    connector: { type: 'string', multiple: true },
    ttl: { type: 'string', default: '90d' },
    audience: { type: 'string', default: 'nowconnect' },
    issuer: { type: 'string' },
    'hs256-secret-file': { type: 'string' },
    'private-key-file': { type: 'string' },
    kid: { type: 'string' },
  },
  async run(values) {
    const agent = required(values, 'agent');
    if (!NAME_PATTERN.test(agent)) throw new UsageError('--agent: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}');
    const connectors = (values['connector'] as string[] | undefined) ?? [];
    if (connectors.length === 0) throw new UsageError('--connector is required (repeat it for several; `*` allows any)');
    for (const c of connectors) if (c !== '*' && !NAME_PATTERN.test(c)) throw new UsageError(`--connector: "${c}" is not a valid connector name`);
    const ttlSec = parseTtl(required(values, 'ttl'), 'ttl');
    const { key, alg } = signingKey(values);
    const kid = optionalString(values, 'kid');
    const issuer = optionalString(values, 'issuer');
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ scope: connectors.map((c) => `connector:${c}`).join(' ') })
      .setProtectedHeader({ alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }) })
      .setSubject(agent)
      .setAudience(required(values, 'audience'))
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSec)
      .setJti(randomUUID());
    if (issuer !== undefined) jwt.setIssuer(issuer);
    process.stdout.write(`${await jwt.sign(key)}\n`);
    return 0;
  },
};

function readToken(values: Record<string, unknown>, positionals: string[]): string {
  const file = optionalString(values, 'token-file');
  if (file !== undefined && positionals.length > 0) throw new UsageError('--token-file: give either a token or --token-file, not both');
  if (positionals.length > 1) throw new UsageError('expected one token');
  const arg = positionals[0];
  const text = file !== undefined ? readKeyFile(file, 'token-file').toString('utf8') : arg === undefined || arg === '-' ? readFileSync(0, 'utf8') : arg;
  return text.trim();
}

function when(epochSec: unknown): string {
  return typeof epochSec === 'number' ? new Date(epochSec * 1000).toISOString() : '-';
}

function remaining(expSec: number): string {
  const s = expSec - Math.floor(Date.now() / 1000);
  if (s <= 0) return `EXPIRED ${Math.ceil(-s / 60)} min ago`;
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  return d > 0 ? `in ${d}d ${h}h` : `in ${h}h ${Math.floor((s % 3600) / 60)}m`;
}

export const tokenInspect: Command = {
  name: 'token inspect',
  summary: 'Show a token\'s claims: agent, audience, expiry, connector scope (decodes only, reads no key).',
  usage: 'nowconnect token inspect [TOKEN | - | --token-file FILE] [--json]',
  flags: ['TOKEN | -                  the JWT, or - (or nothing) to read it from stdin', '--token-file FILE          read the JWT from a file (the agent\'s token_file)', '--json                     print header and claims as JSON'],
  options: { 'token-file': { type: 'string' }, json: { type: 'boolean' } },
  positionals: true,
  async run(values, positionals) {
    const token = readToken(values, positionals);
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>;
      claims = decodeJwt(token) as Record<string, unknown>;
    } catch {
      process.stderr.write('token inspect: not a JWT (expected header.payload.signature)\n');
      return 1;
    }
    if (values['json'] === true) {
      process.stdout.write(`${JSON.stringify({ header, claims }, null, 2)}\n`);
      return 0;
    }
    const scope = typeof claims['scope'] === 'string' ? claims['scope'] : Array.isArray(claims['scope']) ? claims['scope'].join(' ') : '';
    const connectors = scope.split(/\s+/).filter((e) => e.startsWith('connector:')).map((e) => e.slice('connector:'.length));
    const exp = claims['exp'];
    const rows: [string, string][] = [
      ['alg', String(header['alg'] ?? '-')],
      ['kid', String(header['kid'] ?? '-')],
      ['agent (sub)', String(claims['sub'] ?? '-')],
      ['audience', Array.isArray(claims['aud']) ? claims['aud'].join(', ') : String(claims['aud'] ?? '-')],
      ['issuer', String(claims['iss'] ?? '-')],
      ['issued', when(claims['iat'])],
      ['expires', typeof exp === 'number' ? `${when(exp)} (${remaining(exp)})` : 'never (the hub refuses tokens without exp)'],
      ['connectors', connectors.length === 0 ? '(no connector: entries: any connector unless auth.require_connector_scope)' : connectors.join(', ')],
      ['signature', 'not verified (inspect only decodes; the hub verifies)'],
    ];
    process.stdout.write(rows.map(([k, v]) => `${k.padEnd(12)} ${v}`).join('\n') + '\n');
    return 0;
  },
};
