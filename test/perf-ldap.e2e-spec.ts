/**
 * `npm run perf:ldap` (dist/tools/perf-ldap/main.js) through a real hub + agent to OpenLDAP slapd:
 * a short bound run passes and writes a consistent report.md + report.json (the hub's counters
 * confirm the connections and bytes); an impossible p99 threshold exits 1 naming p99; a listener
 * without an agent blows the error budget (exit 1); usage errors exit 2.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  LDAP_ADMIN_DN,
  LDAP_ADMIN_PW,
  REPO_ROOT,
  cleanupAll,
  freePort,
  listener,
  makeTmpDir,
  requireBuilt,
  startAgentConnected,
  startHub,
  startSlapd,
  waitForMetric,
  type AgentHandle,
  type HubHandle,
  type SlapdHandle,
} from './support';
import { snapshot } from './support/flows';

const PERF = path.join(REPO_ROOT, 'dist', 'tools', 'perf-ldap', 'main.js');
const CONNECTOR = 'addomain';
const ORPHAN = 'nobody-serves-this';

interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runPerf(args: string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PERF, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const c = (err as { code?: unknown } | null)?.code;
      resolve({ code: err ? (typeof c === 'number' ? c : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

interface ReportJson {
  interrupted: boolean;
  parameters: Record<string, unknown>;
  totals: { attempts: number; ok: number; errors: number; error_rate: number; elapsed_s: number; connections_opened: number };
  throughput_ops_s: number;
  latency_ms: { min: number; p50: number; p90: number; p99: number; p99_9: number; max: number; mean: number } | null;
  errors_by_kind: Record<string, number>;
  verdict: { pass: boolean; failures: string[] };
}

function readReport(dir: string): { json: ReportJson; md: string } {
  return {
    json: JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as ReportJson,
    md: fs.readFileSync(path.join(dir, 'report.md'), 'utf8'),
  };
}

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

describe('perf:ldap through the tunnel (hub + agent + slapd)', () => {
  let slapd: SlapdHandle;
  let hub: HubHandle;
  let agent: AgentHandle;
  let ldapUrl: string;
  let orphanUrl: string;
  let pwFile: string;

  beforeAll(async () => {
    requireBuilt(PERF);
    slapd = await startSlapd();
    closers.push(() => slapd.stop());
    const [ldapPort, orphanPort] = [await freePort(), await freePort()];
    ldapUrl = `ldap://127.0.0.1:${ldapPort}`;
    orphanUrl = `ldap://127.0.0.1:${orphanPort}`;
    hub = await startHub({
      config: { listeners: [listener('ldap', CONNECTOR, ldapPort), listener('orphan', ORPHAN, orphanPort)] },
      waitReady: true,
    });
    closers.push(() => hub.stop());
    agent = await startAgentConnected(hub, { agentId: 'perf-agent', connectors: { [CONNECTOR]: `127.0.0.1:${slapd.port}` } });
    closers.push(() => agent.stop());
    pwFile = path.join(makeTmpDir('nc-perf-pw-'), 'password');
    fs.writeFileSync(pwFile, `${LDAP_ADMIN_PW}\n`, { mode: 0o600 });
  });

  it('3 s, 4 workers bound as admin: exit 0, report.md + report.json consistent, the hub counted the connections and bytes', async () => {
    const out = makeTmpDir('nc-perf-ok-');
    const series = {
      conns: { name: 'nowconnect_tcp_connections_total', labels: { connector: CONNECTOR } },
      c2a: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'c2a', connector: CONNECTOR } },
      a2c: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'a2c', connector: CONNECTOR } },
    };
    const before = await snapshot(hub.httpUrl, series);
    const r = await runPerf([
      '--url', ldapUrl, '--bind-dn', LDAP_ADMIN_DN, '--password-file', pwFile, '--base', slapd.baseDn,
      '--filter', '(objectClass=inetOrgPerson)', '--attributes', 'uid,cn,mail',
      '--concurrency', '4', '--duration', '3s', '--p99-max-ms', '5000', '--error-budget', '0.1', '--out', out,
    ]);
    expect({ code: r.code, stdoutTail: r.stdout.split('\n').slice(-3) }).toMatchObject({ code: 0 });
    const { json, md } = readReport(out);
    const l = json.latency_ms!;
    expect(json.totals.ok).toBeGreaterThan(0);
    expect(json.verdict).toMatchObject({ pass: true, failures: [] });
    expect(l.min).toBeGreaterThan(0);
    expect(l.min).toBeLessThanOrEqual(l.p50);
    expect(l.p50).toBeLessThanOrEqual(l.p90);
    expect(l.p90).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.p99_9);
    expect(l.p99_9).toBeLessThanOrEqual(l.max);
    expect(json.totals.attempts).toBe(json.totals.ok + json.totals.errors);
    expect(json.totals.errors).toBe(Object.values(json.errors_by_kind).reduce((a, b) => a + b, 0));
    expect(json.totals.error_rate).toBeLessThanOrEqual(0.1);
    expect(json.totals.elapsed_s).toBeGreaterThanOrEqual(2.9);
    expect(json.throughput_ops_s).toBeCloseTo(json.totals.ok / json.totals.elapsed_s, 6);
    expect(json.totals.connections_opened).toBeGreaterThanOrEqual(4);
    expect(json.parameters).toMatchObject({ url: ldapUrl, concurrency: 4, duration_s: 3, scope: 'sub', attributes: ['uid', 'cn', 'mail'] });
    // the Markdown carries the same figures, the stdout summary too; the password nowhere
    expect(md).toContain('**Verdict: PASS**');
    expect(md).toContain(`| successful searches | ${json.totals.ok} |`);
    expect(md).toContain(`| ${l.p50.toFixed(3)} | ${l.p90.toFixed(3)} | ${l.p99.toFixed(3)} | ${l.p99_9.toFixed(3)} | ${l.max.toFixed(3)} |`);
    expect(r.stdout).toContain(`p99 ${l.p99.toFixed(3)}`);
    expect(r.stdout).toContain('verdict: PASS');
    expect(md).toContain(`| bind | simple bind as ${LDAP_ADMIN_DN} (password from file) |`);
    // progress went to stderr as plain lines (not a TTY here)
    expect(r.stderr).toMatch(/ok \d+ +\d+ ops\/s +p99 [\d.]+ ms +errors \d+/);
    // every worker connection went through the tunnel: the hub counted them and the bytes
    const conns = await waitForMetric(hub.httpUrl, series.conns.name, series.conns.labels, (v) => v >= before.conns! + json.totals.connections_opened);
    const after = await snapshot(hub.httpUrl, series);
    // equal unless a connect/bind failed under load (the hub saw that connection, the report counted an error)
    expect(conns - before.conns!).toBeGreaterThanOrEqual(json.totals.connections_opened);
    expect(conns - before.conns!).toBeLessThanOrEqual(json.totals.connections_opened + json.totals.errors);
    expect(after.c2a! - before.c2a!).toBeGreaterThan(json.totals.ok * 20); // a search request is > 20 bytes
    expect(after.a2c! - before.a2c!).toBeGreaterThan(json.totals.ok * 4 * 30); // 4 entries, > 30 bytes each
    console.log(`perf:ldap e2e: ${json.totals.ok} searches in ${json.totals.elapsed_s} s (${json.throughput_ops_s.toFixed(1)} ops/s), p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms`);
  });

  it('an impossible --p99-max-ms: exit 1 and stderr names p99', async () => {
    const out = makeTmpDir('nc-perf-p99-');
    const r = await runPerf(['--url', ldapUrl, '--base', slapd.baseDn, '--scope', 'base', '--concurrency', '2', '--duration', '1s', '--p99-max-ms', '0.001', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^perf:ldap: FAIL: p99 [\d.]+ ms exceeds --p99-max-ms 0\.001$/m);
    const { json, md } = readReport(out);
    expect(json.totals.ok).toBeGreaterThan(0);
    expect(json.verdict.pass).toBe(false);
    expect(json.verdict.failures).toHaveLength(1);
    expect(md).toContain('**Verdict: FAIL**');
  });

  it('a listener with no agent: every connection is closed by the hub, the error budget is exceeded, exit 1', async () => {
    const out = makeTmpDir('nc-perf-noagent-');
    const r = await runPerf(['--url', orphanUrl, '--base', slapd.baseDn, '--concurrency', '2', '--duration', '1s', '--error-budget', '0.1', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^perf:ldap: FAIL: .*error rate 100\.000 % \(\d+\/\d+\) exceeds error budget 10\.000 %/m);
    const { json } = readReport(out);
    expect(json.totals.ok).toBe(0);
    expect(json.totals.errors).toBeGreaterThan(0);
    expect(json.latency_ms).toBeNull();
    const kinds = Object.keys(json.errors_by_kind);
    expect(kinds.length).toBeGreaterThan(0);
    for (const k of kinds) expect(['connection_closed', 'connection_reset']).toContain(k);
  });

  it('a wrong password: every bind fails with ldap_49_invalid_credentials, exit 1, and the password is printed and written nowhere', async () => {
    const out = makeTmpDir('nc-perf-badpw-');
    const secret = 'Zq9-wrong-Password-7c1';
    const badPw = path.join(makeTmpDir('nc-perf-badpw-file-'), 'password');
    fs.writeFileSync(badPw, `${secret}\n`, { mode: 0o600 });
    const r = await runPerf(['--url', ldapUrl, '--bind-dn', LDAP_ADMIN_DN, '--password-file', badPw, '--base', slapd.baseDn, '--concurrency', '2', '--duration', '1s', '--out', out]);
    expect(r.code).toBe(1);
    const { json, md } = readReport(out);
    expect(Object.keys(json.errors_by_kind)).toEqual(['ldap_49_invalid_credentials']);
    expect(json.totals.ok).toBe(0);
    for (const text of [md, JSON.stringify(json), r.stdout, r.stderr]) expect(text).not.toContain(secret);
  });

  it('Ctrl-C (SIGINT) mid-run: stops early, still writes the report of what was measured, marked interrupted', async () => {
    const out = makeTmpDir('nc-perf-int-');
    const a2c = { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'a2c', connector: CONNECTOR } };
    const before = await snapshot(hub.httpUrl, { a2c });
    const child = spawn(process.execPath, [PERF, '--url', ldapUrl, '--base', slapd.baseDn, '--concurrency', '2', '--duration', '120s', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // searches are flowing through the tunnel: the hub carried reply bytes
      await waitForMetric(hub.httpUrl, a2c.name, a2c.labels, (v) => v > before.a2c! + 10_000, { timeoutMs: 30_000 });
      const t0 = Date.now();
      child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 20_000)))]);
      clearTimeout(timer);
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(stderr).toContain('perf:ldap: SIGINT: stopping, writing the report of what was measured');
    const { json, md } = readReport(out);
    expect(json.interrupted).toBe(true);
    expect(json.totals.ok).toBeGreaterThan(0);
    expect(json.totals.elapsed_s).toBeLessThan(120);
    expect(md).toMatch(/^Interrupted: the run was stopped after [\d.]+ s of the 120 s asked for\.$/m);
  });

  it('usage errors: one line naming the flag, exit 2, nothing run', async () => {
    const cases: Array<[string[], string]> = [
      [['--base', 'dc=x'], 'perf:ldap: missing required flag --url (see --help)'],
      [['--url', ldapUrl, '--base', 'dc=x', '--bind-dn', LDAP_ADMIN_DN], 'perf:ldap: --password-file: required with --bind-dn (see --help)'],
      [['--url', ldapUrl, '--base', 'dc=x', '--duration', '3 fortnights'], 'perf:ldap: --duration: expected a duration like 500ms, 30s, 2m or 1h, got "3 fortnights" (see --help)'],
      [['--url', ldapUrl, '--base', 'dc=x', '--error-budget', '5'], 'perf:ldap: --error-budget: must be <= 1, got "5" (see --help)'],
      [['--url', 'http://127.0.0.1:1', '--base', 'dc=x'], 'perf:ldap: --url: expected ldap://host:port or ldaps://host:port, got "http://127.0.0.1:1" (see --help)'],
    ];
    for (const [args, line] of cases) {
      const r = await runPerf(args);
      expect({ args, code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ args, code: 2, stderr: `${line}\n`, stdout: '' });
    }
    const help = await runPerf(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--url', '--bind-dn', '--password-file', '--base', '--filter', '--scope', '--attributes', '--concurrency', '--duration', '--warmup', '--timeout-ms', '--p99-max-ms', '--error-budget', '--out', '--json']) {
      expect(help.stdout).toContain(flag);
    }
  });
});
