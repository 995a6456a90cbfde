import { InvalidCredentialsError, NoSuchObjectError } from 'ldapts';
import { classifyError, isConnectionKind } from './errors';

const errno = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });

describe('classifyError', () => {
  it('LDAP result codes keep code and name', () => {
    expect(classifyError(new NoSuchObjectError('x'))).toBe('ldap_32_no_such_object');
    expect(classifyError(new InvalidCredentialsError('x'))).toBe('ldap_49_invalid_credentials');
  });
  it('socket errno codes', () => {
    expect(classifyError(errno('ECONNREFUSED'))).toBe('connection_refused');
    expect(classifyError(errno('ECONNRESET'))).toBe('connection_reset');
    expect(classifyError(errno('ENOTFOUND'))).toBe('dns');
    expect(classifyError(errno('EHOSTUNREACH'))).toBe('unreachable');
    expect(classifyError(errno('ERR_TLS_CERT_ALTNAME_INVALID'))).toBe('tls');
    expect(classifyError(errno('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))).toBe('tls');
    expect(classifyError(errno('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBe('tls');
  });
  it('ldapts messages: its deadlines, a socket error carrying the errno, a closed connection', () => {
    expect(classifyError(new Error('SearchRequest: Operation timed out'))).toBe('timeout');
    expect(classifyError(new Error('Connection timeout'))).toBe('timeout');
    expect(classifyError(new Error('Socket error. Message type: SearchRequest (0x63)\nread ECONNRESET'))).toBe('connection_reset');
    expect(classifyError(new Error('Connection closed before message response was received. Message type: SearchRequest (0x63)'))).toBe('connection_closed');
    expect(classifyError(new Error('something else'))).toBe('other');
    expect(classifyError('a string')).toBe('other');
  });
  it('connection kinds replace the connection, LDAP results do not', () => {
    expect(isConnectionKind('timeout')).toBe(true);
    expect(isConnectionKind('connection_closed')).toBe(true);
    expect(isConnectionKind('ldap_32_no_such_object')).toBe(false);
  });
});
