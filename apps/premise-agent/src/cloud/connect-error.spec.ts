import { CloudConnectError, classifyConnectError, type CloudConnectReason } from './connect-error';

const withCode = (code: string, message = 'irrelevant'): Error => Object.assign(new Error(message), { code });

describe('classifyConnectError', () => {
  const cases: Array<[string, CloudConnectReason]> = [
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['ECONNREFUSED', 'refused'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['ETIMEDOUT', 'timeout'],
    ['CERT_HAS_EXPIRED', 'tls'],
    ['CERT_NOT_YET_VALID', 'tls'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'tls'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls'],
    ['EHOSTUNREACH', 'network'],
    ['ENETUNREACH', 'network'],
  ];

  it.each(cases)('%s -> %s', (code, reason) => {
    expect(classifyConnectError(withCode(code))).toBe(reason);
  });

  it('branches on codes, never on messages', () => {
    expect(classifyConnectError(new Error('connect ECONNREFUSED 127.0.0.1:1'))).toBe('network');
    expect(classifyConnectError(withCode('ENOTFOUND', 'certificate has expired'))).toBe('dns');
  });

  it('uses the first inner error of an AggregateError (happy-eyeballs dial)', () => {
    expect(classifyConnectError(new AggregateError([withCode('ECONNREFUSED'), withCode('ETIMEDOUT')]))).toBe('refused');
  });

  it('keeps the reason of a CloudConnectError and tolerates non-errors', () => {
    expect(classifyConnectError(new CloudConnectError('proxy', 'x', { status: 407 }))).toBe('proxy');
    expect(classifyConnectError(undefined)).toBe('network');
    expect(classifyConnectError('ECONNREFUSED')).toBe('network');
  });

  it('CloudConnectError carries reason, status, permanent and code', () => {
    const e = new CloudConnectError('auth', 'hub refused', { status: 401, permanent: false, code: 'X' });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('CloudConnectError');
    expect([e.reason, e.status, e.permanent, e.code]).toEqual(['auth', 401, false, 'X']);
  });
});
