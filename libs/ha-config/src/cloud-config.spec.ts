import { parseCloudConfig } from './cloud-config';
import { ConfigError } from './config-error';

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

function base(): Raw {
  return {
    auth: { hs256_secret_file: '/run/secrets/nc-jwt' },
    listeners: [
      { name: 'l1', bind: '0.0.0.0:389', connector: 'addomain', allow_cidrs: ['10.0.0.0/8'] },
      { name: 'l2', bind: '[::1]:5432', connector: 'pg' },
    ],
  };
}

function errorOf(patch: (raw: Raw) => void, env: Record<string, string> = {}): string {
  const raw = base();
  patch(raw);
  return failure(() => parseCloudConfig(raw, env)).message;
}

describe('parseCloudConfig: defaults', () => {
  it('fills every default from a minimal config', () => {
    const config = parseCloudConfig({ auth: { hs256_secret_file: 's' } }, {});
    expect(config).toEqual({
      server: { bind: { host: '0.0.0.0', port: 8765 }, adminBind: { host: '127.0.0.1', port: 9765 }, drainTimeoutSec: 30, requestTimeoutSec: 10, tls: undefined },
      auth: { audience: 'nowconnect', issuer: undefined, key: { kind: 'hs256_secret_file', path: 's' }, requireConnectorScope: true, clockSkewSec: 60 },
      listeners: [],
      limits: {
        maxFrameBytes: 1048576,
        flowWindowBytes: 262144,
        maxFlowWindowBytes: 16777216,
        tunnelWindowBytes: 67108864,
        processWindowBytes: 268435456,
        maxFlowsPerAgent: 10000,
        maxPendingOpensPerAgent: 256,
        helloTimeoutSec: 10,
        keepaliveSec: 15,
        openTimeoutSec: 10,
      },
      logging: { maskIps: true },
      ha: {
        enabled: false,
        mode: 'off',
        replicaId: 'hub-a',
        redisUrl: undefined,
        readinessDegradedCode: 503,
        leaseSec: 15,
        sweepIntervalSec: 30,
        mesh: {
          listen: undefined,
          peers: [],
          requireMtls: true,
          tls: { caBundle: undefined, certFile: undefined, keyFile: undefined },
          sendQueueDepth: 1000,
          perLinkMaxInflightBytes: 8388608,
          connectBackoffMaxSec: 30,
          advertiseUrl: undefined,
          ingress: { trustedProxies: undefined },
        },
      },
    });
  });

  it('treats empty sections (null) as absent and returns a frozen value', () => {
    const config = parseCloudConfig({ server: null, auth: { jwks_file: 'j' }, limits: null, ha: { mesh: null } }, {});
    expect(config.server.bind.port).toBe(8765);
    expect(config.auth.key).toEqual({ kind: 'jwks_file', path: 'j' });
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(Object.isFrozen(config.ha.mesh.peers)).toBe(true);
  });

  it('parses listener admission limits', () => {
    const raw = base();
    raw['listeners'][0] = { ...raw['listeners'][0], idle_timeout_sec: 600, max_flows_per_client_ip: 20, max_active_flows: 500, max_new_flows_per_sec: 50 };
    expect(parseCloudConfig(raw, {}).listeners[0]).toMatchObject({ idleTimeoutSec: 600, maxFlowsPerClientIp: 20, maxActiveFlows: 500, maxNewFlowsPerSec: 50 });
  });

  it('parses listeners, IPv6 binds and CIDRs', () => {
    const config = parseCloudConfig(base(), {});
    expect(config.listeners[0]).toMatchObject({ name: 'l1', bind: { host: '0.0.0.0', port: 389 }, connector: 'addomain' });
    expect(config.listeners[0]?.allowCidrs?.[0]).toMatchObject({ text: '10.0.0.0/8', family: 4, prefix: 8 });
    expect(config.listeners[1]).toEqual({
      name: 'l2',
      bind: { host: '::1', port: 5432 },
      connector: 'pg',
      allowCidrs: undefined,
      idleTimeoutSec: 0,
      maxFlowsPerClientIp: 0,
      maxActiveFlows: undefined,
      maxNewFlowsPerSec: undefined,
    });
  });

  it('allows port 0 (ephemeral) for binds', () => {
    const config = parseCloudConfig({ ...base(), server: { bind: '127.0.0.1:0' }, listeners: [{ name: 'a', bind: '127.0.0.1:0', connector: 'c' }, { name: 'b', bind: '127.0.0.1:0', connector: 'c' }] }, {});
    expect(config.server.bind).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.listeners.map((l) => l.bind.port)).toEqual([0, 0]);
  });

  it.each([
    [false, 'off'],
    ['off', 'off'],
    ['shadow', 'shadow'],
    ['active', 'active'],
  ])('ha.mode %j -> %s', (mode, expected) => {
    expect(parseCloudConfig({ ...base(), ha: { mode } }, {}).ha.mode).toBe(expected);
  });

  it('grows the default mesh in-flight budget with a large max_frame_bytes', () => {
    const config = parseCloudConfig({ ...base(), limits: { max_frame_bytes: 16 * 1024 * 1024 } }, {});
    expect(config.ha.mesh.perLinkMaxInflightBytes).toBe(16 * 1024 * 1024);
  });
});

