/**
 * The runbooks (docs/runbooks/) are checked, not only written (issue 5, item 8): every metric, log event,
 * snake_case name, config key and NC_* env var they mention exists in the product source or is accepted
 * by the real config parser, and every relative link (file and anchor) resolves. No processes: it reads
 * files only (well under a second). A self-check proves the checker catches invented names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './support';
import { addEnvVars, checkRunbooks, configKeyProblem, listSourceFiles, sourceVocabulary, type CheckOptions, type DocFile, type SourceVocabulary } from './support/runbooks-check';

const RUNBOOKS_DIR = path.join(REPO_ROOT, 'docs/runbooks');
const SOURCE_ROOTS = ['apps/cloud-hub/src', 'apps/premise-agent/src', 'libs'].map((r) => path.join(REPO_ROOT, r));
/** Env vars that only the deployment files and scripts define (`NC_SECRETS_DIR`, `NC_DEV_CERT_DAYS`). */
const ENV_FILES = ['docker-compose.yml', 'deploy/compose/env.example', 'scripts/dev-certs.sh'].map((r) => path.join(REPO_ROOT, r));

/** The topics issue 5 item 8 asks for, one file each, all linked from the index. */
const TOPICS = [
  'alerts.md',
  'rollout.md',
  'mesh-link-down.md',
  'redis-degraded.md',
  'agent-disconnected.md',
  'no-agent-for-connector.md',
  'cidr-blocked.md',
  'cert-rotation.md',
  'capacity.md',
  'secrets.md',
];

/** Series the runbooks may name although NowConnect does not export them; each says where they come from. */
const FOREIGN_METRICS = new Map<string, string>([]);
const FOREIGN_WORDS = new Map<string, string>([
  ['probe_ssl_earliest_cert_expiry', 'blackbox_exporter probe metric (NowConnectMeshCertExpirySoon)'],
  ['histogram_quantile', 'PromQL function'],
  ['runbook_url', 'Prometheus alert annotation (deploy/prometheus/rules)'],
]);

