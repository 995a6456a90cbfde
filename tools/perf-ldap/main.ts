#!/usr/bin/env node
/**
 * npm run perf:ldap -- --url ldap://HOST:PORT --base DN [--bind-dn DN --password-file FILE]
 *   [--concurrency N] [--duration 30s] [--p99-max-ms X] [--error-budget 0.001] [--out DIR]
 * Exit 0 pass, 1 a threshold was exceeded (named on stderr), 2 usage error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError, parseArgs, renderHelp } from '../common/args';
import { Progress } from '../common/progress';
import { PERF_FLAGS, toPerfOptions, type PerfOptions } from './options';
import { buildReport, renderMarkdown, renderSummary, type PerfParameters } from './report';
import { runLoad } from './run';

const USAGE = 'npm run perf:ldap -- --url ldap://HOST:PORT --base DN [--bind-dn DN --password-file FILE] [flags]';
const SUMMARY = [
  'LDAP load through the NowConnect tunnel: --concurrency workers, each on its own connection, run',
  'search(base, scope, filter) in a loop for --duration; latencies go to an HDR histogram (µs).',
  'Writes report.md and report.json; progress on stderr, results on stdout.',
  'Exit codes: 0 pass, 1 p99 over --p99-max-ms or error rate over --error-budget, 2 usage error.',
].join('\n');

function timestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

function parameters(o: PerfOptions): PerfParameters {
  return {
    url: o.url,
    bind: o.bindDn === undefined ? 'anonymous' : `simple bind as ${o.bindDn} (password from file)`,
    base: o.base,
    filter: o.filter,
    scope: o.scope,
    attributes: o.attributes,
    concurrency: o.concurrency,
    duration_s: o.durationMs / 1000,
    warmup_s: o.warmupMs / 1000,
    timeout_ms: o.timeoutMs,
    p99_max_ms: o.p99MaxMs ?? null,
    error_budget: o.errorBudget,
  };
}

async function main(argv: readonly string[]): Promise<number> {
  let opts: PerfOptions;
  try {
    const parsed = parseArgs(argv, PERF_FLAGS);
    if (parsed.help) {
      process.stdout.write(renderHelp(USAGE, SUMMARY, PERF_FLAGS));
      return 0;
    }
    opts = toPerfOptions(parsed.flags);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`perf:ldap: ${e.message} (see --help)\n`);
      return 2;
    }
    throw e;
  }
  const outDir = path.resolve(opts.outDir ?? path.join('perf-reports', `ldap-${timestamp(new Date())}`));
  try {
    fs.mkdirSync(outDir, { recursive: true });
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch (e) {
    process.stderr.write(`perf:ldap: --out: cannot write to "${outDir}" (${(e as NodeJS.ErrnoException).code ?? 'error'}) (see --help)\n`);
    return 2;
  }
  process.stderr.write(
    `perf:ldap: ${opts.concurrency} workers against ${opts.url} for ${opts.durationMs / 1000} s${opts.warmupMs > 0 ? ` after ${opts.warmupMs / 1000} s warm-up` : ''}\n`,
  );
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (abort.signal.aborted) process.exit(130); // a second interrupt: give up at once
    process.stderr.write(`\nperf:ldap: ${sig}: stopping, writing the report of what was measured (again to quit at once)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const m = await runLoad(opts, new Progress(), abort.signal);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const report = buildReport(parameters(opts), m, { started: m.started, finished: m.finished }, {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    hostname: os.hostname(),
  });
  fs.writeFileSync(path.join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(outDir, 'report.md'), renderMarkdown(report));
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${renderSummary(report)}report: ${path.join(outDir, 'report.md')} and report.json\n`);
  if (!report.verdict.pass) {
    process.stderr.write(`perf:ldap: FAIL: ${report.verdict.failures.join('; ')}\n`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`perf:ldap: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
