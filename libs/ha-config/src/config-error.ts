/**
 * The one error type of this lib: a config problem at a key path
 * (`listeners[1].bind`), an env var (`NC_HA_MODE`) or a file. The message is
 * exactly `<path>: <detail>` — what the operator sees on stderr. Details never
 * echo the offending value (it may be a secret or a URL with credentials).
 * Branch on `instanceof ConfigError` and `path`, never on the message.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}
