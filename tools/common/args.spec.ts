import { UsageError, parseArgs, parseHostPort, renderHelp, type FlagSpec } from './args';

const SPECS: readonly FlagSpec[] = [
  { name: 'url', kind: 'string', required: true, help: 'the url' },
  { name: 'scope', kind: 'string', default: 'sub', choices: ['base', 'one', 'sub'], help: 'scope' },
  { name: 'concurrency', kind: 'int', default: '4', min: 1, max: 100, help: 'workers' },
  { name: 'duration', kind: 'duration', default: '30s', min: 100, help: 'run time' },
  { name: 'budget', kind: 'number', default: '0.001', min: 0, max: 1, help: 'fraction' },
  { name: 'json', kind: 'bool', help: 'json out' },
];

function usage(argv: string[]): string {
  try {
    parseArgs(argv, SPECS);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no UsageError for ${argv.join(' ')}`);
}

describe('parseArgs', () => {
  it('reads --flag value and --flag=value, applies defaults, converts kinds', () => {
    const r = parseArgs(['--url', 'ldap://h:389', '--concurrency=8', '--duration', '2m', '--budget', '0.1', '--json'], SPECS);
    expect(r.help).toBe(false);
    expect(Object.fromEntries(r.flags)).toEqual({ url: 'ldap://h:389', scope: 'sub', concurrency: 8, duration: 120_000, budget: 0.1, json: true });
  });

  it('--help wins over missing or bad flags', () => {
    expect(parseArgs(['--bogus', '--help'], SPECS).help).toBe(true);
    expect(parseArgs(['-h'], SPECS).help).toBe(true);
  });

  it('names the flag in every usage error', () => {
    expect(usage([])).toBe('missing required flag --url');
    expect(usage(['--url', 'x', '--nope', '1'])).toBe('unknown flag --nope');
    expect(usage(['--url'])).toBe('--url: missing value');
    expect(usage(['--url', '--json'])).toBe('--url: missing value');
    expect(usage(['--url', 'x', '--url', 'y'])).toBe('--url given twice');
    expect(usage(['--url', 'x', '--concurrency', 'four'])).toBe('--concurrency: expected an integer, got "four"');
    expect(usage(['--url', 'x', '--concurrency', '0'])).toBe('--concurrency: must be >= 1, got "0"');
    expect(usage(['--url', 'x', '--concurrency', '101'])).toBe('--concurrency: must be <= 100, got "101"');
    expect(usage(['--url', 'x', '--budget', '1.5'])).toBe('--budget: must be <= 1, got "1.5"');
    expect(usage(['--url', 'x', '--budget', 'lots'])).toBe('--budget: expected a number, got "lots"');
    expect(usage(['--url', 'x', '--scope', 'deep'])).toBe('--scope: expected one of base|one|sub, got "deep"');
    expect(usage(['--url', 'x', '--duration', '5 parsecs'])).toMatch(/^--duration: expected a duration/);
    expect(usage(['--url', 'x', '--duration', '10ms'])).toBe('--duration: must be >= 100 ms, got "10ms"');
    expect(usage(['--url', 'x', 'stray'])).toMatch(/^unexpected argument "stray"/);
  });

  it('accepts a value that starts with a dash but is not a flag (e.g. a negative number is still range-checked)', () => {
    expect(usage(['--url', 'x', '--concurrency', '-3'])).toBe('--concurrency: must be >= 1, got "-3"');
  });

  it('help lists every flag with its default and choices', () => {
    const h = renderHelp('tool --url URL', 'Summary.', SPECS);
    for (const s of SPECS) expect(h).toContain(`--${s.name}`);
    expect(h).toContain('default 30s');
    expect(h).toContain('one of base|one|sub');
    expect(h).toContain('--help');
  });
});

describe('parseHostPort', () => {
  it('parses host:port and [v6]:port', () => {
    expect(parseHostPort('listener', 'nowconnect-cloud:389')).toEqual({ host: 'nowconnect-cloud', port: 389 });
    expect(parseHostPort('listener', '[::1]:1389')).toEqual({ host: '::1', port: 1389 });
  });
  it('rejects anything else naming the flag', () => {
    for (const bad of ['host', 'host:0', 'host:70000', ':389', 'a b:1']) {
      expect(() => parseHostPort('listener', bad)).toThrow(`--listener: expected host:port, got "${bad}"`);
    }
  });
});
