import * as fs from 'node:fs';
import * as path from 'node:path';

const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/usr/local/sbin', '/usr/local/bin'];
const cache = new Map<string, string>();

/** Absolute path of a system binary (PATH plus the sbin dirs); throws naming the package when absent. */
export function findBin(name: string): string {
  const hit = cache.get(name);
  if (hit) return hit;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const full = path.join(dir, name);
    try {
      fs.accessSync(full, fs.constants.X_OK);
      cache.set(name, full);
      return full;
    } catch {
      /* keep looking */
    }
  }
  throw new Error(`${name} not found (run: node scripts/ensure-system-deps.js)`);
}
