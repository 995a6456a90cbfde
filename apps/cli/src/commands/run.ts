import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { optionalString, type Command } from '../usage';

/** `nowconnect hub|agent` (the same bootstrap as dist/apps/*\/main.js) and the operator tools. */

function setConfig(values: Record<string, unknown>): void {
  const file = optionalString(values, 'config');
  if (file !== undefined) process.env.NC_CONFIG = file;
}

/** Runs until a signal stops it: the bootstraps exit the process themselves. */
const forever = (): Promise<number> => new Promise<number>(() => undefined);

export const hub: Command = {
  name: 'hub',
  summary: 'Run the cloud hub (as dist/apps/cloud-hub/main.js; env per docs/configuration.md).',
  usage: 'nowconnect hub [--config FILE]',
  flags: ['--config FILE    cloud.yaml (default: NC_CONFIG, else config/cloud.yaml)'],
  options: { config: { type: 'string' } },
  async run(values) {
    setConfig(values);
    // Loaded on demand: the other commands start without Nest and the data plane.
    const { bootstrap } = await import('../../../cloud-hub/src/bootstrap');
    await bootstrap();
    return forever();
  },
};

export const agent: Command = {
  name: 'agent',
  summary: 'Run the premise agent (as dist/apps/premise-agent/main.js; env per docs/configuration.md).',
  usage: 'nowconnect agent [--config FILE]',
  flags: ['--config FILE    premise.yaml (default: NC_CONFIG, else config/premise.yaml)'],
  options: { config: { type: 'string' } },
  async run(values) {
    setConfig(values);
    const { bootstrap } = await import('../../../premise-agent/src/bootstrap');
    await bootstrap();
    return forever();
  },
};

/** dist/apps/cli/main.js -> dist/tools/<name>/main.js */
function toolMain(name: string): string {
  return resolve(__dirname, '../../tools', name, 'main.js');
}

function tool(name: string, summary: string): Command {
  return {
    name,
    summary,
    usage: `nowconnect ${name} [flags]   (nowconnect ${name} --help for its flags)`,
    flags: [],
    options: {},
    passThrough: true,
    run(_values, args) {
      const main = toolMain(name);
      if (!existsSync(main)) {
        process.stderr.write(`${name}: ${main} not found (run npm run build)\n`);
        return Promise.resolve(1);
      }
      return new Promise((done) => {
        const child = spawn(process.execPath, [main, ...args], { stdio: 'inherit' });
        const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
        process.on('SIGINT', forward);
        process.on('SIGTERM', forward);
        child.on('exit', (code, signal) => done(code ?? (signal === null ? 1 : 128 + 2)));
      });
    },
  };
}

export const validate = tool('validate', 'Ping-pong through a hub and an agent (docs/validate.md).');
export const perfLdap = tool('perf-ldap', 'LDAP load and latency through a listener (docs/perf-ldap.md).');
