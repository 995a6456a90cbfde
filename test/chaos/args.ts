/** Small flag parsing shared by `npm run chaos` and `npm run soak`: --name value / --name=value. */
export class UsageError extends Error {}

/** '30s', '10m', '1h', '500ms' or a bare number of seconds -> ms. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: expected a duration like 30s, 10m, 1h (got '${text}')`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  if (!(ms > 0)) throw new UsageError(`${flag}: must be > 0`);
  return ms;
}

export function parsePositiveInt(text: string, flag: string, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag}: expected a whole number (got '${text}')`);
  const n = Number(text);
  if (!(n >= 1 && n <= max)) throw new UsageError(`${flag}: must be between 1 and ${max}`);
  return n;
}

/** Parses argv into flag -> value; `bool` flags take no value. Unknown flag -> UsageError. */
export function parseFlags(argv: string[], valued: readonly string[], bool: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (bool.includes(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      out.set(name, 'true');
    } else if (valued.includes(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${name} needs a value`);
      out.set(name, v);
    } else {
      throw new UsageError(`unknown argument '${a}' (see --help)`);
    }
  }
  return out;
}