describe('parseCloudConfig: env overrides', () => {
  const raw = (): Raw => ({
    ...base(),
    ha: { enabled: true, mode: 'shadow', replica_id: 'hub-x', redis_url: 'redis://file:6379/0', mesh: { ingress: { trusted_proxies: ['10.0.0.0/8'] } } },
  });

  it('NC_HA_MODE other than off without ha.enabled exits naming both keys', () => {
    const err = failure(() => parseCloudConfig({ ...base(), ha: { enabled: false } }, { NC_HA_MODE: 'active' }));
    expect(err.path).toBe('NC_HA_MODE');
    expect(err.message).toContain('ha.enabled');
    expect(parseCloudConfig(base(), { NC_HA_MODE: 'off' }).ha.mode).toBe('off');
  });

  it('server.admin_bind takes host:port (port 0 = ephemeral)', () => {
    expect(parseCloudConfig({ ...base(), server: { admin_bind: '127.0.0.1:0' } }, {}).server.adminBind).toEqual({ host: '127.0.0.1', port: 0 });
    expect(failure(() => parseCloudConfig({ ...base(), server: { admin_bind: 'nope' } }, {})).path).toBe('server.admin_bind');
  });

  it('NC_REPLICA_ID, NC_REDIS_URL, NC_HA_MODE win over the file', () => {
    const config = parseCloudConfig(raw(), { NC_REPLICA_ID: 'hub-b', NC_REDIS_URL: 'rediss://env:6380/1', NC_HA_MODE: 'active' });
    expect(config.ha).toMatchObject({ replicaId: 'hub-b', redisUrl: 'rediss://env:6380/1', mode: 'active' });
  });

  it('accepts Sentinel and Cluster redis URLs, and NC_MESH_ADVERTISE_URL', () => {
    const sentinel = parseCloudConfig({ ...base(), ha: { redis_url: 'redis+sentinel://s1:26379,s2:26379/mymaster/0' } }, {});
    expect(sentinel.ha.redisUrl).toBe('redis+sentinel://s1:26379,s2:26379/mymaster/0');
    const cluster = parseCloudConfig(base(), { NC_REDIS_URL: 'rediss+cluster://:pw@n1:7000,n2:7001' });
    expect(cluster.ha.redisUrl).toBe('rediss+cluster://:pw@n1:7000,n2:7001');
    const adv = parseCloudConfig({ ...base(), ha: { mesh: { advertise_url: 'wss://file/mesh' } } }, { NC_MESH_ADVERTISE_URL: 'wss://10.0.0.7:8766/mesh' });
    expect(adv.ha.mesh.advertiseUrl).toBe('wss://10.0.0.7:8766/mesh');
    expect(parseCloudConfig({ ...base(), ha: { lease_sec: 3, sweep_interval_sec: 5 } }, {}).ha).toMatchObject({ leaseSec: 3, sweepIntervalSec: 5 });
  });

  it('blank env values count as unset', () => {
    const config = parseCloudConfig(raw(), { NC_REPLICA_ID: '', NC_REDIS_URL: '  ', NC_HA_MODE: '' });
    expect(config.ha).toMatchObject({ replicaId: 'hub-x', redisUrl: 'redis://file:6379/0', mode: 'shadow' });
  });

  it('NC_JWT_SECRET_FILE replaces the auth key, and satisfies a missing one', () => {
    const withKey = parseCloudConfig({ ...base(), auth: { public_key_file: 'pub.pem', audience: 'aud' } }, { NC_JWT_SECRET_FILE: '/s' });
    expect(withKey.auth).toEqual({ audience: 'aud', issuer: undefined, key: { kind: 'hs256_secret_file', path: '/s' }, requireConnectorScope: true, clockSkewSec: 60 });
    const bare = parseCloudConfig({}, { NC_JWT_SECRET_FILE: '/s' });
    expect(bare.auth.key).toEqual({ kind: 'hs256_secret_file', path: '/s' });
    const both = parseCloudConfig({ auth: { jwks_file: 'a', public_key_file: 'b' } }, { NC_JWT_SECRET_FILE: '/s' });
    expect(both.auth.key.kind).toBe('hs256_secret_file');
  });

  it.each([
    ['NC_HA_MODE', 'on', "NC_HA_MODE: expected 'off' | 'shadow' | 'active'"],
    ['NC_REPLICA_ID', 'hub a', 'NC_REPLICA_ID: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}'],
    ['NC_REDIS_URL', 'http://x', 'NC_REDIS_URL: expected a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL'],
  ])('%s errors name the env var', (name, value, message) => {
    expect(errorOf(() => undefined, { [name]: value })).toBe(message);
  });
});

