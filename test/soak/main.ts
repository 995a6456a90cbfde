/**
 * `npm run soak -- --duration 10m [--sample-every 5s] [--fault-every 60s] [--concurrency 6] [--out DIR]`
 * Mixed traffic with periodic faults through two HA hubs and an agent; samples RSS, heap, open fds
 * and event-loop lag; writes report.md and report.json to --out (default .run/soak/<time>/, git-ignored).
 * Exit 0 when growth levels off and no flow was corrupted or hung, 1 otherwise, 2 on a bad argument.
 */
import * as path from 'node:path';
import { parseDuration, parseFlags, parsePositiveInt, UsageError } from '../chaos/args';
import { REPO_ROOT } from '../support';
import { writeReport } from './report';
import { runSoak, type SoakOptions } from './soak';

const HELP = `usage: npm run soak -- [options]
  --duration D        how long (default 10m), e.g. 60s, 10m, 1h
  --sample-every D    sampling period (default 5s)
  --fault-every D     a fault this often, alternating agent kill -9 + restart and redis kill -9 + restart (default 60s)
  --concurrency N     concurrent flows (default 6)
  --seed S            payload seed (default random)
  --out DIR           report directory (default .run/soak/<timestamp>)
  --help              this text
Prints one line: soak duration=.. attempted=.. completed_exact=.. reset=.. refused=.. corrupted=.. hung=.. (figures, verdict)
Needs \`npm run build\` and redis-server on PATH.`;

async function main(): Promise<number> {
  let o: SoakOptions;
  let out: string;
  try {
    const flags = parseFlags(process.argv.slice(2), ['--duration', '--sample-every', '--fault-every', '--concurrency', '--seed', '--out'], ['--help']);
    if (flags.has('--help')) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    o = {
      durationMs: flags.has('--duration') ? parseDuration(flags.get('--duration')!, '--duration') : 600_000,
      sampleEveryMs: flags.has('--sample-every') ? parseDuration(flags.get('--sample-every')!, '--sample-every') : 5000,
      faultEveryMs: flags.has('--fault-every') ? parseDuration(flags.get('--fault-every')!, '--fault-every') : 60_000,
      concurrency: flags.has('--concurrency') ? parsePositiveInt(flags.get('--concurrency')!, '--concurrency', 1000) : 6,
      seed: flags.get('--seed') ?? Math.random().toString(36).slice(2, 10),
      note: (t) => process.stderr.write(`  ${t}\n`),
    };
    if (o.sampleEveryMs < 500) throw new UsageError('--sample-every: at least 500ms');
    if (o.durationMs < 3 * o.sampleEveryMs) throw new UsageError('--duration: at least three sampling periods');
    out = path.resolve(flags.get('--out') ?? path.join(REPO_ROOT, '.run', 'soak', new Date().toISOString().replace(/[:.]/g, '-')));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`soak: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const r = await runSoak(o);
  const files = writeReport(out, r);
  process.stdout.write(`${r.line}\n`);
  process.stderr.write(`soak: report ${path.relative(process.cwd(), files.md)} and ${path.relative(process.cwd(), files.json)}\n`);
  for (const ex of r.tally.examples) process.stderr.write(`  bad flow: ${JSON.stringify(ex)}\n`);
  return r.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
