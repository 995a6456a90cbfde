import { ConfigError } from './config-error';

/**
 * Start-up guard (SPEC §3): a ConfigError becomes exactly one plain line
 * `<path>: <detail>` on stderr and exit code 2 — no stack trace. Anything else
 * is a bug, not a config problem, and is rethrown.
 */
export function exitOnConfigError<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message.replace(/[\r\n]+/g, ' ')}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * dist/apps/<app>/main.js take no arguments (config is NC_CONFIG + env): `--help` / `--version`
 * answer and exit 0, anything else exits 2 naming it — never silently ignored. Returns when argv is empty.
 */
export function handleMainArgs(argv: readonly string[], app: 'hub' | 'agent', version: string): void {
  const [first] = argv;
  if (first === undefined) return;
  if (first === '--help' || first === '-h') {
    const file = app === 'hub' ? 'config/cloud.yaml' : 'config/premise.yaml';
    process.stdout.write(
      `NowConnect ${app}: configured by NC_CONFIG (default ${file}) and env (docs/configuration.md).\n` +
        `Same as \`nowconnect ${app} [--config FILE]\`; see \`nowconnect --help\` for tokens, config check and status.\n`,
    );
    process.exit(0);
  }
  if (first === '--version') {
    process.stdout.write(`nowconnect ${version}\n`);
    process.exit(0);
  }
  process.stderr.write(`${first}: unknown argument (this binary takes none; use NC_CONFIG, or nowconnect ${app} --config FILE)\n`);
  process.exit(2);
}
