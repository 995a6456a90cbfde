#!/usr/bin/env node
'use strict';
// The `nowconnect` bin (package.json "bin"): runs the built CLI, dist/apps/cli/main.js (`npm run build`).
const path = require('path');
const fs = require('fs');
const main = path.join(__dirname, '..', 'dist', 'apps', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write(`nowconnect: ${main} not found; run \`npm run build\` first\n`);
  process.exit(1);
}
require(main);
