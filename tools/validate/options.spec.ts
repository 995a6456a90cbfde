import { UsageError, parseArgs } from '../common/args';
import { VALIDATE_FLAGS, toValidateOptions, unescapeText } from './options';

const parse = (argv: string[]) => toValidateOptions(parseArgs(argv, VALIDATE_FLAGS).flags);

describe('validate options', () => {
  it('LDAP mode', () => {
    const o = parse(['--hub', 'http://nowconnect-cloud:8765/', '--listener', 'nowconnect-cloud:389', '--connector', 'addomain', '--ldap-base', 'dc=example,dc=org']);
    expect(o).toEqual({
      hubUrl: 'http://nowconnect-cloud:8765',
      listener: { host: 'nowconnect-cloud', port: 389 },
      connector: 'addomain',
      ldap: { base: 'dc=example,dc=org', scope: 'base', filter: '(objectClass=*)' },
      send: undefined,
      holdMs: 1000,
      timeoutMs: 5000,
    });
  });
  it('TCP mode with a probe payload', () => {
    const o = parse(['--hub', 'https://hub.example', '--listener', '[::1]:5432', '--send', 'PING\\r\\n', '--timeout-ms', '2000']);
    expect(o.ldap).toBeUndefined();
    expect(o.send?.toString()).toBe('PING\r\n');
    expect(o.timeoutMs).toBe(2000);
  });
  it('usage errors name the flag', () => {
    const msg = (argv: string[]): string => {
      try {
        parse(argv);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error('expected a UsageError');
    };
    expect(msg(['--listener', 'h:1'])).toBe('missing required flag --hub');
    expect(msg(['--hub', 'http://h:1'])).toBe('missing required flag --listener');
    expect(msg(['--hub', 'ws://h:1', '--listener', 'h:1'])).toBe('--hub: expected an http(s) URL, got "ws://h:1"');
    expect(msg(['--hub', 'nowhere', '--listener', 'h:1'])).toBe('--hub: expected an http(s) URL, got "nowhere"');
    expect(msg(['--hub', 'http://h:1', '--listener', 'h'])).toBe('--listener: expected host:port, got "h"');
    expect(msg(['--hub', 'http://h:1', '--listener', 'h:1', '--ldap-base', 'dc=x', '--send', 'a'])).toBe('--send: only for the TCP round trip, not with --ldap-base');
    expect(msg(['--hub', 'http://h:1', '--listener', 'h:1', '--timeout-ms', '5'])).toBe('--timeout-ms: must be >= 100, got "5"');
  });
  it('unescapes \\r \\n \\t \\\\', () => {
    expect(unescapeText('a\\tb\\\\n\\n')).toBe('a\tb\\n\n');
  });
});
