/**
 * The perf report: one JSON document (report.json) and its Markdown rendering (report.md).
 * Pure functions over plain data, so they are unit-tested without LDAP.
 */
import type { LatencySummaryMs } from './stats';

export interface PerfParameters {
  readonly url: string;
  readonly bind: string; // "anonymous" or "simple bind as <dn> (password from file)"
  readonly base: string;
  readonly filter: string;
  readonly scope: string;
  readonly attributes: readonly string[];
  readonly concurrency: number;
  readonly duration_s: number;
  readonly warmup_s: number;
  readonly timeout_ms: number;
  readonly p99_max_ms: number | null;
  readonly error_budget: number;
}

export interface VerdictCheck {
  readonly name: 'p99' | 'error_budget' | 'operations';
  readonly limit: number | null;
  readonly value: number;
  readonly pass: boolean;
  readonly text: string;
}

export interface PerfReport {
  readonly tool: 'nowconnect perf:ldap';
  readonly started_at: string;
  readonly finished_at: string;
  /** The run was ended early (Ctrl-C): the figures cover elapsed_s, not the full --duration. */
  readonly interrupted: boolean;
  readonly parameters: PerfParameters;
  readonly environment: { readonly node: string; readonly platform: string; readonly cpus: number; readonly hostname: string };
  readonly totals: {
    readonly attempts: number;
    readonly ok: number;
    readonly errors: number;
    readonly error_rate: number;
    readonly elapsed_s: number;
    readonly connections_opened: number;
  };
  readonly throughput_ops_s: number;
  readonly latency_ms: LatencySummaryMs | null;
  readonly errors_by_kind: Readonly<Record<string, number>>;
  readonly verdict: { readonly pass: boolean; readonly checks: readonly VerdictCheck[]; readonly failures: readonly string[] };
}

export interface Measured {
  readonly ok: number;
  readonly errors: ReadonlyMap<string, number>;
  readonly elapsedMs: number;
  readonly connectionsOpened: number;
  readonly latency: LatencySummaryMs | undefined;
  /** Ended early by an interrupt (SIGINT/SIGTERM). */
  readonly interrupted?: boolean;
}

const ms = (v: number): string => v.toFixed(3);
const pct = (v: number): string => `${(v * 100).toFixed(3)} %`;

/** The checks against the thresholds: p99 (when set), the error budget, and at least one success. */
export function verdict(p: PerfParameters, m: Measured): PerfReport['verdict'] {
  const errors = [...m.errors.values()].reduce((a, b) => a + b, 0);
  const attempts = m.ok + errors;
  const rate = attempts === 0 ? 0 : errors / attempts;
  const checks: VerdictCheck[] = [];
  checks.push({
    name: 'operations',
    limit: 1,
    value: m.ok,
    pass: m.ok > 0,
    text: m.ok > 0 ? `${m.ok} successful searches` : 'no successful search',
  });
  const errPass = rate <= p.error_budget;
  checks.push({
    name: 'error_budget',
    limit: p.error_budget,
    value: rate,
    pass: errPass,
    text: `error rate ${pct(rate)} (${errors}/${attempts}) ${errPass ? '<=' : 'exceeds'} error budget ${pct(p.error_budget)}`,
  });
  if (p.p99_max_ms !== null) {
    const p99 = m.latency?.p99;
    const pass = p99 !== undefined && p99 <= p.p99_max_ms;
    checks.push({
      name: 'p99',
      limit: p.p99_max_ms,
      value: p99 ?? Number.NaN,
      pass,
      text: p99 === undefined ? `p99 unknown (no successful search) vs --p99-max-ms ${p.p99_max_ms}` : `p99 ${ms(p99)} ms ${pass ? '<=' : 'exceeds'} --p99-max-ms ${p.p99_max_ms}`,
    });
  }
  const failures = checks.filter((c) => !c.pass).map((c) => c.text);
  return { pass: failures.length === 0, checks, failures };
}

