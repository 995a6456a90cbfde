/** The soak report: report.json (everything) and report.md (summary, verdicts, samples). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OUTCOMES } from '../chaos/invariant';
import { TOLERANCES } from './verdict';
import type { SoakResult } from './soak';

const f = (x: number | null, d = 1): string => (x === null ? 'n/a' : x.toFixed(d));

export function writeReport(dir: string, r: SoakResult): { json: string; md: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'report.json');
  const md = path.join(dir, 'report.md');
  fs.writeFileSync(
    json,
    `${JSON.stringify(
      {
        line: r.line,
        pass: r.pass,
        options: r.options,
        outcomes: { attempted: r.tally.attempted, ...r.tally.counts, corrupt_kinds: r.tally.corruptKinds },
        bad_flows: r.tally.examples,
        faults: r.faults,
        tolerances: TOLERANCES,
        verdicts: r.verdicts,
        samples: r.samples,
      },
      null,
      2,
    )}\n`,
  );
  const lines: string[] = [];
  lines.push(`# Soak report`, '', '```', r.line, '```', '');
  lines.push(`Verdict: **${r.pass ? 'pass — growth levels off, no corrupted or hung flow' : 'FAIL'}**`, '');
  lines.push(`Options: duration ${r.options.durationMs / 1000} s, a sample every ${r.options.sampleEveryMs / 1000} s, a fault every ${r.options.faultEveryMs / 1000} s, concurrency ${r.options.concurrency}, seed ${r.options.seed}.`, '');
  lines.push('## Flows (invariant)', '', `| attempted | ${OUTCOMES.join(' | ')} |`, `|---|${OUTCOMES.map(() => '---').join('|')}|`);
  lines.push(`| ${r.tally.attempted} | ${OUTCOMES.map((o) => r.tally.counts[o]).join(' | ')} |`, '');
  lines.push('## Faults', '', '| t (s) | fault | back after (ms) |', '|---|---|---|');
  for (const x of r.faults) lines.push(`| ${x.t} | ${x.kind} | ${x.backMs} |`);
  lines.push('', '## Growth verdicts (mean of the last third vs the middle third)', '');
  lines.push('| process | metric | samples | first | last | middle mean | last mean | limit | ok |', '|---|---|---|---|---|---|---|---|---|');
  for (const v of r.verdicts) {
    lines.push(`| ${v.proc} | ${v.metric} | ${v.n} | ${f(v.first)} | ${f(v.last)} | ${f(v.middleMean)} | ${f(v.lastMean)} | ${f(v.limit)} | ${v.ok ? 'yes' : '**no**'} |`);
  }
  lines.push('', 'Tolerances: ' + Object.entries(TOLERANCES).map(([k, t]) => `${k} +${t.rel * 100}% + ${t.abs}`).join('; ') + '.', '');
  lines.push('## Samples', '', '| t (s) | process | pid | RSS MiB | fds | heap used MiB | lag p99 ms | lag max ms |', '|---|---|---|---|---|---|---|---|');
  for (const s of r.samples) {
    lines.push(`| ${s.t} | ${s.proc} | ${s.pid} | ${f(s.rssMiB)} | ${s.fds} | ${f(s.heapUsedMiB)} | ${f(s.lagP99Ms)} | ${f(s.lagMaxMs)} |`);
  }
  lines.push('', 'The agent has no /metrics endpoint: its heap and event-loop lag are not sampled (n/a); its RSS and fds restart with each agent fault.', '');
  fs.writeFileSync(md, `${lines.join('\n')}\n`);
  return { json, md };
}
