import { ConfigError } from './config-error';
import { parsePremiseConfig } from './premise-config';

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function plain(name: string, ...targets: Array<{ host: string; port: number }>): unknown {
  return { name, target: targets[0], targets, strategy: 'failover', connectTimeoutMs: 3000, health: undefined };
}

function base(): Raw {
  return {
    cloud_url: 'ws://127.0.0.1:8765/tunnel',
    agent_id: 'dev-agent-1',
    token_file: '/run/secrets/nc-token',
    connectors: [{ name: 'addomain', target: 'openldap:389' }],
  };
}

function errorOf(patch: (raw: Raw) => void, env: Record<string, string> = {}): string {
  const raw = base();
  patch(raw);
  return failure(() => parsePremiseConfig(raw, env)).message;
}

describe('parsePremiseConfig: file', () => {
  it('parses the SPEC §4 example', () => {
    const config = parsePremiseConfig({ ...base(), ca_file: '/etc/ca.pem', proxy_url: 'http://u:p@proxy.corp:3128' }, {});
    expect(config).toEqual({
      cloudUrls: ['ws://127.0.0.1:8765/tunnel'],
      agentId: 'dev-agent-1',
      token: { kind: 'file', path: '/run/secrets/nc-token' },
      caFile: '/etc/ca.pem',
      proxyUrl: 'http://u:p@proxy.corp:3128',
      limits: { maxFlows: 10000, maxPendingConnects: 256 },
      links: 2,
      stripes: 4,
      connectors: [plain('addomain', { host: 'openldap', port: 389 })],
    });
    expect(Object.isFrozen(config.connectors[0])).toBe(true);
  });

  it('leaves proxyUrl undefined even when HTTPS_PROXY is set (the dialer resolves it)', () => {
    const config = parsePremiseConfig(base(), { HTTPS_PROXY: 'http://p:3128', HTTP_PROXY: 'http://p:3128' });
    expect(config.proxyUrl).toBeUndefined();
    expect(config.caFile).toBeUndefined();
  });

  it('accepts cloud_url as a list or a comma-separated string', () => {
    expect(parsePremiseConfig({ ...base(), cloud_url: ['wss://a/tunnel', 'wss://b/tunnel'] }, {}).cloudUrls).toEqual(['wss://a/tunnel', 'wss://b/tunnel']);
    expect(parsePremiseConfig({ ...base(), cloud_url: 'wss://a/tunnel, wss://b/tunnel' }, {}).cloudUrls).toEqual(['wss://a/tunnel', 'wss://b/tunnel']);
  });

  it('adds http:// to a scheme-less proxy_url', () => {
    expect(parsePremiseConfig({ ...base(), proxy_url: 'proxy.corp:3128' }, {}).proxyUrl).toBe('http://proxy.corp:3128');
  });

  it('parses several targets, strategy, connect_timeout_ms and health (defaults filled in)', () => {
    const config = parsePremiseConfig(
      {
        ...base(),
        connectors: [
          { name: 'addomain', targets: ['dc1:389', 'dc2:389'], strategy: 'least_flows', connect_timeout_ms: 500, health: { kind: 'ldap', rise: 1 } },
        ],
      },
      {},
    );
    expect(config.connectors[0]).toEqual({
      name: 'addomain',
      target: { host: 'dc1', port: 389 },
      targets: [
        { host: 'dc1', port: 389 },
        { host: 'dc2', port: 389 },
      ],
      strategy: 'least_flows',
      connectTimeoutMs: 500,
      health: { intervalSec: 10, timeoutMs: 2000, fall: 3, rise: 1, kind: 'ldap' },
    });
  });

  it('NC_CONNECTORS: several targets of one connector separated by |', () => {
    const config = parsePremiseConfig(base(), { NC_CONNECTORS: 'addomain=dc1:389|dc2:389, pg=db:5432' });
    expect(config.connectors).toEqual([
      plain('addomain', { host: 'dc1', port: 389 }, { host: 'dc2', port: 389 }),
      plain('pg', { host: 'db', port: 5432 }),
    ]);
  });

  it('parses IPv6 targets', () => {
    const config = parsePremiseConfig({ ...base(), connectors: [{ name: 'v6', target: '[::1]:389' }] }, {});
    expect(config.connectors[0]?.target).toEqual({ host: '::1', port: 389 });
  });
});

