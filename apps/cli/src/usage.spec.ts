import { parseCommandArgs, parseTtl, UsageError, type Command } from './usage';

const cmd: Command = {
  name: 'x',
  summary: 's',
  usage: 'u',
  flags: [],
  options: { agent: { type: 'string' }, connector: { type: 'string', multiple: true } },
  run: () => Promise.resolve(0),
};

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error('expected a UsageError');
}

describe('CLI argument parsing (node:util parseArgs)', () => {
  it('parses flags, repeated flags, --help and --version', () => {
    expect(parseCommandArgs(cmd, ['--agent', 'a', '--connector', 'x', '--connector=y', '--help']).values).toEqual({
      agent: 'a',
      connector: ['x', 'y'],
      help: true,
    });
  });

  it('usage errors name the flag', () => {
    expect(usageError(() => parseCommandArgs(cmd, ['--nope']))).toContain("'--nope'");
    expect(usageError(() => parseCommandArgs(cmd, ['--agent']))).toContain('--agent');
    expect(usageError(() => parseCommandArgs(cmd, ['stray']))).toContain('stray');
  });

  it('ttl: 90d, 12h, 30m, 45s; anything else names the flag', () => {
    expect(parseTtl('90d', 'ttl')).toBe(90 * 86_400);
    expect(parseTtl('12h', 'ttl')).toBe(12 * 3600);
    expect(parseTtl('45s', 'ttl')).toBe(45);
    expect(usageError(() => parseTtl('0d', 'ttl'))).toMatch(/^--ttl:/);
    expect(usageError(() => parseTtl('1y', 'ttl'))).toMatch(/^--ttl:/);
  });
});
