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
  ['systemd-analyze', 'systemd'], // systemd-analyze verify of the agent unit in docs/quickstart-ldap.md
];
const ALL_PACKAGES = ['redis-server', 'redis-tools', 'slapd', 'ldap-utils', 'openssl', 'prometheus', 'docker-compose', 'systemd'];
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

// Not in Debian's archive (apt cannot install it): checked separately, and named with how to install it.
// The tests render deploy/k8s with `kubectl kustomize` (kubectl 1.32 bundles kustomize 5.5).
const KUBECTL_HELP =
  'kubectl (>= 1.27, bundles kustomize v5; tested with 1.32): not installable with apt-get from Debian. Install it from ' +
  'https://dl.k8s.io/release/v1.32.4/bin/linux/amd64/kubectl (or arm64) to /usr/bin/kubectl and chmod +x it, ' +
  "or add Kubernetes' apt repository (pkgs.k8s.io/core:/stable:/v1.32/deb) and apt-get install kubectl; " +
  'or point $KUBECTL at an existing kubectl binary';

function findKubectl() {
  const env = process.env.KUBECTL;
  if (env) {
    try {
      fs.accessSync(env, fs.constants.X_OK);
      return env;
    } catch {
      return null;
    }
  }
  return findBinary('kubectl');
}

function checkKubectl() {
  const where = findKubectl();
  if (!where) {
    process.stderr.write(`NowConnect tests need ${KUBECTL_HELP} [missing binary: kubectl]\n`);
    process.exit(1);
  }
  const r = spawnSync(where, ['version', '--client'], { encoding: 'utf8', timeout: 30_000 });
  const m = /Kustomize Version: v(\d+)\./.exec(r.stdout || '');
  if (r.status !== 0 || !m || Number(m[1]) < 5) {
    process.stderr.write(`NowConnect tests need ${KUBECTL_HELP} [${where} does not report Kustomize Version: v5+]\n`);
    process.exit(1);
  }
  return where;
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
  parts.push(`kubectl=${checkKubectl()}`);
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
