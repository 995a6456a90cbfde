#!/usr/bin/env node
'use strict';
// Runs a TypeScript entry point of this repository (dev tools such as `npm run chaos` / `npm run soak`)
// with ts-node (transpile only) and the tsconfig path aliases (@nowconnect/*) registered.
// Usage: node scripts/run-ts.js path/to/main.ts [args...]
const path = require('path');
const root = path.resolve(__dirname, '..');
const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: node scripts/run-ts.js <entry.ts> [args...]\n');
  process.exit(2);
}
process.env.TS_NODE_PROJECT = path.join(root, 'tsconfig.json');
process.env.TS_NODE_TRANSPILE_ONLY = 'true';
require('ts-node').register({ project: process.env.TS_NODE_PROJECT, transpileOnly: true });
const tsconfigPaths = require('tsconfig-paths');
const cfg = tsconfigPaths.loadConfig(root);
if (cfg.resultType !== 'success') {
  process.stderr.write(`run-ts: cannot read tsconfig.json: ${cfg.message}\n`);
  process.exit(2);
}
tsconfigPaths.register({ baseUrl: cfg.absoluteBaseUrl, paths: cfg.paths });
process.argv.splice(1, 2, path.resolve(entry));
require(path.resolve(entry));
