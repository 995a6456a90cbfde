import { UsageError, parseArgs } from '../common/args';
import { PERF_FLAGS, checkLdapUrl, toPerfOptions } from './options';

function opts(argv: string[], files: Record<string, string> = {}) {
  const read = (p: string): string => {
    const v = files[p];
    if (v === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return v;
  };
  return toPerfOptions(parseArgs(argv, PERF_FLAGS).flags, read);
}

function usage(argv: string[], files: Record<string, string> = {}): string {
  try {
    opts(argv, files);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('perf:ldap options', () => {
  it('defaults: anonymous, sub scope, (objectClass=*), 4 workers, 30 s, budget 0.001, no p99 threshold', () => {
    const o = opts(['--url', 'ldap://hub:389', '--base', 'dc=example,dc=org']);
    expect(o).toMatchObject({
      url: 'ldap://hub:389',
      bindDn: undefined,
      password: undefined,
      scope: 'sub',
      filter: '(objectClass=*)',
      attributes: [],
      concurrency: 4,
      durationMs: 30_000,
      warmupMs: 0,
      timeoutMs: 5000,
      p99MaxMs: undefined,
      errorBudget: 0.001,
      json: false,
    });
  });

  it('the issue\'s command line', () => {
    const o = opts(
      ['--url', 'ldap://hub:389', '--bind-dn', 'cn=admin,dc=example,dc=org', '--password-file', '/s/pw', '--base', 'dc=example,dc=org',
        '--concurrency', '8', '--duration', '30s', '--p99-max-ms', '25', '--error-budget', '0.1', '--attributes', 'uid, cn', '--warmup', '2s'],
      { '/s/pw': '  s3cret\n' },
    );
    expect(o).toMatchObject({ bindDn: 'cn=admin,dc=example,dc=org', password: 's3cret', concurrency: 8, durationMs: 30_000, p99MaxMs: 25, errorBudget: 0.1, attributes: ['uid', 'cn'], warmupMs: 2000 });
  });

  it('usage errors name the flag', () => {
    expect(usage(['--base', 'b'])).toBe('missing required flag --url');
    expect(usage(['--url', 'ldap://h:1'])).toBe('missing required flag --base');
    expect(usage(['--url', 'ldap://h:1', '--base', 'b', '--bind-dn', 'cn=x'])).toBe('--password-file: required with --bind-dn');
    expect(usage(['--url', 'ldap://h:1', '--base', 'b', '--password-file', '/p'], { '/p': 'x' })).toBe('--password-file: only with --bind-dn');
    expect(usage(['--url', 'ldap://h:1', '--base', 'b', '--bind-dn', 'cn=x', '--password-file', '/missing'])).toBe('--password-file: cannot read "/missing" (ENOENT)');
    expect(usage(['--url', 'ldap://h:1', '--base', 'b', '--bind-dn', 'cn=x', '--password-file', '/e'], { '/e': ' \n' })).toBe('--password-file: "/e" is empty');
    expect(usage(['--url', 'ldap://h:1', '--base', 'b', '--error-budget', '2'])).toBe('--error-budget: must be <= 1, got "2"');
    expect(usage(['--url', 'ldap://h:1', '--base', 'b', '--scope', 'children'])).toBe('--scope: expected one of base|one|sub, got "children"');
  });

  it('URLs: ldap and ldaps only; user info is dropped (never echoed)', () => {
    expect(checkLdapUrl('ldaps://hub:636/')).toBe('ldaps://hub:636');
    expect(checkLdapUrl('ldap://user:pw@hub:389')).toBe('ldap://hub:389');
    expect(() => checkLdapUrl('http://hub')).toThrow('--url: expected ldap://host:port or ldaps://host:port, got "http://hub"');
    expect(() => checkLdapUrl('hub:389')).toThrow(UsageError);
    expect(() => checkLdapUrl('ldap://user:pw@')).toThrow(UsageError);
  });
});
