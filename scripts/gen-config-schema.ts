/**
 * npm run config:schema — writes config/schema/{cloud,premise}.schema.json and the key reference of
 * docs/configuration.md from the key tables in libs/ha-config/src/keys (the one source of truth).
 * `--check` writes nothing and exits 1 when a file is out of date (CI; the unit test checks the same).
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CLOUD_SCHEMA_FILE, cloudSchema, PREMISE_SCHEMA_FILE, premiseSchema, schemaText, withKeyReference } from '../libs/ha-config/src/keys';

const root = resolve(__dirname, '..');
const DOC = 'docs/configuration.md';
const check = process.argv.includes('--check');
const outputs: Array<[string, string]> = [
  [CLOUD_SCHEMA_FILE, schemaText(cloudSchema())],
  [PREMISE_SCHEMA_FILE, schemaText(premiseSchema())],
  [DOC, withKeyReference(readFileSync(resolve(root, DOC), 'utf8'))],
];
let stale = 0;
for (const [file, text] of outputs) {
  const path = resolve(root, file);
  let old = '';
  try {
    old = readFileSync(path, 'utf8');
  } catch {
    // new file
  }
  if (old === text) continue;
  stale++;
  if (check) {
    process.stderr.write(`${file}: out of date (run npm run config:schema)\n`);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
process.exitCode = check && stale > 0 ? 1 : 0;