describe('parsePremiseConfig: env', () => {
  const env = {
    NC_CLOUD_URL: 'wss://hub-a/tunnel,wss://hub-b/tunnel',
    NC_AGENT_ID: 'agent-env',
    NC_TOKEN_FILE: '/env/token',
    NC_CA_FILE: '/env/ca.pem',
    NC_PROXY_URL: 'http://env-proxy:8080',
    NC_CONNECTORS: 'addomain=openldap:389, pg=db:5432',
  };

  it('env wins over the file for every key', () => {
    const config = parsePremiseConfig({ ...base(), ca_file: '/file/ca.pem', proxy_url: 'http://file:1' }, env);
    expect(config).toEqual({
      cloudUrls: ['wss://hub-a/tunnel', 'wss://hub-b/tunnel'],
      agentId: 'agent-env',
      token: { kind: 'file', path: '/env/token' },
      caFile: '/env/ca.pem',
      proxyUrl: 'http://env-proxy:8080',
      limits: { maxFlows: 10000, maxPendingConnects: 256 },
      links: 2,
      stripes: 4,
      connectors: [
        plain('addomain', { host: 'openldap', port: 389 }),
        plain('pg', { host: 'db', port: 5432 }),
      ],
    });
  });

  it('runs from env alone', () => {
    expect(parsePremiseConfig({}, env).agentId).toBe('agent-env');
    expect(parsePremiseConfig({}, { ...env, NC_CLOUD_URL: 'ws://one/tunnel' }).cloudUrls).toEqual(['ws://one/tunnel']);
  });

  it('token precedence: NC_TOKEN > NC_TOKEN_FILE > token_file', () => {
    expect(parsePremiseConfig(base(), { NC_TOKEN: ' abc.def.ghi\n', NC_TOKEN_FILE: '/env/token' }).token).toEqual({ kind: 'inline', token: 'abc.def.ghi' });
    expect(parsePremiseConfig(base(), { NC_TOKEN_FILE: '/env/token' }).token).toEqual({ kind: 'file', path: '/env/token' });
    expect(parsePremiseConfig(base(), { NC_TOKEN: '', NC_TOKEN_FILE: '' }).token).toEqual({ kind: 'file', path: '/run/secrets/nc-token' });
    const noFile = base();
    delete noFile['token_file'];
    expect(parsePremiseConfig(noFile, { NC_TOKEN: 't' }).token).toEqual({ kind: 'inline', token: 't' });
  });
});

