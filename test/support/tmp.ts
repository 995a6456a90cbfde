import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const created = new Set<string>();

/** A fresh directory under the OS temp dir; removed by cleanupTmpDirs(). */
export function makeTmpDir(prefix = 'nc-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  created.add(dir);
  return dir;
}

/** Remove every directory made by makeTmpDir (set NC_KEEP_TMP=1 to keep them for debugging). */
export function cleanupTmpDirs(): void {
  if (process.env.NC_KEEP_TMP === '1') return;
  for (const dir of created) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      /* best effort */
    }
    created.delete(dir);
  }
}
