#!/usr/bin/env node
/**
 * npm run validate -- --hub http://HOST:8765 --listener HOST:PORT [--connector NAME] [--ldap-base DN]
 * The operational guide's ping-pong in one command. Exit 0 all ok (warnings allowed), 1 a step
 * failed (named), 2 usage error.
 */
import { UsageError, parseArgs, renderHelp } from '../common/args';
import { VALIDATE_FLAGS, toValidateOptions } from './options';
import { renderOutcome, renderStep } from './render';
import { Validator, type StepReport } from './steps';

const USAGE = 'npm run validate -- --hub http://HOST:8765 --listener HOST:PORT [--connector NAME] [--ldap-base DN] [flags]';
const SUMMARY = [
  'NowConnect ping-pong: checks /healthz and /readyz, that an agent serves the listener\'s connector,',
  'pushes traffic through the listener (an anonymous LDAP search with --ldap-base, else a TCP round trip)',
  'and prints the deltas of nowconnect_tcp_connections_total and nowconnect_tcp_bytes_total c2a/a2c.',
  'Exit codes: 0 every step ok (warnings allowed), 1 a step failed (named on the last line), 2 usage error.',
].join('\n');

async function main(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    const parsed = parseArgs(argv, VALIDATE_FLAGS);
    if (parsed.help) {
      process.stdout.write(renderHelp(USAGE, SUMMARY, VALIDATE_FLAGS));
      return 0;
    }
    opts = toValidateOptions(parsed.flags);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`validate: ${e.message} (see --help)\n`);
      return 2;
    }
    throw e;
  }
  const mode = opts.ldap ? `anonymous LDAP search of "${opts.ldap.base}"` : opts.send ? 'TCP round trip' : `TCP connect + hold ${opts.holdMs} ms`;
  process.stdout.write(
    `validate: hub ${opts.hubUrl}, listener ${opts.listener.host}:${opts.listener.port}, connector ${opts.connector ?? '(derive)'}, traffic: ${mode}\n`,
  );
  let warnings = 0;
  const report = (r: StepReport): void => {
    if (r.status === 'warn') warnings++;
    process.stdout.write(`${renderStep(r)}\n`);
  };
  const outcome = await new Validator(opts, report).run();
  process.stdout.write(`${renderOutcome(outcome, warnings)}\n`);
  return outcome.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`validate: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
