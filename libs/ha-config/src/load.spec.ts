import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from './config-error';
import { loadCloudConfig, loadPremiseConfig, readSecretFile } from './load';

const EXAMPLES = resolve(__dirname, '../../../config');

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

let dir: string;
const cwd = process.cwd();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nc-config-'));
});

afterEach(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('example configs', () => {
  it('config/cloud.yaml parses', () => {
    const config = loadCloudConfig({ NC_CONFIG: join(EXAMPLES, 'cloud.yaml') });
    expect(config.server.bind).toEqual({ host: '0.0.0.0', port: 8765 });
    expect(config.auth.key).toEqual({ kind: 'hs256_secret_file', path: 'config/dev-secret' });
    expect(config.listeners).toHaveLength(1);
    expect(config.listeners[0]).toMatchObject({ name: 'l1', bind: { host: '0.0.0.0', port: 1389 }, connector: 'addomain' });
    expect(config.listeners[0]?.allowCidrs?.map((c) => c.text)).toContain('127.0.0.1/32');
    expect(config.ha).toMatchObject({ enabled: false, mode: 'off' });
  });

  it('config/premise.yaml parses', () => {
    expect(loadPremiseConfig({ NC_CONFIG: join(EXAMPLES, 'premise.yaml') })).toEqual({
      cloudUrls: ['ws://127.0.0.1:8765/tunnel'],
      agentId: 'dev-agent-1',
      token: { kind: 'file', path: 'config/dev-token' },
      caFile: undefined,
      proxyUrl: undefined,
      limits: { maxFlows: 10000, maxPendingConnects: 256 },
      links: 2,
      stripes: 4,
      connectors: [
        {
          name: 'addomain',
          target: { host: '127.0.0.1', port: 389 },
          targets: [{ host: '127.0.0.1', port: 389 }],
          strategy: 'failover',
          connectTimeoutMs: 3000,
          health: undefined,
        },
      ],
    });
  });

  it('config/cloud.ha-example.yaml parses', () => {
    const config = loadCloudConfig({ NC_CONFIG: join(EXAMPLES, 'cloud.ha-example.yaml') });
    expect(config.server.tls).toEqual({ certFile: '/app/certs/hub.crt', keyFile: '/app/certs/hub.key' });
    expect(config.ha).toMatchObject({ enabled: true, mode: 'active', replicaId: 'hub-a', redisUrl: 'redis://shared_redis:6379/0' });
    expect(config.ha.mesh).toMatchObject({ listen: { host: '0.0.0.0', port: 8766 }, peers: ['wss://cloud-b.example/mesh'], requireMtls: true });
    expect(config.ha.mesh.tls).toEqual({ caBundle: '/app/certs/ca.pem', certFile: '/app/certs/hub-a.crt', keyFile: '/app/certs/hub-a.key' });
  });

  it('the default paths resolve against cwd', () => {
    process.chdir(resolve(EXAMPLES, '..'));
    expect(loadCloudConfig({}).listeners[0]?.name).toBe('l1');
    expect(loadPremiseConfig({}).agentId).toBe('dev-agent-1');
  });
});

describe('loading', () => {
  it('NC_CONFIG pointing at a missing file is an error at NC_CONFIG', () => {
    const missing = join(dir, 'nope.yaml');
    expect(failure(() => loadCloudConfig({ NC_CONFIG: missing })).message).toBe(`NC_CONFIG: cannot read ${missing} (ENOENT)`);
    expect(failure(() => loadPremiseConfig({ NC_CONFIG: dir })).message).toBe(`NC_CONFIG: cannot read ${dir} (EISDIR)`);
  });

  it('without NC_CONFIG and without the default file the agent runs from env alone', () => {
    process.chdir(dir);
    const config = loadPremiseConfig({ NC_CLOUD_URL: 'ws://h/tunnel', NC_AGENT_ID: 'a1', NC_TOKEN: 't', NC_CONNECTORS: 'x=h:1' });
    expect(config.agentId).toBe('a1');
    expect(failure(() => loadPremiseConfig({ NC_CLOUD_URL: 'ws://h/tunnel', NC_AGENT_ID: 'a1', NC_TOKEN: 't', NC_CONNECTORS: 'bad' })).path).toBe('NC_CONNECTORS[0]');
    const err = failure(() => loadPremiseConfig({}));
    expect(err.path).toBe('config/premise.yaml');
    expect(err.message).toBe(
      `config/premise.yaml: default config file not found in ${process.cwd()} (set NC_CONFIG or --config); with env alone: cloud_url: required (or NC_CLOUD_URL)`,
    );
  });

  it('without NC_CONFIG and without the default file the hub needs NC_JWT_SECRET_FILE', () => {
    process.chdir(dir);
    expect(failure(() => loadCloudConfig({})).message).toMatch(
      /^config\/cloud\.yaml: default config file not found in .* with env alone: auth: one of hs256_secret_file \| public_key_file \| jwks_file is required$/,
    );
    expect(loadCloudConfig({ NC_JWT_SECRET_FILE: '/s' }).auth.key.path).toBe('/s');
  });

  it('an unreadable default file is an error naming it', () => {
    process.chdir(dir);
    mkdirSync(join(dir, 'config', 'cloud.yaml'), { recursive: true });
    expect(failure(() => loadCloudConfig({})).message).toBe('config/cloud.yaml: cannot read (EISDIR)');
  });

  it('an empty file (or only comments) is {}', () => {
    const empty = file('empty.yaml', '# nothing here\n');
    expect(loadCloudConfig({ NC_CONFIG: empty, NC_JWT_SECRET_FILE: '/s' }).server.drainTimeoutSec).toBe(30);
    expect(failure(() => loadPremiseConfig({ NC_CONFIG: file('blank.yaml', '') })).message).toBe('cloud_url: required (or NC_CLOUD_URL)');
  });

  it('YAML syntax errors name NC_CONFIG, the file and line/column, on one line', () => {
    const bad = file('bad.yaml', 'server:\n  bind: 0.0.0.0:1\n   drain: [\n');
    const err = failure(() => loadCloudConfig({ NC_CONFIG: bad }));
    expect(err.path).toBe('NC_CONFIG');
    expect(err.message).toMatch(new RegExp(`^NC_CONFIG: YAML syntax error in ${bad} at line \\d+, column \\d+: .+$`));
    expect(err.message).not.toContain('\n');
  });

  it('duplicate keys are a syntax error with their position', () => {
    const dup = file('dup.yaml', 'agent_id: a\nagent_id: b\n');
    expect(failure(() => loadPremiseConfig({ NC_CONFIG: dup })).message).toBe(
      `NC_CONFIG: YAML syntax error in ${dup} at line 2, column 1: Map keys must be unique`,
    );
  });

  it('a syntax error in the default file names the file', () => {
    process.chdir(dir);
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config', 'premise.yaml'), 'connectors: [\n');
    expect(failure(() => loadPremiseConfig({})).message).toMatch(/^config\/premise\.yaml: YAML syntax error at line \d+, column \d+: /);
  });

  it('unquoted off (YAML 1.2 string) and false both mean ha.mode off', () => {
    const env = { NC_JWT_SECRET_FILE: '/s' };
    expect(loadCloudConfig({ ...env, NC_CONFIG: file('a.yaml', 'ha:\n  mode: off\n') }).ha.mode).toBe('off');
    expect(loadCloudConfig({ ...env, NC_CONFIG: file('b.yaml', 'ha:\n  mode: false\n') }).ha.mode).toBe('off');
  });

  it('parse errors from YAML content name the key path', () => {
    const path = file('c.yaml', "auth: { hs256_secret_file: s }\nlisteners:\n  - { name: a, bind: '0.0.0.0:1', connector: c }\n  - { name: b, bind: nope, connector: c }\n");
    expect(failure(() => loadCloudConfig({ NC_CONFIG: path })).message).toBe('listeners[1].bind: expected host:port');
  });
});

describe('readSecretFile', () => {
  it('trims surrounding whitespace', () => {
    expect(readSecretFile(file('s', '  s3cret-value \n\n'))).toBe('s3cret-value');
  });

  it('names the file when empty or unreadable', () => {
    const empty = file('e', ' \n');
    expect(failure(() => readSecretFile(empty)).message).toBe(`${empty}: secret file is empty`);
    const missing = join(dir, 'missing');
    expect(failure(() => readSecretFile(missing)).message).toBe(`${missing}: cannot read secret file (ENOENT)`);
  });
});
