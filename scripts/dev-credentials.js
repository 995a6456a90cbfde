#!/usr/bin/env node
// Development credentials for the example configs (config/cloud.yaml, config/premise.yaml), so that
// "run your own hub and agent" (README) works on a fresh clone:
//   config/dev-secret   HS256 secret the hub verifies agent tokens with (random, mode 0600; kept if present)
//   config/dev-token    a JWT for agent dev-agent-1: aud nowconnect, scope connector:addomain, 30 days
// Re-run it to issue a fresh token (the secret is kept, so tokens already issued stay valid).
// Options: --dir DIR (default: config/ of this checkout), --agent ID, --connector NAME (repeatable), --days N.
// Both files are git-ignored. Production tokens: see docs/quickstart-ldap.md.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const root = path.resolve(__dirname, '..');
let opts;
try {
  opts = parseArgs({
    strict: true,
    options: {
      dir: { type: 'string', default: path.join(root, 'config') },
      agent: { type: 'string', default: 'dev-agent-1' },
      connector: { type: 'string', multiple: true, default: ['addomain'] },
      days: { type: 'string', default: '30' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  process.stderr.write(`dev-credentials: ${err.message}\n`);
  process.exit(2);
}
if (opts.help) {
  process.stdout.write('Usage: node scripts/dev-credentials.js [--dir DIR] [--agent ID] [--connector NAME]... [--days N]\n');
  process.exit(0);
}
const days = Number(opts.days);
if (!Number.isInteger(days) || days <= 0) {
  process.stderr.write(`dev-credentials: --days: expected a positive integer, got ${JSON.stringify(opts.days)}\n`);
  process.exit(2);
}

/** A path as the user typed it would be: relative to the cwd when inside it. */
function show(file) {
  const rel = path.relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') ? rel : file;
}

async function main() {
  const jose = require(path.join(root, 'node_modules/jose'));
  fs.mkdirSync(opts.dir, { recursive: true });
  const secretFile = path.join(opts.dir, 'dev-secret');
  const tokenFile = path.join(opts.dir, 'dev-token');
  if (!fs.existsSync(secretFile)) {
    fs.writeFileSync(secretFile, `${crypto.randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    process.stdout.write(`wrote ${show(secretFile)} (new HS256 secret)\n`);
  }
  const secret = fs.readFileSync(secretFile, 'utf8').trim();
  const token = await new jose.SignJWT({ scope: opts.connector.map((c) => `connector:${c}`).join(' ') })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(opts.agent)
    .setAudience('nowconnect')
    .setIssuedAt()
    .setExpirationTime(`${days}d`)
    .sign(new TextEncoder().encode(secret));
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  process.stdout.write(
    `wrote ${show(tokenFile)} (agent ${opts.agent}, connectors ${opts.connector.join(',')}, expires in ${days} days)\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`dev-credentials: ${err.message}\n`);
  process.exit(1);
});
