import { readFileSync } from 'node:fs';
import {
  checkFilesReadable,
  cloudConfigFiles,
  ConfigError,
  configKindOf,
  parseCloudConfig,
  parsePremiseConfig,
  parseYaml,
  premiseConfigFiles,
} from '@nowconnect/ha-config';
import { optionalString, UsageError, type Command } from '../usage';

/** `nowconnect config check FILE`: the runtime parser (and the file checks of start-up) on one file. */

/** Passwords in URLs and an inline token never reach the output. */
function redact(key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return undefined;
  if (typeof value === 'object' && value !== null && 'text' in value && 'prefix' in value) return (value as { text: unknown }).text;
  if (key === 'token' && typeof value === 'string') return '<redacted>';
  if (typeof value === 'string' && /^[a-z+]+:\/\/[^/@]*:[^/@]*@/i.test(value)) return value.replace(/^([a-z+]+:\/\/[^/@:]*):[^/@]*@/i, '$1:<redacted>@');
  return value;
}

export const configCheck: Command = {
  name: 'config check',
  summary: [
    'Check a cloud.yaml or premise.yaml with the start-up parser (exit 0, or 2 naming the key).',
    'Env overrides are applied and every file the config names is opened, as at start-up.',
  ].join('\n'),
  usage: 'nowconnect config check FILE [--kind hub|agent] [--print]',
  flags: [
    'FILE                 the config file',
    '--kind hub|agent     which file it is (default: by its keys)',
    '--print              print the effective config (defaults and env applied) as JSON, secrets redacted',
  ],
  options: { kind: { type: 'string' }, print: { type: 'boolean' } },
  positionals: true,
  async run(values, positionals) {
    const [file, extra] = positionals;
    if (file === undefined) throw new UsageError('FILE is required');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" (one FILE)`);
    const kindFlag = optionalString(values, 'kind');
    if (kindFlag !== undefined && kindFlag !== 'hub' && kindFlag !== 'agent') throw new UsageError('--kind: expected hub or agent');
    try {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new ConfigError(file, `cannot read (${String((err as { code?: unknown }).code ?? 'error')})`);
      }
      const raw = parseYaml(text, file, file);
      const kind = kindFlag === 'hub' ? 'cloud' : kindFlag === 'agent' ? 'premise' : configKindOf(raw);
      const config = kind === 'cloud' ? parseCloudConfig(raw, process.env) : parsePremiseConfig(raw, process.env);
      checkFilesReadable(kind === 'cloud' ? cloudConfigFiles(config as never, process.env) : premiseConfigFiles(config as never, process.env));
      if (values['print'] === true) process.stdout.write(`${JSON.stringify(config, redact, 2)}\n`);
      else process.stdout.write(`${file}: ok (${kind === 'cloud' ? 'hub' : 'agent'} config)\n`);
      return 0;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`${err.message.replace(/[\r\n]+/g, ' ')}\n`);
      return 2;
    }
  },
};