describe('parsePremiseConfig: errors', () => {
  const cases: Array<[string, (raw: Raw) => void, Record<string, string>]> = [
    ['cloud_url: required (or NC_CLOUD_URL)', (r) => delete r['cloud_url'], {}],
    ['cloud_url: required (or NC_CLOUD_URL)', (r) => (r['cloud_url'] = []), {}],
    ['cloud_url: expected a ws:// or wss:// URL', (r) => (r['cloud_url'] = 'http://hub/tunnel'), {}],
    ['cloud_url: expected a ws:// or wss:// URL or a list of them', (r) => (r['cloud_url'] = 5), {}],
    ['cloud_url[1]: expected a ws:// or wss:// URL', (r) => (r['cloud_url'] = ['ws://a/tunnel', 'not a url']), {}],
    ['cloud_url[1]: duplicate URL', (r) => (r['cloud_url'] = ['ws://a/tunnel', 'ws://a/tunnel']), {}],
    ['agent_id: required (or NC_AGENT_ID)', (r) => delete r['agent_id'], {}],
    ['agent_id: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}', (r) => (r['agent_id'] = 'a b'), {}],
    ['token_file: required (or NC_TOKEN / NC_TOKEN_FILE)', (r) => delete r['token_file'], {}],
    ['token_file: expected a string', (r) => (r['token_file'] = ['x']), {}],
    ['ca_file: expected a non-empty string', (r) => (r['ca_file'] = ''), {}],
    ['proxy_url: expected an http:// proxy URL (HTTP CONNECT)', (r) => (r['proxy_url'] = 'socks5://p:1080'), {}],
    ['connectors: required (or NC_CONNECTORS)', (r) => delete r['connectors'], {}],
    ['connectors: required (or NC_CONNECTORS)', (r) => (r['connectors'] = []), {}],
    ['connectors: expected a list', (r) => (r['connectors'] = { name: 'a' }), {}],
    ['connectors[0]: expected a mapping', (r) => (r['connectors'] = [null]), {}],
    ['connectors[0].target: required (or targets)', (r) => (r['connectors'] = [{ name: 'a' }]), {}],
    ['connectors[0].targets: give either target or targets, not both', (r) => (r['connectors'] = [{ name: 'a', target: 'h:1', targets: ['h:2'] }]), {}],
    ['connectors[0].targets: expected at least one host:port', (r) => (r['connectors'] = [{ name: 'a', targets: [] }]), {}],
    ['connectors[0].targets[1]: expected host:port', (r) => (r['connectors'] = [{ name: 'a', targets: ['h:1', 'h'] }]), {}],
    ['connectors[0].targets[1]: duplicate target', (r) => (r['connectors'] = [{ name: 'a', targets: ['h:1', 'h:1'] }]), {}],
    ['connectors[0].strategy: expected one of failover | round_robin | least_flows', (r) => (r['connectors'] = [{ name: 'a', target: 'h:1', strategy: 'random' }]), {}],
    ['connectors[0].connect_timeout_ms: expected an integer from 50 to 120000', (r) => (r['connectors'] = [{ name: 'a', target: 'h:1', connect_timeout_ms: 0 }]), {}],
    ['connectors[0].health.kind: expected one of tcp | ldap', (r) => (r['connectors'] = [{ name: 'a', target: 'h:1', health: { kind: 'http' } }]), {}],
    ['connectors[0].health.fall: expected an integer from 1 to 100', (r) => (r['connectors'] = [{ name: 'a', target: 'h:1', health: { fall: 0 } }]), {}],
    ['connectors[0].health.timeout_ms: must not exceed interval_sec * 1000', (r) => (r['connectors'] = [{ name: 'a', target: 'h:1', health: { interval_sec: 1, timeout_ms: 2000 } }]), {}],
    ['connectors[0].health.every: unknown key', (r) => (r['connectors'] = [{ name: 'a', target: 'h:1', health: { every: 1 } }]), {}],
    ['NC_CONNECTORS[0]: expected host:port', () => undefined, { NC_CONNECTORS: 'a=h:1|' }],
    ['NC_CONNECTORS[0][1]: duplicate target', () => undefined, { NC_CONNECTORS: 'a=h:1|h:1' }],
    ['connectors[0].target: expected host:port', (r) => (r['connectors'] = [{ name: 'a', target: 'openldap' }]), {}],
    ['connectors[0].target: port must be from 1 to 65535', (r) => (r['connectors'] = [{ name: 'a', target: 'openldap:0' }]), {}],
    ['connectors[0].name: required', (r) => (r['connectors'] = [{ target: 'h:1' }]), {}],
    ['connectors[0].host: unknown key', (r) => (r['connectors'] = [{ name: 'a', host: 'h' }]), {}],
    ['connectors[1].name: duplicate connector name (also index 0)', (r) => r['connectors'].push({ name: 'addomain', target: 'x:1' }), {}],
    ['cloud_urls: unknown key', (r) => (r['cloud_urls'] = []), {}],
    ['NC_CLOUD_URL: expected a ws:// or wss:// URL', () => undefined, { NC_CLOUD_URL: 'hub:8765' }],
    ['NC_CLOUD_URL[1]: expected a ws:// or wss:// URL', () => undefined, { NC_CLOUD_URL: 'ws://a/tunnel,' }],
    ['NC_AGENT_ID: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}', () => undefined, { NC_AGENT_ID: '*' }],
    ['NC_PROXY_URL: expected an http:// proxy URL (HTTP CONNECT)', () => undefined, { NC_PROXY_URL: 'https://p:443' }],
    ['NC_CONNECTORS[1]: expected name=host:port', () => undefined, { NC_CONNECTORS: 'a=h:1,pg' }],
    ['NC_CONNECTORS[1]: expected host:port', () => undefined, { NC_CONNECTORS: 'a=h:1,pg=db' }],
    ['NC_CONNECTORS[0]: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}', () => undefined, { NC_CONNECTORS: '=h:1' }],
    ['NC_CONNECTORS[1]: port must be from 1 to 65535', () => undefined, { NC_CONNECTORS: 'a=h:1,b=h:70000' }],
    ['NC_CONNECTORS[1]: duplicate connector name (also index 0)', () => undefined, { NC_CONNECTORS: 'a=h:1,a=h:2' }],
  ];

  it.each(cases)('%s', (message, patch, env) => {
    expect(errorOf(patch, env)).toBe(message);
  });

  it('never echoes a URL (it may carry credentials)', () => {
    expect(errorOf(() => undefined, { NC_PROXY_URL: 'ftp://user:s3cret@p:21' })).not.toContain('s3cret');
  });
});

