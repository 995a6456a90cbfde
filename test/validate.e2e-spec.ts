/**
 * `npm run validate` (dist/tools/validate/main.js) against a real hub + agent + OpenLDAP slapd:
 * the ping-pong passes and prints positive c2a/a2c deltas that the hub's own /metrics confirm;
 * a listener whose connector has no agent fails at step "agent"; a hub that is not there fails at
 * "healthz"; bad flags exit 2 with one line naming the flag.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import {
  REPO_ROOT,
  cleanupAll,
  freePort,
  listener,
  requireBuilt,
  startAgentConnected,
  startHub,
  startEchoServer,
  startSlapd,
  type AgentHandle,
  type HubHandle,
  type SlapdHandle,
} from './support';
import { snapshot } from './support/flows';

const VALIDATE = path.join(REPO_ROOT, 'dist', 'tools', 'validate', 'main.js');
const CONNECTOR = 'addomain';
const ORPHAN = 'nobody-serves-this';
const ECHO = 'echo';

interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runValidate(args: string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [VALIDATE, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const c = (err as { code?: unknown } | null)?.code;
      resolve({ code: err ? (typeof c === 'number' ? c : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** `+N` after the series name on a counters line of the output. */
function printedDelta(stdout: string, series: string): number {
  const line = stdout.split('\n').find((l) => l.trim().startsWith(series));
  const m = / \+(\d+)$/.exec(line ?? '');
  if (!m) throw new Error(`no delta line for ${series} in:\n${stdout}`);
  return Number(m[1]);
}

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

