/**
 * `npm run chaos -- [--scenario NAME,...] [--flows N] [--duration 30s] [--concurrency N] [--seed S]`
 * Runs the chaos scenarios against real processes (dist/ must be built) on loopback and prints one
 * line per scenario; exits 1 when any flow was corrupted or hung or a fault check failed.
 */
import { parseDuration, parseFlags, parsePositiveInt, UsageError } from './args';
import { SCENARIOS } from './scenarios';
import type { ScenarioOptions } from './support/scenario';

const HELP = `usage: npm run chaos -- [options]
  --scenario NAME,...   scenarios to run (default all): ${Object.keys(SCENARIOS).join(', ')}
  --flows N             background flows per scenario (default 200)
  --duration D          upper bound on each scenario's load phases, e.g. 30s, 2m (default 60s)
  --concurrency N       concurrent flows (default 8)
  --flow-deadline D     a flow not ended within this is hung (default 30s)
  --seed S              payload seed (default random)
  --help                this text
Each scenario prints: scenario=NAME attempted=.. completed_exact=.. reset=.. refused=.. corrupted=.. hung=.. (extra figures)
Exit 0 when every scenario has corrupted=0, hung=0 and its fault checks hold; 1 otherwise; 2 on a bad argument.
Needs \`npm run build\` (spawns dist/apps/*/main.js), redis-server on PATH.`;

async function main(): Promise<number> {
  let flags: Map<string, string>;
  let o: ScenarioOptions;
  let names: string[];
  try {
    flags = parseFlags(process.argv.slice(2), ['--scenario', '--flows', '--duration', '--concurrency', '--seed', '--flow-deadline'], ['--help']);
    if (flags.has('--help')) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    names = (flags.get('--scenario') ?? Object.keys(SCENARIOS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
    for (const n of names) if (!(n in SCENARIOS)) throw new UsageError(`--scenario: unknown scenario '${n}' (one of ${Object.keys(SCENARIOS).join(', ')})`);
    o = {
      flows: flags.has('--flows') ? parsePositiveInt(flags.get('--flows')!, '--flows', 1_000_000) : 200,
      durationMs: flags.has('--duration') ? parseDuration(flags.get('--duration')!, '--duration') : 60_000,
      concurrency: flags.has('--concurrency') ? parsePositiveInt(flags.get('--concurrency')!, '--concurrency', 1000) : 8,
      flowDeadlineMs: flags.has('--flow-deadline') ? parseDuration(flags.get('--flow-deadline')!, '--flow-deadline') : 30_000,
      seed: flags.get('--seed') ?? Math.random().toString(36).slice(2, 10),
      note: (t) => process.stderr.write(`  ${t}\n`),
    };
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`chaos: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  let bad = 0;
  for (const name of names) {
    process.stderr.write(`chaos: ${name} (seed ${o.seed})...\n`);
    const t0 = Date.now();
    try {
      const r = await SCENARIOS[name]!(o);
      process.stdout.write(`${r.line}\n`);
      for (const ex of r.tally.examples) process.stderr.write(`  bad flow: ${JSON.stringify(ex)}\n`);
      const failed = Object.entries(r.checks).filter(([, v]) => !v);
      if (r.tally.counts.corrupted > 0 || r.tally.counts.hung > 0 || failed.length > 0) bad++;
    } catch (e) {
      bad++;
      process.stdout.write(`scenario=${name} error=${JSON.stringify(e instanceof Error ? e.message.split('\n')[0] : String(e))}\n`);
      process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    }
    process.stderr.write(`chaos: ${name} took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return bad > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`chaos: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