describe('parseCloudConfig: errors name the key path', () => {
  const cases: Array<[string, (raw: Raw) => void]> = [
    ['servr: unknown key', (r) => (r['servr'] = {})],
    ['server.bnd: unknown key', (r) => (r['server'] = { bnd: '0.0.0.0:1' })],
    ['server: expected a mapping', (r) => (r['server'] = 'x')],
    ['server.bind: expected host:port', (r) => (r['server'] = { bind: 8765 })],
    ['server.bind: port must be from 0 to 65535', (r) => (r['server'] = { bind: '0.0.0.0:65536' })],
    ['server.drain_timeout_sec: expected an integer from 0 to 3600', (r) => (r['server'] = { drain_timeout_sec: -1 })],
    ['server.tls.key_file: required when server.tls is set', (r) => (r['server'] = { tls: { cert_file: 'c' } })],
    ['server.tls.cert_file: required when server.tls is set', (r) => (r['server'] = { tls: { key_file: 'k' } })],
    ['server.tls.ca: unknown key', (r) => (r['server'] = { tls: { ca: 'x' } })],
    ['auth: one of hs256_secret_file | public_key_file | jwks_file is required', (r) => (r['auth'] = { audience: 'nowconnect' })],
    ['auth: one of hs256_secret_file | public_key_file | jwks_file is required', (r) => delete r['auth']],
    ['auth: only one of hs256_secret_file | public_key_file | jwks_file may be set', (r) => (r['auth'] = { hs256_secret_file: 'a', jwks_file: 'b' })],
    ['auth.issuer: expected a string', (r) => (r['auth'].issuer = 5)],
    ['auth.audience: expected a non-empty string', (r) => (r['auth'].audience = ' ')],
    ['listeners: expected a list', (r) => (r['listeners'] = { name: 'l1' })],
    ['listeners[0].idle_timeout_sec: expected an integer from 0 to 604800', (r) => (r['listeners'][0].idle_timeout_sec = -1)],
    ['listeners[0].max_flows_per_client_ip: expected an integer from 0 to 1000000', (r) => (r['listeners'][0].max_flows_per_client_ip = 1.5)],
    ['listeners[0].max_active_flows: expected an integer from 1 to 10000000', (r) => (r['listeners'][0].max_active_flows = 0)],
    ['listeners[0].max_new_flows_per_sec: expected an integer from 1 to 1000000', (r) => (r['listeners'][0].max_new_flows_per_sec = 'x')],
    ['listeners[1]: expected a mapping', (r) => (r['listeners'][1] = null)],
    ['listeners[1].bind: expected host:port', (r) => (r['listeners'][1].bind = 'localhost')],
    ['listeners[1].bind: expected host:port', (r) => (r['listeners'][1].bind = '::1:389')],
    ['listeners[1].bind: expected host:port', (r) => (r['listeners'][1].bind = '[10.0.0.1]:389')],
    ['listeners[1].bind: expected host:port', (r) => (r['listeners'][1].bind = '999.1.1.1:389')],
    ['listeners[1].bind: expected host:port', (r) => (r['listeners'][1].bind = 'host:38a')],
    ['listeners[1].bind: required', (r) => delete r['listeners'][1].bind],
    ['listeners[1].bind: duplicate bind (also listeners[0])', (r) => (r['listeners'][1].bind = '0.0.0.0:389')],
    ['listeners[1].name: duplicate listener name (also listeners[0])', (r) => (r['listeners'][1].name = 'l1')],
    ['listeners[1].name: required', (r) => delete r['listeners'][1].name],
    ['listeners[1].name: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}', (r) => (r['listeners'][1].name = '-x')],
    ['listeners[1].connector: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}', (r) => (r['listeners'][1].connector = 'a b')],
    ['listeners[1].port: unknown key', (r) => (r['listeners'][1].port = 1)],
    ['listeners[0].allow_cidrs: expected a list', (r) => (r['listeners'][0].allow_cidrs = '10.0.0.0/8')],
    ['listeners[0].allow_cidrs: expected a non-empty list (omit the key to allow all)', (r) => (r['listeners'][0].allow_cidrs = [])],
    ['listeners[0].allow_cidrs[1]: prefix length must be from 0 to 32', (r) => r['listeners'][0].allow_cidrs.push('10.0.0.0/40')],
    ['listeners[0].allow_cidrs[1]: expected an IPv4 or IPv6 CIDR like 10.0.0.0/8', (r) => r['listeners'][0].allow_cidrs.push(10)],
    ['limits.max_frame_bytes: expected an integer from 65548 to 67108864', (r) => (r['limits'] = { max_frame_bytes: 65536 })],
    ['limits.flow_window_bytes: expected an integer from 16384 to 1073741824', (r) => (r['limits'] = { flow_window_bytes: 1024 })],
    ['limits.max_flows_per_agent: expected an integer from 1 to 1000000', (r) => (r['limits'] = { max_flows_per_agent: 0 })],
    ['limits.max_pending_opens_per_agent: expected an integer from 1 to 100000', (r) => (r['limits'] = { max_pending_opens_per_agent: 1.5 })],
    ['limits.hello_timeout_sec: expected an integer from 1 to 300', (r) => (r['limits'] = { hello_timeout_sec: '10' })],
    ['limits.keepalive_sec: expected an integer from 1 to 3600', (r) => (r['limits'] = { keepalive_sec: 0 })],
    ['limits.tunnel_window_bytes: expected an integer from 1048576 to 1073741824', (r) => (r['limits'] = { tunnel_window_bytes: 65536 })],
    ['limits.max_frames: unknown key', (r) => (r['limits'] = { max_frames: 1 })],
    ['logging.mask_ips: expected true or false', (r) => (r['logging'] = { mask_ips: 'no' })],
    ['logging.level: unknown key', (r) => (r['logging'] = { level: 'debug' })],
    ['ha.enabled: expected true or false', (r) => (r['ha'] = { enabled: 'yes' })],
    ["ha.mode: expected 'off' | 'shadow' | 'active'", (r) => (r['ha'] = { mode: true })],
    ["ha.mode: expected 'off' | 'shadow' | 'active'", (r) => (r['ha'] = { mode: 'Active' })],
    ['ha.replica_id: expected a name matching [A-Za-z0-9][A-Za-z0-9._:-]{0,127}', (r) => (r['ha'] = { replica_id: 'a/b' })],
    ['ha.redis_url: expected a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL', (r) => (r['ha'] = { redis_url: 'localhost:6379' })],
    ['ha.readiness_degraded_code: expected 200 or a 5xx status code', (r) => (r['ha'] = { readiness_degraded_code: 404 })],
    ['ha.mesh.listen: expected host:port', (r) => (r['ha'] = { mesh: { listen: '8766' } })],
    ['ha.mesh.peers: expected a list', (r) => (r['ha'] = { mesh: { peers: 'wss://b/mesh' } })],
    ['ha.mesh.peers[1]: expected a ws:// or wss:// URL', (r) => (r['ha'] = { mesh: { peers: ['wss://b/mesh', 'https://c/mesh'] } })],
    ['ha.mesh.peers[1]: duplicate peer', (r) => (r['ha'] = { mesh: { peers: ['wss://b/mesh', 'wss://b/mesh'] } })],
    ['ha.mesh.require_mtls: expected true or false', (r) => (r['ha'] = { mesh: { require_mtls: 1 } })],
    ['ha.mesh.tls.key_file: required when cert_file is set', (r) => (r['ha'] = { mesh: { tls: { cert_file: 'c' } } })],
    ['ha.mesh.tls.cert_file: required when key_file is set', (r) => (r['ha'] = { mesh: { tls: { key_file: 'k' } } })],
    ['ha.mesh.tls.ca_file: unknown key', (r) => (r['ha'] = { mesh: { tls: { ca_file: 'k' } } })],
    ['ha.mesh.send_queue_depth: expected an integer from 1 to 1000000', (r) => (r['ha'] = { mesh: { send_queue_depth: 0 } })],
    ['ha.mesh.per_link_max_inflight_bytes: must be at least limits.max_frame_bytes (1048576)', (r) => (r['ha'] = { mesh: { per_link_max_inflight_bytes: 65536 } })],
    ['ha.mesh.connect_backoff_max_sec: expected an integer from 1 to 3600', (r) => (r['ha'] = { mesh: { connect_backoff_max_sec: 0 } })],
    ['ha.mesh.peer: unknown key', (r) => (r['ha'] = { mesh: { peer: [] } })],
    ['ha.lease_sec: expected an integer from 1 to 3600', (r) => (r['ha'] = { lease_sec: 0 })],
    ['ha.sweep_interval_sec: expected an integer from 1 to 86400', (r) => (r['ha'] = { sweep_interval_sec: 'often' })],
    ['ha.mesh.advertise_url: expected a ws:// or wss:// URL', (r) => (r['ha'] = { mesh: { advertise_url: 'hub-a:8766' } })],
    ['ha.redis_url: expected a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL', (r) => (r['ha'] = { redis_url: 'redis+sentinel://' })],
    ['ha.mesh.ingress.trusted_proxies: expected a list', (r) => (r['ha'] = { mesh: { ingress: { trusted_proxies: '10.0.0.0/8' } } })],
    ['ha.mesh.ingress.trusted_proxies[0]: expected an IPv4 or IPv6 CIDR like 10.0.0.0/8', (r) => (r['ha'] = { mesh: { ingress: { trusted_proxies: [8] } } })],
    ['ha.mesh.ingress.proxies: unknown key', (r) => (r['ha'] = { mesh: { ingress: { proxies: [] } } })],
  ];

  it.each(cases)('%s', (message, patch) => {
    expect(errorOf(patch)).toBe(message);
  });

  describe('ha.mesh.ingress.trusted_proxies (issue 13 finding 1)', () => {
    const active = (mesh: Record<string, unknown>): Record<string, unknown> => ({ ...base(), ha: { enabled: true, mode: 'active', mesh } });
    it('is required in active mode when the only mesh path relies on ingress headers', () => {
      const err = failure(() => parseCloudConfig(active({}), {}));
      expect(err.path).toBe('ha.mesh.ingress.trusted_proxies');
      expect(err.detail).toMatch(/^required in active mode/);
      // a plain ha.mesh.listen with require_mtls relies on headers too; NC_HA_MODE counts
      expect(failure(() => parseCloudConfig(active({ listen: '0.0.0.0:8766' }), {})).path).toBe('ha.mesh.ingress.trusted_proxies');
      expect(failure(() => parseCloudConfig({ ...base(), ha: { enabled: true, mode: 'shadow' } }, { NC_HA_MODE: 'active' })).path).toBe('ha.mesh.ingress.trusted_proxies');
    });
    it('is not needed with a TLS mesh listener, with require_mtls off, in shadow mode or with HA off', () => {
      expect(parseCloudConfig(active({ listen: '0.0.0.0:8766', tls: { cert_file: 'c', key_file: 'k', ca_bundle: 'ca' } }), {}).ha.mesh.ingress.trustedProxies).toBeUndefined();
      expect(parseCloudConfig(active({ require_mtls: false }), {}).ha.mode).toBe('active');
      expect(parseCloudConfig({ ...base(), ha: { enabled: true, mode: 'shadow' } }, {}).ha.mode).toBe('shadow');
      expect(parseCloudConfig({ ...base(), ha: { enabled: false, mode: 'active' } }, {}).ha.enabled).toBe(false);
    });
    it('parses CIDRs (IPv4, IPv6) and refuses an empty list', () => {
      const c = parseCloudConfig(active({ ingress: { trusted_proxies: ['10.0.0.0/8', 'fd00::/8'] } }), {});
      expect(c.ha.mesh.ingress.trustedProxies).toHaveLength(2);
      expect(failure(() => parseCloudConfig(active({ ingress: { trusted_proxies: [] } }), {})).path).toBe('ha.mesh.ingress.trusted_proxies');
    });
  });

  it('rejects a non-mapping document', () => {
    expect(failure(() => parseCloudConfig(['a'], {})).message).toBe('(root): expected a mapping');
    expect(failure(() => parseCloudConfig('text', {})).message).toBe('(root): expected a mapping');
  });

  it('carries path and detail separately', () => {
    const err = failure(() => parseCloudConfig({ ...base(), server: { bind: 'nope' } }, {}));
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect([err.path, err.detail]).toEqual(['server.bind', 'expected host:port']);
  });
});

