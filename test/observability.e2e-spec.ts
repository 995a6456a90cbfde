/**
 * Operations artefacts are checked, not only written (issue 5, items 4-5):
 * - deploy/prometheus: `promtool check rules` and `promtool test rules` pass; every alert has a severity,
 *   a summary, a description and a runbook_url whose anchor is a heading of docs/runbooks/alerts.md, and a
 *   promtool test case that fires it and one that shows it quiet;
 * - deploy/grafana: dashboards are valid Grafana JSON whose panels query the provisioned Prometheus
 *   through the datasource variable; provisioning files point where the compose stack mounts them;
 * - every metric (and label) a rule or a dashboard uses is exported by real hubs: redis-server, two
 *   HA active hubs linked by the mesh, one agent, a little traffic, then /metrics of both hubs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { cleanupAll, findBin, metricValue, REPO_ROOT } from './support';
import { startObsDeployment, type ObsDeployment } from './support/observability-hubs';
import {
  checkCoverage,
  declaredLabels,
  families,
  markdownAnchors,
  type CoverageInput,
  type Family,
} from './support/observability-coverage';
import { grafanaVariableQuery, promqlRefs } from './support/observability-promql';

const RULES = path.join(REPO_ROOT, 'deploy/prometheus/rules/nowconnect.rules.yml');
const TESTS_DIR = path.join(REPO_ROOT, 'deploy/prometheus/tests');
const DASHBOARDS_DIR = path.join(REPO_ROOT, 'deploy/grafana/dashboards');
const PROVISIONING = path.join(REPO_ROOT, 'deploy/grafana/provisioning');
const RUNBOOKS = path.join(REPO_ROOT, 'docs/runbooks/alerts.md');
const HUB_SRC = path.join(REPO_ROOT, 'apps/cloud-hub/src');

/**
 * Metrics that rules may use although no NowConnect process exports them. Each entry says where the
 * series comes from; nothing else is exempt from the coverage check.
 */
const NOT_FROM_NOWCONNECT = new Map<string, string>([
  // SPEC §7 names no certificate-expiry metric and the hub exports none; the seed (000, "Certificate
  // rotation", option A) monitors mesh certificates with blackbox_exporter probing /mesh:
  // `(probe_ssl_earliest_cert_expiry - time()) < 30*24*3600`, the second arm of NowConnectMeshCertExpirySoon
  // (the first is the hub's own nowconnect_mesh_cert_expiry_timestamp_seconds).
  ['probe_ssl_earliest_cert_expiry', 'blackbox_exporter (seed 000, Certificate rotation, option A)'],
  // Prometheus' own per-target series (1 when the last scrape succeeded). Used by NowConnectHubDown.
  ['up', 'Prometheus scrape health of each target'],
]);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: unknown[] | null;
}
interface TestFile {
  rule_files: string[];
  tests: Array<{ name?: string; alert_rule_test?: AlertTest[] }>;
}
interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Array<{ name?: string; type?: string; query?: unknown; datasource?: { type?: string; uid?: string }; current?: { value?: unknown } }> };
}

const rulesFile = (): RuleFile => parseYaml(fs.readFileSync(RULES, 'utf8')) as RuleFile;
const alerts = (): Rule[] => rulesFile().groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
const testFiles = (): string[] =>
  fs
    .readdirSync(TESTS_DIR)
    .filter((f) => f.endsWith('.test.yml'))
    .map((f) => path.join(TESTS_DIR, f));
const dashboardFiles = (): string[] =>
  fs
    .readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(DASHBOARDS_DIR, f));
const loadDashboard = (f: string): Dashboard => JSON.parse(fs.readFileSync(f, 'utf8')) as Dashboard;

function allPanels(panels: readonly Panel[] | undefined): Panel[] {
  return (panels ?? []).flatMap((p) => [p, ...allPanels(p.panels)]);
}

