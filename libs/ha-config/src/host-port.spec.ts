import { ConfigError } from './config-error';
import { formatHostPort, parseHostPort } from './host-port';
import * as barrel from './index';

describe('parseHostPort / formatHostPort', () => {
  it.each([
    ['0.0.0.0:389', '0.0.0.0', 389],
    ['localhost:0', 'localhost', 0],
    ['shared_redis:6379', 'shared_redis', 6379],
    ['db.internal.example.:5432', 'db.internal.example.', 5432],
    ['[::1]:389', '::1', 389],
    ['[::]:8765', '::', 8765],
    [' openldap:389 ', 'openldap', 389],
  ])('%j', (text, host, port) => {
    const hp = parseHostPort(text, 'x', 0);
    expect(hp).toEqual({ host, port });
  });

  it.each(['', ':389', 'host', 'host:', 'host:-1', '::1:389', '[::1]', '[::1]389', '[1.2.3.4]:1', 'a b:1', '1.2.3:1', 'host:1:2', '-bad:1'])(
    'rejects %j',
    (text) => {
      const err = (() => {
        try {
          parseHostPort(text, 'x', 0);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe('x: expected host:port');
    },
  );

  it('names the port range', () => {
    expect(() => parseHostPort('h:0', 'x', 1)).toThrow(new ConfigError('x', 'port must be from 1 to 65535'));
    expect(() => parseHostPort('h:99999', 'x', 0)).toThrow(new ConfigError('x', 'port must be from 0 to 65535'));
  });

  it('formats IPv6 with brackets and round-trips', () => {
    expect(formatHostPort({ host: '::1', port: 389 })).toBe('[::1]:389');
    expect(formatHostPort({ host: '10.0.0.1', port: 389 })).toBe('10.0.0.1:389');
    for (const text of ['[2001:db8::1]:443', 'hub:8765']) expect(formatHostPort(parseHostPort(text, 'x', 0))).toBe(text);
  });

  it('is exported from the barrel with the rest of the public API', () => {
    expect(Object.keys(barrel).sort()).toEqual(
      [
        'CLOUD_CONFIG',
        'ConfigError',
        'HaConfigModule',
        'PREMISE_CONFIG',
        'cidrAllows',
        'exitOnConfigError',
        'formatHostPort',
        'loadCloudConfig',
        'loadPremiseConfig',
        'parseCidr',
        'parseCloudConfig',
        'parsePremiseConfig',
        'readSecretFile',
        'parseYaml',
        'configKindOf',
        'cloudConfigFiles',
        'premiseConfigFiles',
        'checkFilesReadable',
        'handleMainArgs',
      ].sort(),
    );
  });
});