function readOrUndefined(p: string): string | undefined {
  try {
    return fs.statSync(p).isDirectory() ? '' : fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

const OPTIONS: CheckOptions = { foreignMetrics: FOREIGN_METRICS, foreignWords: FOREIGN_WORDS, readTarget: readOrUndefined };

function runbookDocs(): DocFile[] {
  return fs
    .readdirSync(RUNBOOKS_DIR)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => ({ file: path.join(RUNBOOKS_DIR, f), text: fs.readFileSync(path.join(RUNBOOKS_DIR, f), 'utf8') }));
}

let vocab: SourceVocabulary;

beforeAll(() => {
  vocab = sourceVocabulary(listSourceFiles(SOURCE_ROOTS).map((f) => fs.readFileSync(f, 'utf8')));
  addEnvVars(vocab, ENV_FILES.map((f) => fs.readFileSync(f, 'utf8')));
});

describe('docs/runbooks', () => {
  it('has one file per topic, each linked from the index', () => {
    const index = fs.readFileSync(path.join(RUNBOOKS_DIR, 'README.md'), 'utf8');
    const missing = TOPICS.filter((t) => !fs.existsSync(path.join(RUNBOOKS_DIR, t)));
    const unlinked = TOPICS.filter((t) => !index.includes(`](${t}`));
    const notIndexed = fs.readdirSync(RUNBOOKS_DIR).filter((f) => f.endsWith('.md') && f !== 'README.md' && !index.includes(`](${f}`));
    expect({ missing, unlinked, notIndexed }).toEqual({ missing: [], unlinked: [], notIndexed: [] });
  });

  it('the source vocabulary was read (sanity: the checker has something to compare with)', () => {
    expect(vocab.metrics.has('nowconnect_mesh_links')).toBe(true);
    expect(vocab.histograms.has('nowconnect_mesh_rtt_seconds')).toBe(true);
    expect(vocab.events.has('mesh_cert_reloaded')).toBe(true);
    expect(vocab.events.has('no_agent_for_connector')).toBe(true);
    expect(vocab.metrics.size).toBeGreaterThan(30);
    expect(vocab.events.size).toBeGreaterThan(30);
  });

  it('every metric, event, name, config key, env var and relative link in the runbooks exists', () => {
    expect(checkRunbooks(runbookDocs(), vocab, OPTIONS)).toEqual([]);
  });

  it('links from the rest of the docs into docs/runbooks resolve', () => {
    const files = [path.join(REPO_ROOT, 'README.md'), ...fs.readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join(REPO_ROOT, 'docs', f))];
    const docs = files.map((file) => ({ file, text: fs.readFileSync(file, 'utf8') }));
    const linking = docs.filter((d) => /\]\([^)\s]*runbooks\//.test(d.text)).map((d) => path.relative(REPO_ROOT, d.file));
    expect(linking).toEqual(expect.arrayContaining(['README.md', 'docs/observability.md']));
    expect(checkRunbooks(docs, vocab, { ...OPTIONS, linksOnly: /runbooks\// })).toEqual([]);
  });

  it('self-check: invented metrics, events, names, config keys, env vars and broken links are caught', () => {
    const file = path.join(RUNBOOKS_DIR, 'selfcheck.md');
    const text = [
      '# Self check',
      '',
      'Watch `nowconnect_mesh_links` and `nowconnect_mesh_rtt_seconds_bucket` (fine), `nowconnect_mesh_tunnels_total` (invented).',
      'Log `mesh_link_down` is fine; log `mesh_link_exploded` is invented; event `queue_full` is a reason, not an event.',
      'A reason `inflight_caps` that the code never uses.',
      '`grep \'"event":"mesh_link_melted"\'`',
      'Tune `ha.mesh.send_queue_depth` (fine), `limits.flow_window_bytes` (fine), `ha.mesh.sendqueue_depth` (invented), `limits.window_bytes` (invented).',
      'Set `NC_REDIS_URL` (fine) or `NC_REDIS_URI` (invented).',
      '```yaml',
      'ha:',
      '  mesh:',
      '    send_queue_depth: 2000',
      '    max_queue_bytes: 1',
      '```',
      'See [alerts](alerts.md#nowconnectmeshlinkdown) (fine), [gone](no-such-file.md), [bad anchor](alerts.md#no-such-alert), [self](#self-check), [bad self](#nope).',
    ].join('\n');
    const problems = checkRunbooks([{ file, text }], vocab, OPTIONS);
    const expectCaught = (needle: string): void => {
      expect(problems.filter((p) => p.includes(needle))).toHaveLength(1);
    };
    expectCaught('metric nowconnect_mesh_tunnels_total');
    expectCaught('`mesh_link_exploded` is written as a log event');
    expectCaught('`queue_full` is written as a log event');
    expectCaught('`inflight_caps` does not occur');
    expectCaught('log event mesh_link_melted');
    expectCaught('config key ha.mesh.sendqueue_depth');
    expectCaught('config key limits.window_bytes');
    expectCaught('config key ha.mesh.max_queue_bytes');
    expectCaught('env var NC_REDIS_URI');
    expectCaught('link no-such-file.md');
    expectCaught('link alerts.md#no-such-alert');
    expectCaught('link #nope');
    expect(problems).toHaveLength(12);
  });

  it('self-check: a typo in a real runbook is caught, and links-only mode checks only matching links', () => {
    const rollout = path.join(RUNBOOKS_DIR, 'rollout.md');
    const text = fs.readFileSync(rollout, 'utf8');
    expect(text).toContain('nowconnect_flows_total');
    expect(text).toContain('`mesh_link_up`');
    const typo = text.replace('nowconnect_flows_total', 'nowconnect_flow_total').replace('`mesh_link_up`', '`mesh_link_upp`').replace('(capacity.md)', '(capacity.mdx)');
    const problems = checkRunbooks([{ file: rollout, text: typo }], vocab, OPTIONS);
    expect(problems).toEqual([
      expect.stringContaining('metric nowconnect_flow_total'),
      expect.stringContaining('`mesh_link_upp`'),
      expect.stringContaining('link capacity.mdx'),
    ]);
    const other = { file: path.join(REPO_ROOT, 'docs/other.md'), text: 'See [a](runbooks/nope.md), [b](gone.md), `nowconnect_made_up`.' };
    expect(checkRunbooks([other], vocab, { ...OPTIONS, linksOnly: /runbooks\// })).toEqual([expect.stringContaining('link runbooks/nope.md')]);
  });

  it('the config-key check follows the real parser', () => {
    expect(configKeyProblem('ha.mesh.tls.cert_file')).toBeUndefined();
    expect(configKeyProblem('server.tls.key_file')).toBeUndefined();
    expect(configKeyProblem('listeners[].allow_cidrs')).toBeUndefined();
    expect(configKeyProblem('limits.tunnel_window_bytes')).toBeUndefined();
    expect(configKeyProblem('listeners[].allowed_cidrs')).toMatch(/unknown/);
    expect(configKeyProblem('ha.mesh.tls.crt_file')).toMatch(/unknown/);
    expect(configKeyProblem('logging.mask_ip')).toMatch(/unknown/);
  });
});