describe('parseCloudConfig: issue 13 keys', () => {
  it('reads request_timeout_sec, open_timeout_sec, require_connector_scope, clock_skew_sec and hs256_secret_files', () => {
    const c = parseCloudConfig(
      {
        server: { request_timeout_sec: 3 },
        auth: { hs256_secret_files: ['/new', '/old'], require_connector_scope: false, clock_skew_sec: 5 },
        limits: { open_timeout_sec: 4 },
      },
      {},
    );
    expect(c.server.requestTimeoutSec).toBe(3);
    expect(c.limits.openTimeoutSec).toBe(4);
    expect(c.auth).toMatchObject({ requireConnectorScope: false, clockSkewSec: 5, key: { kind: 'hs256_secret_files', path: '/new', paths: ['/new', '/old'] } });
  });

  it('names the key of a bad value', () => {
    const err = (raw: unknown): string => {
      try {
        parseCloudConfig(raw, {});
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err({ auth: { hs256_secret_files: [] } })).toMatch(/^auth\.hs256_secret_files: /);
    expect(err({ auth: { hs256_secret_files: ['/a', 3] } })).toMatch(/^auth\.hs256_secret_files\[1\]: /);
    expect(err({ auth: { hs256_secret_file: '/a', hs256_secret_files: ['/b'] } })).toMatch(/^auth: only one of/);
    expect(err({ auth: { hs256_secret_file: '/a', clock_skew_sec: 61 } })).toMatch(/^auth\.clock_skew_sec: /);
    expect(err({ auth: { hs256_secret_file: '/a' }, server: { request_timeout_sec: 0 } })).toMatch(/^server\.request_timeout_sec: /);
    expect(err({ auth: { hs256_secret_file: '/a' }, limits: { open_timeout_sec: 0 } })).toMatch(/^limits\.open_timeout_sec: /);
  });
});