export function buildReport(
  p: PerfParameters,
  m: Measured,
  times: { started: Date; finished: Date },
  environment: PerfReport['environment'],
): PerfReport {
  const errors = [...m.errors.values()].reduce((a, b) => a + b, 0);
  const attempts = m.ok + errors;
  const sorted = [...m.errors.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return {
    tool: 'nowconnect perf:ldap',
    started_at: times.started.toISOString(),
    finished_at: times.finished.toISOString(),
    interrupted: m.interrupted === true,
    parameters: p,
    environment,
    totals: {
      attempts,
      ok: m.ok,
      errors,
      error_rate: attempts === 0 ? 0 : errors / attempts,
      elapsed_s: m.elapsedMs / 1000,
      connections_opened: m.connectionsOpened,
    },
    throughput_ops_s: m.elapsedMs > 0 ? m.ok / (m.elapsedMs / 1000) : 0,
    latency_ms: m.latency ?? null,
    errors_by_kind: Object.fromEntries(sorted),
    verdict: verdict(p, m),
  };
}

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [`| ${head.map(esc).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)];
}

export function renderMarkdown(r: PerfReport): string {
  const p = r.parameters;
  const out: string[] = ['# NowConnect LDAP performance report', ''];
  out.push(`**Verdict: ${r.verdict.pass ? 'PASS' : 'FAIL'}**`, '');
  if (r.interrupted) out.push(`Interrupted: the run was stopped after ${r.totals.elapsed_s.toFixed(2)} s of the ${r.parameters.duration_s} s asked for.`, '');
  for (const c of r.verdict.checks) out.push(`- ${c.pass ? 'ok' : 'FAIL'}: ${c.text}`);
  out.push('', '## Parameters', '');
  out.push(
    ...table(
      ['parameter', 'value'],
      [
        ['URL', p.url],
        ['bind', p.bind],
        ['base', p.base],
        ['scope', p.scope],
        ['filter', p.filter],
        ['attributes', p.attributes.length > 0 ? p.attributes.join(', ') : '(all user attributes)'],
        ['concurrency', String(p.concurrency)],
        ['duration', `${p.duration_s} s (after ${p.warmup_s} s warm-up)`],
        ['timeout per operation', `${p.timeout_ms} ms`],
        ['p99 threshold', p.p99_max_ms === null ? '(none)' : `${p.p99_max_ms} ms`],
        ['error budget', `${pct(p.error_budget)} (${p.error_budget})`],
      ],
    ),
  );
  out.push('', '## Totals', '');
  out.push(
    ...table(
      ['metric', 'value'],
      [
        ['successful searches', String(r.totals.ok)],
        ['errors', String(r.totals.errors)],
        ['error rate', pct(r.totals.error_rate)],
        ['measured time', `${r.totals.elapsed_s.toFixed(2)} s`],
        ['throughput', `${r.throughput_ops_s.toFixed(1)} ops/s`],
        ['connections opened (warm-up included)', String(r.totals.connections_opened)],
      ],
    ),
  );
  out.push('', '## Latency of successful searches (ms)', '');
  const l = r.latency_ms;
  out.push(
    ...(l === null
      ? ['No successful search: no latency.']
      : table(['p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'min'], [[ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p99_9), ms(l.max), ms(l.mean), ms(l.min)]])),
  );
  out.push('', '## Errors by kind', '');
  const kinds = Object.entries(r.errors_by_kind);
  out.push(
    ...(kinds.length === 0
      ? ['None.']
      : table(
          ['kind', 'count', 'share of attempts'],
          kinds.map(([k, n]) => [k, String(n), pct(r.totals.attempts === 0 ? 0 : n / r.totals.attempts)]),
        )),
  );
  out.push('', '## Run', '');
  out.push(
    ...table(
      ['', ''],
      [
        ['started', r.started_at],
        ['finished', r.finished_at],
        ['node', r.environment.node],
        ['platform', `${r.environment.platform}, ${r.environment.cpus} CPUs`],
        ['host', r.environment.hostname],
      ],
    ),
  );
  return `${out.join('\n')}\n`;
}

/** A few lines for the terminal (stdout) after the run. */
export function renderSummary(r: PerfReport): string {
  const l = r.latency_ms;
  const lines = [
    ...(r.interrupted ? [`interrupted after ${r.totals.elapsed_s.toFixed(2)} s of ${r.parameters.duration_s} s`] : []),
    `perf:ldap ${r.parameters.url} base "${r.parameters.base}" scope ${r.parameters.scope}, concurrency ${r.parameters.concurrency}, ${r.parameters.duration_s} s`,
    `  searches ok ${r.totals.ok}, errors ${r.totals.errors} (${pct(r.totals.error_rate)}), throughput ${r.throughput_ops_s.toFixed(1)} ops/s`,
    l === null
      ? '  latency: no successful search'
      : `  latency ms: p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  p99.9 ${ms(l.p99_9)}  max ${ms(l.max)}`,
  ];
  const kinds = Object.entries(r.errors_by_kind);
  if (kinds.length > 0) lines.push(`  errors by kind: ${kinds.map(([k, n]) => `${k}=${n}`).join(', ')}`);
  lines.push(`verdict: ${r.verdict.pass ? 'PASS' : 'FAIL'}${r.verdict.pass ? '' : ` (${r.verdict.failures.join('; ')})`}`);
  return `${lines.join('\n')}\n`;
}
