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
