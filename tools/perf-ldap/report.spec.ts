import { buildReport, renderMarkdown, renderSummary, verdict, type Measured, type PerfParameters } from './report';
import { Stats } from './stats';

const PARAMS: PerfParameters = {
  url: 'ldap://hub:389',
  bind: 'simple bind as cn=admin,dc=example,dc=org (password from file)',
  base: 'dc=example,dc=org',
  filter: '(objectClass=*)',
  scope: 'sub',
  attributes: [],
  concurrency: 8,
  duration_s: 30,
  warmup_s: 0,
  timeout_ms: 5000,
  p99_max_ms: 25,
  error_budget: 0.01,
};

const LAT = { min: 0.5, p50: 2, p90: 4, p99: 10, p99_9: 20, max: 30, mean: 2.5 };
const ENV = { node: 'v20.0.0', platform: 'linux x64', cpus: 2, hostname: 'vm' };
const TIMES = { started: new Date('2026-01-01T00:00:00Z'), finished: new Date('2026-01-01T00:00:30Z') };

function measured(ok: number, errors: Record<string, number> = {}, latency = LAT): Measured {
  return { ok, errors: new Map(Object.entries(errors)), elapsedMs: 30_000, connectionsOpened: 8, latency: ok > 0 ? latency : undefined };
}

describe('verdict', () => {
  it('passes within both thresholds', () => {
    const v = verdict(PARAMS, measured(3000, { timeout: 3 }));
    expect(v.pass).toBe(true);
    expect(v.checks.map((c) => c.name)).toEqual(['operations', 'error_budget', 'p99']);
  });
  it('names p99 when it is over --p99-max-ms', () => {
    const v = verdict({ ...PARAMS, p99_max_ms: 0.001 }, measured(3000));
    expect(v.pass).toBe(false);
    expect(v.failures).toEqual(['p99 10.000 ms exceeds --p99-max-ms 0.001']);
  });
  it('names the error budget when errors / attempts is over it', () => {
    const v = verdict(PARAMS, measured(90, { connection_refused: 10 }));
    expect(v.failures).toEqual(['error rate 10.000 % (10/100) exceeds error budget 1.000 %']);
  });
  it('the budget is inclusive, and no threshold means no p99 check', () => {
    const v = verdict({ ...PARAMS, p99_max_ms: null }, measured(99, { timeout: 1 }));
    expect(v.pass).toBe(true);
    expect(v.checks.map((c) => c.name)).toEqual(['operations', 'error_budget']);
  });
  it('no successful search fails', () => {
    const v = verdict({ ...PARAMS, error_budget: 1 }, measured(0, { connection_refused: 5 }));
    expect(v.pass).toBe(false);
    expect(v.failures[0]).toBe('no successful search');
    expect(v.failures[1]).toMatch(/^p99 unknown/);
  });
});

describe('report', () => {
  const r = buildReport(PARAMS, measured(3000, { timeout: 2, ldap_32_no_such_object: 5 }), TIMES, ENV);

  it('totals, throughput and errors sorted by count', () => {
    expect(r.totals).toEqual({ attempts: 3007, ok: 3000, errors: 7, error_rate: 7 / 3007, elapsed_s: 30, connections_opened: 8 });
    expect(r.throughput_ops_s).toBe(100);
    expect(Object.keys(r.errors_by_kind)).toEqual(['ldap_32_no_such_object', 'timeout']);
    expect(r.latency_ms).toEqual(LAT);
  });

  it('Markdown: verdict, parameters, totals, latency table, errors, and never a password', () => {
    const md = renderMarkdown(r);
    expect(md).toContain('**Verdict: PASS**');
    expect(md).toContain('| throughput | 100.0 ops/s |');
    expect(md).toContain('| p50 | p90 | p99 | p99.9 | max | mean | min |');
    expect(md).toContain('| 2.000 | 4.000 | 10.000 | 20.000 | 30.000 | 2.500 | 0.500 |');
    expect(md).toContain('| ldap_32_no_such_object | 5 | 0.166 % |');
    expect(md).toContain('| bind | simple bind as cn=admin,dc=example,dc=org (password from file) |');
    expect(md).not.toMatch(/s3cret/);
    expect(md.endsWith('\n')).toBe(true);
  });

  it('Markdown of a failed run without successes', () => {
    const bad = buildReport({ ...PARAMS, filter: '(|(uid=a)(uid=b))' }, measured(0, { connection_refused: 4 }), TIMES, ENV);
    const md = renderMarkdown(bad);
    expect(md).toContain('**Verdict: FAIL**');
    expect(md).toContain('No successful search: no latency.');
    expect(md).toContain('| filter | (\\|(uid=a)(uid=b)) |'); // pipes escaped in tables
    expect(renderSummary(bad)).toContain('verdict: FAIL (no successful search;');
  });

  it('an interrupted run says so in the Markdown and the summary', () => {
    const cut = buildReport(PARAMS, { ...measured(100), elapsedMs: 1500, interrupted: true }, TIMES, ENV);
    expect(cut.interrupted).toBe(true);
    expect(renderMarkdown(cut)).toContain('Interrupted: the run was stopped after 1.50 s of the 30 s asked for.');
    expect(renderSummary(cut).split('\n')[0]).toBe('interrupted after 1.50 s of 30 s');
    expect(r.interrupted).toBe(false);
    expect(renderMarkdown(r)).not.toContain('Interrupted');
  });

  it('JSON round-trips', () => {
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe('Stats', () => {
  it('records µs latencies only while recording; percentiles never pass the max', () => {
    const s = new Stats();
    s.recordOk(5_000_000n); // ignored: not recording
    s.recordError('timeout');
    expect(s.ok).toBe(0);
    expect(s.errorCount).toBe(0);
    s.recording = true;
    for (let i = 1; i <= 1000; i++) s.recordOk(BigInt(i * 1000)); // 1..1000 µs
    s.recordOk(34_481_000n);
    s.recordError('timeout');
    s.recordError('timeout');
    const l = s.latency();
    expect(l).toBeDefined();
    expect(s.ok).toBe(1001);
    expect(s.errors.get('timeout')).toBe(2);
    expect(l!.min).toBeCloseTo(0.001, 6);
    expect(l!.p50).toBeGreaterThanOrEqual(0.49);
    expect(l!.p50).toBeLessThanOrEqual(0.51);
    expect(l!.max).toBeCloseTo(34.481, 1);
    expect(l!.p50).toBeLessThanOrEqual(l!.p90);
    expect(l!.p99).toBeLessThanOrEqual(l!.p99_9);
    expect(l!.p99_9).toBeLessThanOrEqual(l!.max);
  });
});