describe('validate: the ping-pong in one command against hub + agent + slapd', () => {
  let slapd: SlapdHandle;
  let hub: HubHandle;
  let agent: AgentHandle;
  let ldapPort: number;
  let orphanPort: number;
  let echoPort: number;

  beforeAll(async () => {
    requireBuilt(VALIDATE);
    slapd = await startSlapd();
    closers.push(() => slapd.stop());
    ldapPort = await freePort();
    orphanPort = await freePort();
    echoPort = await freePort();
    const echo = await startEchoServer();
    closers.push(() => echo.close());
    hub = await startHub({
      config: { listeners: [listener('ldap', CONNECTOR, ldapPort), listener('orphan', ORPHAN, orphanPort), listener('echo', ECHO, echoPort)] },
      waitReady: true,
    });
    closers.push(() => hub.stop());
    agent = await startAgentConnected(hub, { agentId: 'validate-agent', connectors: { [CONNECTOR]: `127.0.0.1:${slapd.port}`, [ECHO]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.stop());
  });

  it('--ldap-base: every step ok, exit 0, and the printed deltas are positive and within what /metrics moved', async () => {
    const series = {
      conns: { name: 'nowconnect_tcp_connections_total', labels: { connector: CONNECTOR } },
      c2a: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'c2a', connector: CONNECTOR } },
      a2c: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'a2c', connector: CONNECTOR } },
    };
    const before = await snapshot(hub.httpUrl, series);
    const r = await runValidate(['--hub', hub.httpUrl, '--listener', `127.0.0.1:${ldapPort}`, '--connector', CONNECTOR, '--ldap-base', slapd.baseDn, '--ldap-scope', 'sub']);
    const after = await snapshot(hub.httpUrl, series);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    for (const step of ['healthz', 'readyz', 'metrics', 'listener', 'agent', 'targets', 'traffic', 'counters']) {
      expect(r.stdout).toMatch(new RegExp(`^\\[ ok \\] ${step} `, 'm'));
    }
    // per-target health, as the agent reports it (issue 18)
    expect(r.stdout).toMatch(new RegExp(`^\\[ ok \\] targets +1 of 1 target\\(s\\) of "${CONNECTOR}" healthy\\n +127\\.0\\.0\\.1:${slapd.port}: up$`, 'm'));
    expect(r.stdout).toContain('HTTP 200 {"status":"ok"}');
    expect(r.stdout).toMatch(/anonymous LDAP search base "dc=example,dc=org" scope sub \(objectClass=\*\): 6 entries/);
    const conns = printedDelta(r.stdout, `nowconnect_tcp_connections_total{connector="${CONNECTOR}"}`);
    const c2a = printedDelta(r.stdout, `nowconnect_tcp_bytes_total{direction="c2a",connector="${CONNECTOR}"}`);
    const a2c = printedDelta(r.stdout, `nowconnect_tcp_bytes_total{direction="a2c",connector="${CONNECTOR}"}`);
    expect(conns).toBe(2); // the routing probe and the LDAP connection; nothing else runs here
    expect(c2a).toBeGreaterThan(0);
    expect(a2c).toBeGreaterThan(12_000); // the whole tree, alice's 12 000-character description included
    expect(c2a).toBeLessThanOrEqual(after.c2a! - before.c2a!);
    expect(a2c).toBeLessThanOrEqual(after.a2c! - before.a2c!);
    expect(r.stdout.trim().split('\n').pop()).toBe('validate: OK');
    console.log(`validate: ok run printed connections +${conns}, c2a +${c2a} B, a2c +${a2c} B`);
  });

  it('without --connector nor --ldap-base: the connector is derived from the counters, TCP connect+hold passes', async () => {
    const r = await runValidate(['--hub', hub.httpUrl, '--listener', `127.0.0.1:${ldapPort}`, '--hold-ms', '300']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`[note] connector  derived from the counters the probe moved: "${CONNECTOR}"`);
    expect(r.stdout).toMatch(/^\[ ok \] traffic +TCP connection held open 300 ms, not reset/m);
    expect(printedDelta(r.stdout, `nowconnect_tcp_connections_total{connector="${CONNECTOR}"}`)).toBe(2);
  });

  it('--send: a TCP round trip through an echo target, the bytes counted both ways', async () => {
    const r = await runValidate(['--hub', hub.httpUrl, '--listener', `127.0.0.1:${echoPort}`, '--connector', ECHO, '--send', 'ping\\r\\n']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^\[ ok \] traffic +TCP round trip: sent 6 B, first \d+ B back after \d+ ms$/m);
    expect(printedDelta(r.stdout, `nowconnect_tcp_bytes_total{direction="c2a",connector="${ECHO}"}`)).toBeGreaterThanOrEqual(6);
    expect(printedDelta(r.stdout, `nowconnect_tcp_bytes_total{direction="a2c",connector="${ECHO}"}`)).toBeGreaterThanOrEqual(1);
  });

  it('a listener whose connector has no agent: exit 1 naming step "agent" and the no_agent counter', async () => {
    const r = await runValidate(['--hub', hub.httpUrl, '--listener', `127.0.0.1:${orphanPort}`, '--connector', ORPHAN, '--ldap-base', slapd.baseDn]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^\[ ok \] listener /m);
    expect(r.stdout).toMatch(new RegExp(`^\\[FAIL\\] agent +no agent serves connector "${ORPHAN}"`, 'm'));
    expect(r.stdout).toContain(`nowconnect_no_agent_total{connector="${ORPHAN}"} +1`);
    expect(r.stdout).not.toMatch(/\] traffic/); // stops at the first failure
    expect(r.stdout.trim().split('\n').pop()).toMatch(/^validate: FAILED at step "agent": no agent serves connector/);
  });

  it('a --connector the hub has no listener for: exit 1 at step "metrics"', async () => {
    const r = await runValidate(['--hub', hub.httpUrl, '--listener', `127.0.0.1:${ldapPort}`, '--connector', 'typo']);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n').pop()).toMatch(/^validate: FAILED at step "metrics": no nowconnect_tcp_connections_total\{connector="typo"\}/);
  });

  it('no hub at --hub: exit 1 at step "healthz" within the timeout', async () => {
    const dead = await freePort();
    const r = await runValidate(['--hub', `http://127.0.0.1:${dead}`, '--listener', `127.0.0.1:${ldapPort}`, '--timeout-ms', '2000']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^\[FAIL\] healthz +GET http:\/\/127\.0\.0\.1:\d+\/healthz: ECONNREFUSED/m);
    expect(r.stdout.trim().split('\n').pop()).toMatch(/^validate: FAILED at step "healthz"/);
  });

  it('bad or missing flags: one line on stderr naming the flag, exit 2; --help documents every flag', async () => {
    const cases: Array<[string[], string]> = [
      [['--listener', '127.0.0.1:389'], 'validate: missing required flag --hub (see --help)'],
      [['--hub', hub.httpUrl], 'validate: missing required flag --listener (see --help)'],
      [['--hub', hub.httpUrl, '--listener', 'nohostport'], 'validate: --listener: expected host:port, got "nohostport" (see --help)'],
      [['--hub', hub.httpUrl, '--listener', '127.0.0.1:389', '--bogus'], 'validate: unknown flag --bogus (see --help)'],
      [['--hub', hub.httpUrl, '--listener', '127.0.0.1:389', '--timeout-ms', 'soon'], 'validate: --timeout-ms: expected an integer, got "soon" (see --help)'],
    ];
    for (const [args, line] of cases) {
      const r = await runValidate(args);
      expect({ args, code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ args, code: 2, stderr: `${line}\n`, stdout: '' });
    }
    const help = await runValidate(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--hub', '--listener', '--connector', '--ldap-base', '--ldap-scope', '--ldap-filter', '--send', '--hold-ms', '--timeout-ms', '--help']) {
      expect(help.stdout).toContain(flag);
    }
  });
});