/** Every PromQL expression of the rules file and the dashboards (targets and variable queries). */
function allExpressions(): CoverageInput[] {
  const out: CoverageInput[] = [];
  for (const g of rulesFile().groups) {
    for (const r of g.rules) out.push({ where: `rule ${r.alert ?? r.record ?? '?'}`, expr: r.expr });
  }
  for (const f of dashboardFiles()) {
    const d = loadDashboard(f);
    const name = path.basename(f);
    for (const p of allPanels(d.panels)) {
      for (const t of p.targets ?? []) {
        if (t.expr !== undefined) out.push({ where: `${name} panel "${p.title ?? p.id}" ${t.refId ?? ''}`, expr: t.expr });
      }
    }
    for (const v of d.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const raw = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
      if (raw === undefined) throw new Error(`${name}: variable ${v.name} has no query`);
      const q = grafanaVariableQuery(raw);
      out.push({ where: `${name} variable ${v.name}`, expr: q.expr, ...(q.label ? { extraLabels: [q.label] } : {}) });
    }
  }
  return out;
}

function run(bin: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(bin, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

afterAll(async () => {
  await cleanupAll();
});

describe('Prometheus rules (deploy/prometheus)', () => {
  it('promtool check rules passes', () => {
    const r = run(findBin('promtool'), ['check', 'rules', path.relative(REPO_ROOT, RULES)]);
    if (r.status !== 0) throw new Error(`promtool check rules exited ${r.status}:\n${r.output}`);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('promtool test rules passes for every test file', () => {
    const files = testFiles().map((f) => path.relative(REPO_ROOT, f));
    expect(files.length).toBeGreaterThan(0);
    const r = run(findBin('promtool'), ['test', 'rules', ...files]);
    if (r.status !== 0) throw new Error(`promtool test rules exited ${r.status}:\n${r.output}`);
    expect(r.output).not.toMatch(/FAILED/);
  });

  it('every alert has a severity, summary, description and a runbook_url whose anchor is a heading of docs/runbooks/alerts.md', () => {
    const anchors = markdownAnchors(fs.readFileSync(RUNBOOKS, 'utf8'));
    const problems: string[] = [];
    const list = alerts();
    expect(list.length).toBeGreaterThanOrEqual(12);
    const names = new Set<string>();
    for (const a of list) {
      const n = a.alert!;
      if (names.has(n)) problems.push(`${n}: defined twice`);
      names.add(n);
      if (!['critical', 'warning', 'info'].includes(a.labels?.severity ?? '')) problems.push(`${n}: severity label missing or not critical|warning|info`);
      for (const k of ['summary', 'description', 'runbook_url']) {
        if (!(a.annotations?.[k] ?? '').trim()) problems.push(`${n}: annotation ${k} missing`);
      }
      const url = a.annotations?.runbook_url ?? '';
      const m = /^(?:.*\/)?docs\/runbooks\/alerts\.md#([\w-]+)$/.exec(url);
      if (!m) problems.push(`${n}: runbook_url ${url} does not point at docs/runbooks/alerts.md#<anchor>`);
      else if (!anchors.has(m[1]!)) problems.push(`${n}: anchor #${m[1]} is not a heading of docs/runbooks/alerts.md`);
    }
    expect(problems).toEqual([]);
  });

  it('the alerts the seed and the operational guide ask for are all there', () => {
    const names = new Set(alerts().map((a) => a.alert));
    const wanted = [
      'NowConnectMeshHighRTT', // seed: mesh RTT p95 > 20 ms
      'NowConnectMeshBackpressureDrops', // seed: backpressure drop > 0
      'NowConnectOwnerEpochMismatch', // seed: epoch mismatches > 0
      'NowConnectMeshLinkDown', // seed: link down > 60 s
      'NowConnectMeshCertExpirySoon', // seed: cert expiry
      'NowConnectMeshTLSIssues', // seed: TLS errors / reconnects
      'NowConnectNoTraffic', // guide: no traffic
      'NowConnectOneWayTraffic', // guide: one-way traffic
      'NowConnectAgentDisconnected', // guide: agent disconnected
      'NowConnectRedisDegraded', // seed runbook: Redis degraded
    ];
    expect(wanted.filter((w) => !names.has(w))).toEqual([]);
  });

  it('every alert has a promtool test case that fires it and one that shows it quiet', () => {
    const firing = new Set<string>();
    const quiet = new Set<string>();
    for (const f of testFiles()) {
      const t = parseYaml(fs.readFileSync(f, 'utf8')) as TestFile;
      const rulesRef = t.rule_files.map((r) => path.resolve(path.dirname(f), r));
      expect(rulesRef).toContain(RULES);
      for (const tc of t.tests) {
        for (const at of tc.alert_rule_test ?? []) {
          ((at.exp_alerts ?? []).length > 0 ? firing : quiet).add(at.alertname);
        }
      }
    }
    const names = alerts().map((a) => a.alert!);
    expect(names.filter((n) => !firing.has(n))).toEqual([]);
    expect(names.filter((n) => !quiet.has(n))).toEqual([]);
    // and no test names an alert that does not exist
    expect([...firing, ...quiet].filter((n) => !names.includes(n))).toEqual([]);
  });
});

describe('Grafana dashboards and provisioning (deploy/grafana)', () => {
  it('dashboards are valid Grafana JSON: schemaVersion, unique uids and panel ids, Prometheus targets through the datasource variable', () => {
    const files = dashboardFiles();
    expect(files.map((f) => path.basename(f)).sort()).toEqual(
      expect.arrayContaining(['nowconnect-mesh.json', 'nowconnect-safety.json', 'nowconnect-throughput.json']),
    );
    const uids = new Set<string>();
    const problems: string[] = [];
    for (const f of files) {
      const name = path.basename(f);
      const d = loadDashboard(f);
      if (typeof d.uid !== 'string' || d.uid === '' || d.uid.length > 40) problems.push(`${name}: uid missing or longer than 40`);
      else if (uids.has(d.uid)) problems.push(`${name}: uid ${d.uid} used twice`);
      else uids.add(d.uid);
      if (typeof d.title !== 'string' || d.title === '') problems.push(`${name}: title missing`);
      if (typeof d.schemaVersion !== 'number' || d.schemaVersion < 30) problems.push(`${name}: schemaVersion missing or < 30`);
      const dsVar = d.templating?.list?.find((v) => v.type === 'datasource');
      if (dsVar?.name !== 'datasource' || dsVar.query !== 'prometheus' || dsVar.current?.value !== 'Prometheus') {
        problems.push(`${name}: needs a "datasource" variable of type datasource, query prometheus, default Prometheus`);
      }
      const okDs = (ds: Target['datasource']): boolean => ds?.type === 'prometheus' && (ds.uid === '${datasource}' || ds.uid === 'prometheus');
      for (const v of d.templating?.list ?? []) {
        if (v.type === 'query' && !okDs(v.datasource)) problems.push(`${name}: variable ${v.name} does not use the Prometheus datasource`);
      }
      const panels = allPanels(d.panels);
      const ids = new Set<number>();
      let queries = 0;
      for (const p of panels) {
        const label = `${name} panel ${p.id} "${p.title}"`;
        if (typeof p.id !== 'number' || ids.has(p.id)) problems.push(`${label}: id missing or duplicate`);
        else ids.add(p.id);
        if (!p.title) problems.push(`${label}: title missing`);
        if (!p.gridPos || p.gridPos.x + p.gridPos.w > 24 || p.gridPos.w < 1 || p.gridPos.h < 1) problems.push(`${label}: gridPos missing or outside 24 columns`);
        if (p.type === 'row') continue;
        if (!okDs(p.datasource)) problems.push(`${label}: datasource is not Prometheus via \${datasource}`);
        if ((p.targets ?? []).length === 0) problems.push(`${label}: no targets`);
        const refIds = new Set<string>();
        for (const t of p.targets ?? []) {
          queries++;
          if (!t.refId || refIds.has(t.refId)) problems.push(`${label}: target refId missing or duplicate`);
          else refIds.add(t.refId);
          if (!okDs(t.datasource)) problems.push(`${label} ${t.refId}: target datasource is not Prometheus via \${datasource}`);
          if (!t.expr?.trim()) problems.push(`${label} ${t.refId}: empty expr`);
          else {
            try {
              if (promqlRefs(t.expr).selectors.length === 0) problems.push(`${label} ${t.refId}: expr names no metric`);
            } catch (e) {
              problems.push(`${label} ${t.refId}: ${(e as Error).message}`);
            }
          }
        }
      }
      if (queries < 5) problems.push(`${name}: only ${queries} queries`);
    }
    expect(problems).toEqual([]);
  });

  it('the golden dashboards show what the seed lists', () => {
    const exprsOf = (file: string): string => allPanels(loadDashboard(path.join(DASHBOARDS_DIR, file)).panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n');
    const mesh = exprsOf('nowconnect-mesh.json');
    expect(mesh).toMatch(/nowconnect_mesh_links\{[^}]*\}\)/); // links by state
    expect(mesh).toMatch(/histogram_quantile\(0\.5, .*nowconnect_mesh_rtt_seconds_bucket/);
    expect(mesh).toMatch(/histogram_quantile\(0\.95, .*nowconnect_mesh_rtt_seconds_bucket/);
    expect(mesh).toMatch(/sum by \(dir, type\) \(rate\(nowconnect_mesh_frames_total/);
    expect(mesh).toMatch(/nowconnect_flows_total\{[^}]*path="cross_replica"/);
    const safety = exprsOf('nowconnect-safety.json');
    for (const m of ['nowconnect_owner_epoch_mismatch_total', 'nowconnect_cid_dedup_dropped_total', 'nowconnect_mesh_backpressure_drops_total']) expect(safety).toContain(m);
    const throughput = exprsOf('nowconnect-throughput.json');
    expect(throughput).toMatch(/sum by \(direction, connector\) \(rate\(nowconnect_tcp_bytes_total/);
    for (const m of ['nowconnect_tcp_connections_total', 'nowconnect_tcp_active_connections', 'nowconnect_fin_sent_total', 'nowconnect_fin_recv_total', 'nowconnect_rst_recv_total']) {
      expect(throughput).toContain(m);
    }
  });

  it('provisioning: datasource "Prometheus" at http://prometheus:9090, dashboards from /var/lib/grafana/dashboards', () => {
    const ds = parseYaml(fs.readFileSync(path.join(PROVISIONING, 'datasources/prometheus.yml'), 'utf8')) as {
      apiVersion: number;
      datasources: Array<{ name: string; type: string; url: string; uid?: string }>;
    };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toEqual([expect.objectContaining({ name: 'Prometheus', type: 'prometheus', url: 'http://prometheus:9090', uid: 'prometheus' })]);
    const dash = parseYaml(fs.readFileSync(path.join(PROVISIONING, 'dashboards/nowconnect.yml'), 'utf8')) as {
      apiVersion: number;
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(dash.apiVersion).toBe(1);
    expect(dash.providers).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }) })]);
  });
});

describe('every metric in a rule or dashboard is exported by real hubs (redis-server, two HA active hubs with the mesh, one agent)', () => {
  let dep: ObsDeployment;
  let texts: string[];
  let fams: Map<string, Family>;
  const declared = declaredLabels(HUB_SRC);

  beforeAll(async () => {
    dep = await startObsDeployment();
    texts = [await dep.a.metrics(), await dep.b.metrics()];
    fams = families(texts);
  }, 110_000);
  afterAll(async () => {
    await dep?.stop();
  });

  it('the PromQL reader finds metric names, matcher labels and by() labels', () => {
    const r = promqlRefs(
      'histogram_quantile(0.95, sum by (instance, le) (rate(a_seconds_bucket{job="$job", x=~"$v"}[$__rate_interval]))) > 0.02 or sum(rate(b_total[5m])) by (y) / ignoring(z) max_over_time(c[1h:1m])',
    );
    expect(r.selectors).toEqual([
      {
        name: 'a_seconds_bucket',
        labels: ['job', 'x'],
        matchers: [
          { label: 'job', op: '=', value: '$job' },
          { label: 'x', op: '=~', value: '$v' },
        ],
      },
      { name: 'b_total', labels: [] },
      { name: 'c', labels: [] },
    ]);
    expect(r.groupings).toEqual([
      { clause: 'by', labels: ['instance', 'le'], metrics: ['a_seconds_bucket'] },
      { clause: 'by', labels: ['y'], metrics: ['b_total'] },
    ]);
    expect(r.matchingLabels).toEqual(['z']);
  });

  it('self-test: a made-up metric, a made-up label and a misplaced le are reported against the real scrape', () => {
    const r = checkCoverage(
      [
        { where: 'bogus metric', expr: 'rate(nowconnect_made_up_total[5m])' },
        { where: 'bogus matcher', expr: 'nowconnect_tcp_bytes_total{dir="c2a"}' },
        { where: 'bogus by', expr: 'sum by (peer) (rate(nowconnect_tcp_connections_total[5m]))' },
        { where: 'le on a counter', expr: 'sum by (le) (rate(nowconnect_tcp_connections_total[5m]))' },
        { where: 'labels of a family without samples', expr: 'sum by (peer, flavour) (nowconnect_mesh_backpressure_drops_total)' },
        { where: 'bogus value', expr: 'nowconnect_mesh_links{state="Up"}' },
        { where: 'fine', expr: 'histogram_quantile(0.95, sum by (le) (rate(nowconnect_mesh_rtt_seconds_bucket[5m])))' },
      ],
      fams,
      declared,
      NOT_FROM_NOWCONNECT,
    );
    expect(r.missingMetrics).toEqual(['nowconnect_made_up_total (used in bogus metric)']);
    expect(r.badLabels).toHaveLength(5);
    expect(r.badLabels.join('\n')).toMatch(/bogus matcher: label "dir"/);
    expect(r.badLabels.join('\n')).toMatch(/bogus by: label "peer"/);
    expect(r.badLabels.join('\n')).toMatch(/le on a counter: label "le"/);
    expect(r.badLabels.join('\n')).toMatch(/labels of a family without samples: label "flavour"/);
    expect(r.badLabels.join('\n')).toMatch(/bogus value: nowconnect_mesh_links\{state="Up"\} matches no exported value/);
  });

  it('the labels the source declares are the labels the hubs export (for every family with samples)', () => {
    const mismatches: string[] = [];
    for (const fam of fams.values()) {
      if (!fam.name.startsWith('nowconnect_') || fam.samples === 0) continue;
      const decl = declared.get(fam.name);
      if (decl === undefined) {
        mismatches.push(`${fam.name}: exported but no declaration found in apps/cloud-hub/src`);
        continue;
      }
      const a = [...fam.sampleLabels].sort().join(',');
      const b = [...decl].sort().join(',');
      if (a !== b) mismatches.push(`${fam.name}: exported labels [${a}] vs declared [${b}]`);
    }
    expect(mismatches).toEqual([]);
  });

  it('every metric and label used by the rules and the dashboards is exported', () => {
    const inputs = allExpressions();
    const r = checkCoverage(inputs, fams, declared, NOT_FROM_NOWCONNECT);
    const withSamples = [...r.checked].filter((n) => !r.labelsFromSource.has(n));
    process.stdout.write(
      `observability coverage: ${inputs.length} expressions, ${r.checked.size} hub metrics exported ` +
        `(${fams.size} families scraped from 2 hubs); allow-listed (not from NowConnect): ${[...r.allowed].join(', ')}; ` +
        `labels checked from the source declaration (no sample yet): ${[...r.labelsFromSource].sort().join(', ') || 'none'}\n`,
    );
    // Figures for the docs: each client connection is counted once across the hubs (cross-replica too).
    const sumOver = (name: string, labels: Record<string, string>): number => texts.reduce((acc, t) => acc + metricValue(t, name, labels), 0);
    process.stdout.write(
      `observability figures after 1 local + 1 cross-replica echo flow: sum over hubs of nowconnect_tcp_connections_total{connector="echo"} = ` +
        `${sumOver('nowconnect_tcp_connections_total', { connector: 'echo' })}, of nowconnect_flows_total = ${sumOver('nowconnect_flows_total', {})} ` +
        `(local ${sumOver('nowconnect_flows_total', { path: 'local' })}, cross_replica ${sumOver('nowconnect_flows_total', { path: 'cross_replica' })})\n`,
    );
    if (r.missingMetrics.length > 0 || r.badLabels.length > 0) {
      throw new Error(`not exported:\n  ${r.missingMetrics.join('\n  ')}\nbad labels:\n  ${r.badLabels.join('\n  ')}`);
    }
    expect(withSamples.length).toBeGreaterThan(0);
    // the allow-list is not a blanket exemption: only the two documented external series are used
    expect([...r.allowed].sort()).toEqual(['probe_ssl_earliest_cert_expiry', 'up']);
  });

  it('the mesh series the mesh dashboard and alerts rely on have samples on both hubs after traffic', () => {
    for (const text of texts) {
      const one = families([text]);
      for (const n of ['nowconnect_mesh_links', 'nowconnect_mesh_rtt_seconds', 'nowconnect_mesh_frames_total', 'nowconnect_mesh_queue_depth', 'nowconnect_flows_total', 'nowconnect_registry_up']) {
        expect({ n, samples: (one.get(n)?.samples ?? 0) > 0 }).toEqual({ n, samples: true });
      }
    }
  });
});
