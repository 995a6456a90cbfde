#!/usr/bin/env node
'use strict';
// Checks that the system binaries the NowConnect test-suite needs are present.
// Installs them (Debian/Ubuntu, as root, with apt-get) or fails loudly naming what to install.
// Never skips silently. Plain Node, no dependencies.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

// binary -> Debian package that provides it
const REQUIRED = [
  ['redis-server', 'redis-server'],
  ['redis-cli', 'redis-tools'], // redis-cli --cluster create (registry Cluster tests)
  ['slapd', 'slapd'],
  ['slapadd', 'slapd'],
  ['ldapsearch', 'ldap-utils'],
  ['openssl', 'openssl'],
  ['promtool', 'prometheus'], // promtool check/test rules (deploy/prometheus)
  ['docker-compose', 'docker-compose'], // docker-compose config (no engine needed)
];
const ALL_PACKAGES = ['redis-server', 'redis-tools', 'slapd', 'ldap-utils', 'openssl', 'prometheus', 'docker-compose'];
const EXTRA_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/usr/local/sbin', '/usr/local/bin'];

function searchDirs() {
  const fromPath = (process.env.PATH || '').split(path.delimiter).filter(Boolean);
  return [...new Set([...fromPath, ...EXTRA_DIRS])];
}

function findBinary(name) {
  for (const dir of searchDirs()) {
    const full = path.join(dir, name);
    try {
      fs.accessSync(full, fs.constants.X_OK);
      if (fs.statSync(full).isFile()) return full;
    } catch {
      /* not here */
    }
  }
  return null;
}

function check() {
  const found = {};
  const missing = [];
  for (const [bin, pkg] of REQUIRED) {
    const where = findBinary(bin);
    if (where) found[bin] = where;
    else missing.push({ bin, pkg });
  }
  return { found, missing };
}

function missingPackages(missing) {
  return [...new Set(missing.map((m) => m.pkg))];
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function isDebianLike() {
  if (fs.existsSync('/etc/debian_version')) return true;
  try {
    const osr = fs.readFileSync('/etc/os-release', 'utf8');
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(osr);
  } catch {
    return false;
  }
}

function run(cmd, args) {
  process.stdout.write(`ensure-system-deps: running ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) throw r.error;
  return r.status === 0;
}

function failLoudly(missing) {
  const pkgs = missingPackages(missing);
  const bins = missing.map((m) => m.bin).join(', ');
  process.stderr.write(
    `NowConnect tests need: ${pkgs.join(' ')} (Debian: apt-get install -y ${pkgs.join(' ')}) ` +
      `[missing binaries: ${bins}]\n`,
  );
  process.exit(1);
}

function summary(found) {
  const parts = REQUIRED.map(([bin]) => `${bin}=${found[bin] || 'MISSING'}`);
  process.stdout.write(`ensure-system-deps: ok: ${parts.join(' ')}\n`);
}

function main() {
  let { found, missing } = check();
  if (missing.length === 0) {
    summary(found);
    return;
  }
  const apt = findBinary('apt-get');
  if (!(isRoot() && apt && isDebianLike())) failLoudly(missing);

  process.stdout.write(
    `ensure-system-deps: missing ${missing.map((m) => m.bin).join(', ')}; installing with apt-get\n`,
  );
  // Note: the Debian redis-server package may auto-start a service on 6379; tests never use it.
  const okUpdate = run(apt, ['update']);
  if (!okUpdate) process.stderr.write('ensure-system-deps: apt-get update failed; trying install anyway\n');
  const okInstall = run(apt, ['install', '-y', '--no-install-recommends', ...ALL_PACKAGES]);
  ({ found, missing } = check());
  if (!okInstall || missing.length > 0) {
    if (missing.length > 0) failLoudly(missing);
    process.stderr.write('ensure-system-deps: apt-get install reported failure\n');
    process.exit(1);
  }
  summary(found);
}

main();
