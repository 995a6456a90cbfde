/**
 * README "Run your own hub and agent": on a fresh clone (config/ as committed: no dev-secret, no dev-token)
 * `node scripts/dev-credentials.js` makes the two files the example configs name, and the hub and agent
 * started with config/cloud.yaml and config/premise.yaml connect and carry a flow. Only addresses are
 * changed (free ports on 127.0.0.1; the agent's target via NC_CONNECTORS, as the README shows).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jwtVerify } from 'jose';
import { parseDocument } from 'yaml';
import { AGENT_MAIN, HUB_MAIN, cleanupAll, freePorts, makeTmpDir, pumpEcho, requireBuilt, startEchoServer, type TargetServer } from './support';
import { Proc } from './support/proc';

const ROOT = path.resolve(__dirname, '..');
const VALIDATE_MAIN = path.join(ROOT, 'dist/tools/validate/main.js');
let echo: TargetServer;

beforeAll(async () => {
  echo = await startEchoServer();
});
afterAll(async () => {
  await echo.close();
  await cleanupAll();
});

describe('README: run your own hub and agent', () => {
  it('dev-credentials.js makes config/dev-secret and config/dev-token; the example configs then connect and echo', async () => {
    requireBuilt(HUB_MAIN);
    requireBuilt(AGENT_MAIN);
    requireBuilt(VALIDATE_MAIN);
    // A fresh clone's config/: what git tracks (the credentials are git-ignored, never committed).
    const clone = makeTmpDir('nc-walkthrough-');
    fs.cpSync(path.join(ROOT, 'config'), path.join(clone, 'config'), { recursive: true, filter: (src) => !/dev-(secret|token)$/.test(src) });
    expect(fs.existsSync(path.join(clone, 'config/dev-secret'))).toBe(false);

    const creds = new Proc(process.execPath, [path.join(ROOT, 'scripts/dev-credentials.js'), '--dir', 'config'], { name: 'dev-credentials', cwd: clone });
    expect(await creds.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    expect(creds.stdoutLines()).toEqual([
      'wrote config/dev-secret (new HS256 secret)',
      'wrote config/dev-token (agent dev-agent-1, connectors addomain, expires in 30 days)',
    ]);
    expect((fs.statSync(path.join(clone, 'config/dev-secret')).mode & 0o777).toString(8)).toBe('600');
    const secret = fs.readFileSync(path.join(clone, 'config/dev-secret'), 'utf8').trim();
    const { payload } = await jwtVerify(fs.readFileSync(path.join(clone, 'config/dev-token'), 'utf8').trim(), new TextEncoder().encode(secret), { audience: 'nowconnect' });
    expect([payload.sub, payload.scope]).toEqual(['dev-agent-1', 'connector:addomain']);

    // Free ports instead of 8765 / 1389 (the only edit to the committed cloud.yaml).
    const [httpPort, ldapPort] = (await freePorts(2)) as [number, number];
    const cloudFile = path.join(clone, 'config/cloud.yaml');
    const doc = parseDocument(fs.readFileSync(cloudFile, 'utf8'));
    doc.setIn(['server', 'bind'], `127.0.0.1:${httpPort}`);
    doc.setIn(['listeners', 0, 'bind'], `127.0.0.1:${ldapPort}`);
    fs.writeFileSync(cloudFile, doc.toString());

    const hub = Proc.node(HUB_MAIN, [], { name: 'hub (config/cloud.yaml)', cwd: clone, env: { NC_CONFIG: 'config/cloud.yaml' } });
    await hub.waitForEvent('hub_started', undefined, 30_000);
    const agent = Proc.node(AGENT_MAIN, [], {
      name: 'agent (config/premise.yaml)',
      cwd: clone,
      env: { NC_CONFIG: 'config/premise.yaml', NC_CLOUD_URL: `ws://127.0.0.1:${httpPort}/tunnel`, NC_CONNECTORS: `addomain=127.0.0.1:${echo.port}` },
    });
    const connected = await hub.waitForEvent('agent_connected', (e) => e.agent_id === 'dev-agent-1', 30_000);
    expect(connected.connectors).toEqual(['addomain']);
    const r = await pumpEcho(ldapPort, 64 * 1024, { timeoutMs: 20_000 });
    expect(r.recvSha).toBe(r.sentSha);

    // The README's check: `npm run validate -- --hub … --listener … --connector addomain` (TCP mode here).
    const validate = Proc.node(VALIDATE_MAIN, ['--hub', `http://127.0.0.1:${httpPort}`, '--listener', `127.0.0.1:${ldapPort}`, '--connector', 'addomain'], { name: 'validate', cwd: clone });
    const v = await validate.waitForExit(60_000);
    expect([v.code, validate.stdoutText()]).toEqual([0, expect.stringContaining('[ ok ]')]);
    expect(validate.stdoutText()).not.toContain('[FAIL]');

    expect((await agent.stop('SIGTERM')).code).toBe(0);
    expect((await hub.stop('SIGTERM')).code).toBe(0);
  });
});
