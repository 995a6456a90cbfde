import { configCheck } from './commands/config-check';
import { agent, hub, perfLdap, validate } from './commands/run';
import { status } from './commands/status';
import { tokenInspect, tokenIssue } from './commands/token';
import { commandHelp, parseCommandArgs, UsageError, version, type Command } from './usage';

/** `nowconnect <command> [flags]`: one CLI for the hub, the agent, tokens, config and status. */

export const COMMANDS: readonly Command[] = [hub, agent, tokenIssue, tokenInspect, configCheck, status, validate, perfLdap];

export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary.split('\n')[0]}`);
  return [
    'nowconnect: reverse TCP tunnel (cloud hub + premise agent)',
    '',
    'usage: nowconnect <command> [flags]',
    '',
    'commands:',
    ...lines,
    '',
    'Every command takes --help and --version. Exit codes: 0 ok, 1 failure, 2 usage or config error.',
    'Docs: docs/cli.md, docs/configuration.md',
    '',
  ].join('\n');
}

/** The command named by the first one or two words, and the rest of argv. */
function find(argv: readonly string[]): { cmd: Command; rest: string[] } | undefined {
  const two = `${argv[0] ?? ''} ${argv[1] ?? ''}`;
  const cmd = COMMANDS.find((c) => c.name === two) ?? COMMANDS.find((c) => c.name === argv[0]);
  return cmd === undefined ? undefined : { cmd, rest: argv.slice(cmd.name.split(' ').length) };
}

export async function runCli(argv: readonly string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(topHelp());
    return first === undefined ? 2 : 0;
  }
  if (first === '--version') {
    process.stdout.write(`nowconnect ${version()}\n`);
    return 0;
  }
  const found = find(argv);
  if (found === undefined) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name);
    const hint = group.length > 0 ? `: expected one of ${group.join(', ')}` : first.startsWith('-') ? ': unknown flag (flags go after the command)' : ': unknown command';
    process.stderr.write(`nowconnect: ${argv.slice(0, group.length > 0 ? 2 : 1).join(' ')}${hint}\nsee: nowconnect --help\n`);
    return 2;
  }
  const { cmd, rest } = found;
  try {
    if (cmd.passThrough === true) {
      if (rest.includes('--version')) {
        process.stdout.write(`nowconnect ${version()}\n`);
        return 0;
      }
      return await cmd.run({}, rest);
    }
    const { values, positionals } = parseCommandArgs(cmd, rest);
    if (values['help'] === true) {
      process.stdout.write(commandHelp(cmd));
      return 0;
    }
    if (values['version'] === true) {
      process.stdout.write(`nowconnect ${version()}\n`);
      return 0;
    }
    return await cmd.run(values, positionals);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`nowconnect ${cmd.name}: ${err.message}\nsee: nowconnect ${cmd.name} --help\n`);
    return 2;
  }
}
