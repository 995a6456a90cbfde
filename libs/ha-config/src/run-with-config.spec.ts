import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ConfigError } from './config-error';
import { exitOnConfigError } from './run-with-config';

class ExitCalled extends Error {
  constructor(readonly code: number | string | null | undefined) {
    super(`exit ${String(code)}`);
  }
}

describe('exitOnConfigError', () => {
  let written: string[];

  beforeEach(() => {
    written = [];
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    jest.spyOn(process, 'exit').mockImplementation((code?: number | string | null) => {
      throw new ExitCalled(code);
    });
  });

  afterEach(() => jest.restoreAllMocks());

  it('returns the loaded value when there is no error', () => {
    expect(exitOnConfigError(() => 42)).toBe(42);
    expect(written).toEqual([]);
    expect(process.exit).not.toHaveBeenCalled();
  });

  it('writes one line `<path>: <detail>` to stderr and exits 2', () => {
    const run = (): unknown => exitOnConfigError(() => {
      throw new ConfigError('listeners[1].bind', 'expected host:port');
    });
    expect(run).toThrow(ExitCalled);
    expect(written).toEqual(['listeners[1].bind: expected host:port\n']);
    expect(process.exit).toHaveBeenCalledTimes(1);
    expect(process.exit).toHaveBeenCalledWith(2);
  });

  it('keeps the output on one line even if a detail has a newline', () => {
    expect(() => exitOnConfigError(() => {
      throw new ConfigError('NC_CONFIG', 'bad\nthing');
    })).toThrow(ExitCalled);
    expect(written).toEqual(['NC_CONFIG: bad thing\n']);
  });

  it('rethrows anything that is not a ConfigError', () => {
    const bug = new TypeError('boom');
    expect(() => exitOnConfigError(() => {
      throw bug;
    })).toThrow(bug);
    expect(written).toEqual([]);
    expect(process.exit).not.toHaveBeenCalled();
  });
});

describe('exitOnConfigError in a real process', () => {
  it('prints one line, no stack, exit code 2', () => {
    const script = [
      "const { exitOnConfigError } = require('./libs/ha-config/src/run-with-config');",
      "const { ConfigError } = require('./libs/ha-config/src/config-error');",
      "exitOnConfigError(() => { throw new ConfigError('listeners[1].bind', 'expected host:port'); });",
      "console.log('not reached');",
    ].join('\n');
    const child = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: resolve(__dirname, '../../..'),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('listeners[1].bind: expected host:port\n');
    expect(child.stdout).toBe('');
    expect(child.status).toBe(2);
  });
});
