import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { httpRequest } from './support/http';
import { REPO_ROOT, requireBuilt, startHub } from './support/hub';
import { freePort } from './support/ports';
import { cleanEnv, Proc, stopAll } from './support/proc';
import { cleanupTmpDirs, makeTmpDir } from './support/tmp';

/**
 * `nowconnect` as an operator runs it (bin/nowconnect.js -> dist/apps/cli/main.js, real processes):
 * help/version/usage errors, token issue -> a real agent connects to a real hub -> status shows it,
 * config check, /status only on server.admin_bind, connector_unrouted, start-up diagnostics.
 */

const BIN = path.join(REPO_ROOT, 'bin', 'nowconnect.js');
const COMMANDS = ['hub', 'agent', 'token issue', 'token inspect', 'config check', 'status', 'validate', 'perf-ldap'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function nc(args: string[], env: Record<string, string | undefined> = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function agentProc(args: string[], env: Record<string, string> = {}): Proc {
  return new Proc(process.execPath, [BIN, ...args], { env, name: `nowconnect ${args[0]}` });
}

beforeAll(() => requireBuilt(path.join(REPO_ROOT, 'dist', 'apps', 'cli', 'main.js')));
afterEach(async () => stopAll());
afterAll(() => cleanupTmpDirs());

describe('nowconnect: help, version, usage errors', () => {
  it('--help lists every command and exits 0; no command prints it and exits 2', () => {
    const help = nc(['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toContain(`  ${c} `);
    expect(nc([]).code).toBe(2);
  });

  it.each(COMMANDS)('%s --help and --version exit 0', (command) => {
    const words = command.split(' ');
    const help = nc([...words, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage/i);
    const version = nc([...words, '--version']);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^nowconnect \d+\.\d+\.\d+\n$/) });
  });

  it.each(['cloud-hub', 'premise-agent'])('dist/apps/%s/main.js answers --help (exit 0) and refuses an argument (exit 2)', (app) => {
    const main = path.join(REPO_ROOT, 'dist', 'apps', app, 'main.js');
    const help = spawnSync(process.execPath, [main, '--help'], { env: cleanEnv(), encoding: 'utf8', timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('NC_CONFIG');
    const bad = spawnSync(process.execPath, [main, '--config', 'x.yaml'], { env: cleanEnv(), encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--config: unknown argument');
  });

  it.each([
    [['token', 'issue', '--bogus'], '--bogus'],
    [['token', 'issue', '--agent'], '--agent'],
    [['token', 'issue', '--connector', 'c'], '--agent'],
    [['token', 'issue', '--agent', 'a', '--connector', 'c', '--ttl', 'soon', '--hs256-secret-file', '/dev/null'], '--ttl'],
    [['token', 'issue', '--agent', 'a', '--connector', 'c'], '--hs256-secret-file'],
    [['status', '--hub', 'not a url'], '--hub'],
    [['hub', '--config'], '--config'],
    [['config', 'check'], 'FILE'],
    [['token'], 'token issue'],
    [['frobnicate'], 'unknown command'],
  ])('%j exits 2 naming %s', (args, named) => {
    const r = nc(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(named);
    expect(r.stdout).toBe('');
  });
});

describe('nowconnect: token issue -> agent connects -> status', () => {
  it('shows the agent, its connectors (one unrouted, logged once) and serves /status only on admin_bind', async () => {
    const dir = makeTmpDir('nc-cli-');
    const secretFile = path.join(dir, 'secret');
    fs.writeFileSync(secretFile, 'cli-test-secret-0123456789abcdef\n');
    const listenPort = await freePort();
    const hub = await startHub({
      config: { auth: { hs256_secret_file: secretFile }, listeners: [{ name: 'l1', bind: `127.0.0.1:${listenPort}`, connector: 'addomain' }] },
      secret: 'unused',
    });
    const admin = await hub.proc.waitForEvent('admin_started');
    const adminUrl = `http://${String(admin['bind'])}`;

    const issued = nc(['token', 'issue', '--agent', 'site-a', '--connector', 'addomain', '--connector', 'pg', '--ttl', '1h', '--hs256-secret-file', secretFile]);
    expect(issued.code).toBe(0);
    expect(issued.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, issued.stdout);

    const inspect = nc(['token', 'inspect', '--token-file', tokenFile]);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/agent \(sub\)\s+site-a/);
    expect(inspect.stdout).toMatch(/connectors\s+addomain, pg/);
    expect(inspect.stdout).not.toContain('cli-test-secret');

    const premise = path.join(dir, 'premise.yaml');
    fs.writeFileSync(
      premise,
      stringify({ cloud_url: hub.tunnelUrl, agent_id: 'site-a', token_file: tokenFile, connectors: [{ name: 'addomain', target: '127.0.0.1:1' }, { name: 'pg', target: '127.0.0.1:2' }] }),
    );
    agentProc(['agent', '--config', premise]);
    await hub.proc.waitForEvent('agent_connected', (e) => e['agent_id'] === 'site-a');
    const unrouted = await hub.proc.waitForEvent('connector_unrouted');
    expect(unrouted).toMatchObject({ connector: 'pg', agent_id: 'site-a' });

    const table = nc(['status', '--hub', adminUrl]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/site-a\s+addomain,pg\s+1\s+0/);
    expect(table.stdout).toMatch(/pg\s+site-a\s+0\s+UNROUTED/);
    expect(table.stdout).toMatch(new RegExp(`l1\\s+127\\.0\\.0\\.1:${listenPort}\\s+${listenPort}\\s+addomain\\s+1`));

    const json = JSON.parse(nc(['status', '--hub', adminUrl, '--json']).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ ha_mode: 'off', agents: [{ agent_id: 'site-a', connectors: ['addomain', 'pg'], links: 1 }] });
    expect(json['connectors']).toContainEqual(expect.objectContaining({ name: 'pg', routed: false, agents: ['site-a'] }));

    expect((await httpRequest(`${hub.httpUrl}/status`)).status).toBe(404);
    const onPublic = nc(['status', '--hub', hub.httpUrl]);
    expect(onPublic.code).toBe(1);
    expect(onPublic.stderr).toContain('server.admin_bind');
    expect(hub.proc.eventsNamed('connector_unrouted')).toHaveLength(1);
  });

  it('a scope refusal names the connector and the allowed ones; the agent waits before retrying', async () => {
    const hub = await startHub();
    const token = nc(['token', 'issue', '--agent', 'site-b', '--connector', 'addomain', '--hs256-secret-file', hub.secretFile]).stdout.trim();
    const agent = agentProc(['agent'], { NC_CLOUD_URL: hub.tunnelUrl, NC_AGENT_ID: 'site-b', NC_TOKEN: token, NC_CONNECTORS: 'addomain=127.0.0.1:1,pg=127.0.0.1:2' });
    const refused = await hub.proc.waitForEvent('hello_refused');
    expect(refused).toMatchObject({ reason: 'scope', connectors: ['pg'], allowed: ['addomain'] });
    const permanent = await agent.waitForEvent('hello_refused_permanent');
    expect(permanent).toMatchObject({ reason: 'scope', detail: "hello refused: scope: pg not in the token's scope (allowed: addomain)" });
    expect(Number(permanent['retry_in_ms'])).toBeGreaterThanOrEqual(30_000);
  });
});

describe('nowconnect config check and start-up diagnostics', () => {
  function files(): { dir: string; secret: string; write: (name: string, cfg: unknown) => string } {
    const dir = makeTmpDir('nc-check-');
    const secret = path.join(dir, 'secret');
    fs.writeFileSync(secret, 's3cret-value\n');
    const write = (name: string, cfg: unknown): string => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, typeof cfg === 'string' ? cfg : stringify(cfg));
      return file;
    };
    return { dir, secret, write };
  }

  it('exit 0 on good configs; --print redacts secrets', () => {
    const { secret, write } = files();
    const cloud = write('cloud.yaml', { auth: { hs256_secret_file: secret }, ha: { redis_url: 'redis://:hunter2@r:6379/0' } });
    const ok = nc(['config', 'check', cloud]);
    expect(ok).toMatchObject({ code: 0, stdout: `${cloud}: ok (hub config)\n` });
    const printed = nc(['config', 'check', '--print', cloud]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).not.toContain('hunter2');
    expect(JSON.parse(printed.stdout)).toMatchObject({ server: { adminBind: { host: '127.0.0.1', port: 9765 } } });
    const premise = write('premise.yaml', { cloud_url: 'ws://h/tunnel', agent_id: 'a', token_file: secret, connectors: [{ name: 'c', target: 'h:1' }] });
    expect(nc(['config', 'check', premise])).toMatchObject({ code: 0, stdout: `${premise}: ok (agent config)\n` });
  });

  it.each([
    ['an unknown key', { server: { bnd: '0.0.0.0:1' } }, 'server.bnd: unknown key'],
    ['a bad value', { listeners: [{ name: 'l1', bind: 'localhost', connector: 'c' }] }, 'listeners[0].bind: expected host:port'],
    ['a missing file', { ha: { enabled: true, mesh: { tls: { cert_file: '/nonexistent/hub.crt', key_file: '/nonexistent/hub.key' } } } }, 'ha.mesh.tls.cert_file: cannot read /nonexistent/hub.crt (ENOENT)'],
  ])('exit 2 naming the key on %s', (_what, patch, line) => {
    const { secret, write } = files();
    const file = write('cloud.yaml', { auth: { hs256_secret_file: secret }, ...patch });
    expect(nc(['config', 'check', file])).toMatchObject({ code: 2, stderr: `${line}\n`, stdout: '' });
  });

  it('the hub exits 2 naming the key of a missing file before binding any port', async () => {
    const { secret, write } = files();
    const port = await freePort();
    const file = write('cloud.yaml', {
      server: { bind: `127.0.0.1:${port}`, admin_bind: '127.0.0.1:0' },
      auth: { hs256_secret_file: secret },
      ha: { enabled: true, mesh: { tls: { ca_bundle: path.join(path.dirname(secret), 'ca.pem') } } },
    });
    const hub = agentProc(['hub', '--config', file]);
    const exit = await hub.waitForExit();
    expect(exit.code).toBe(2);
    expect(hub.stderrText()).toContain('ha.mesh.tls.ca_bundle: cannot read');
    expect(hub.eventsNamed('admin_started')).toHaveLength(0);
    expect(hub.eventsNamed('hub_started')).toHaveLength(0);
  });

  it('an explicit server.admin_bind that cannot be bound exits 2 naming the key, before server.bind', async () => {
    const { secret, write } = files();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const adminPort = (taken.address() as net.AddressInfo).port;
      const file = write('cloud.yaml', { server: { bind: `127.0.0.1:${await freePort()}`, admin_bind: `127.0.0.1:${adminPort}` }, auth: { hs256_secret_file: secret } });
      const hub = agentProc(['hub', '--config', file]);
      expect((await hub.waitForExit()).code).toBe(2);
      expect(hub.stderrText()).toContain(`server.admin_bind: cannot listen on 127.0.0.1:${adminPort} (EADDRINUSE)`);
      expect(hub.eventsNamed('hub_started')).toHaveLength(0);
    } finally {
      taken.close();
    }
  });

  it('NC_HA_MODE without ha.enabled exits 2 naming both keys', async () => {
    const { secret, write } = files();
    const file = write('cloud.yaml', { auth: { hs256_secret_file: secret } });
    const r = nc(['config', 'check', file], { NC_HA_MODE: 'active' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^NC_HA_MODE: active requires ha\.enabled: true/);
    const hub = agentProc(['hub', '--config', file], { NC_HA_MODE: 'active' });
    expect((await hub.waitForExit()).code).toBe(2);
  });

  it('without NC_CONFIG or --config, a missing default file is named as such', async () => {
    const { dir } = files();
    const agent = new Proc(process.execPath, [BIN, 'agent'], { cwd: dir, name: 'agent-no-config' });
    expect((await agent.waitForExit()).code).toBe(2);
    expect(agent.stderrText()).toMatch(/^config\/premise\.yaml: default config file not found in .* \(set NC_CONFIG or --config\)/);
  });
});