describe('parsePremiseConfig: limits', () => {
  it('reads limits.max_flows and limits.max_pending_connects', () => {
    const config = parsePremiseConfig({ ...base(), limits: { max_flows: 200, max_pending_connects: 50 } }, {});
    expect(config.limits).toEqual({ maxFlows: 200, maxPendingConnects: 50 });
  });

  it('refuses unknown or out-of-range limits, naming the key', () => {
    expect(() => parsePremiseConfig({ ...base(), limits: { max_flows: 0 } }, {})).toThrow(/limits\.max_flows/);
    expect(() => parsePremiseConfig({ ...base(), limits: { max_pending: 1 } }, {})).toThrow(/limits/);
  });
});

describe('parsePremiseConfig: links', () => {
  it('defaults to 2; the file and NC_LINKS set it (env wins)', () => {
    expect(parsePremiseConfig(base(), {}).links).toBe(2);
    expect(parsePremiseConfig({ ...base(), links: 1 }, {}).links).toBe(1);
    expect(parsePremiseConfig({ ...base(), links: 1 }, { NC_LINKS: '3' }).links).toBe(3);
    expect(parsePremiseConfig({ ...base(), links: 4 }, { NC_LINKS: ' ' }).links).toBe(4);
  });

  it.each([
    [{ links: 0 }, {}, 'links: expected an integer from 1 to 8'],
    [{ links: 9 }, {}, 'links: expected an integer from 1 to 8'],
    [{ links: 'two' }, {}, 'links: expected an integer from 1 to 8'],
    [{ links: 1.5 }, {}, 'links: expected an integer from 1 to 8'],
    [{}, { NC_LINKS: '0' }, 'NC_LINKS: expected an integer from 1 to 8'],
    [{}, { NC_LINKS: 'x' }, 'NC_LINKS: expected an integer from 1 to 8'],
    [{}, { NC_LINKS: '-1' }, 'NC_LINKS: expected an integer from 1 to 8'],
    [{}, { NC_LINKS: '99999' }, 'NC_LINKS: expected an integer from 1 to 8'],
  ])('refuses %j / %j naming the key', (extra, env, message) => {
    expect(() => parsePremiseConfig({ ...base(), ...extra }, env)).toThrow(message);
  });
});

describe('parsePremiseConfig: stripes', () => {
  it('defaults to 4; the file and NC_STRIPES set it (env wins)', () => {
    expect(parsePremiseConfig(base(), {}).stripes).toBe(4);
    expect(parsePremiseConfig({ ...base(), stripes: 1 }, {}).stripes).toBe(1);
    expect(parsePremiseConfig({ ...base(), stripes: 1 }, { NC_STRIPES: '8' }).stripes).toBe(8);
    expect(parsePremiseConfig({ ...base(), stripes: 2 }, { NC_STRIPES: ' ' }).stripes).toBe(2);
  });

  it.each([
    [{ stripes: 0 }, {}, 'stripes: expected an integer from 1 to 8'],
    [{ stripes: 9 }, {}, 'stripes: expected an integer from 1 to 8'],
    [{ stripes: 'four' }, {}, 'stripes: expected an integer from 1 to 8'],
    [{ stripes: 2.5 }, {}, 'stripes: expected an integer from 1 to 8'],
    [{}, { NC_STRIPES: '0' }, 'NC_STRIPES: expected an integer from 1 to 8'],
    [{}, { NC_STRIPES: 'x' }, 'NC_STRIPES: expected an integer from 1 to 8'],
    [{}, { NC_STRIPES: '12345' }, 'NC_STRIPES: expected an integer from 1 to 8'],
  ])('refuses %j / %j naming the key', (extra, env, message) => {
    expect(() => parsePremiseConfig({ ...base(), ...extra }, env)).toThrow(message);
  });
});
