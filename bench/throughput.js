#!/usr/bin/env node
// Bulk throughput, one flow, direct vs through hub + agent, on loopback.
// Usage: node bench/throughput.js [--mib 1024]   (requires `npm run build`)
// Prints one line per variant and direction, then a JSON summary. Not a test.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const root = path.resolve(__dirname, '..');
const argMib = process.argv.indexOf('--mib');
const MIB = argMib > 0 ? Number(process.argv[argMib + 1]) : 1024;
const TOTAL = MIB * 1024 * 1024;
const CHUNK = crypto.randomBytes(256 * 1024);
const procs = [];

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

// Target: upload = read and count; download = write TOTAL bytes then end.
async function startTarget() {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.once('data', (first) => {
      const mode = first[0];
      if (mode === 0x55) {
        // 'U': upload, count until end, then reply with the count
        let n = first.length - 1;
        s.on('data', (d) => (n += d.length));
        s.on('end', () => s.end(String(n)));
      } else {
        // 'D': download
        let sent = 0;
        const pump = () => {
          while (sent < TOTAL) {
            const n = Math.min(CHUNK.length, TOTAL - sent);
            sent += n;
            if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return s.once('drain', pump);
          }
          s.end();
        };
        pump();
      }
    });
    s.on('error', () => undefined);
  });
  return { server, port: await listen(server) };
}

function upload(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const t0 = process.hrtime.bigint();
    let sent = 0;
    let reply = '';
    s.on('connect', () => {
      s.write(Buffer.from('U'));
      const pump = () => {
        while (sent < TOTAL) {
          const n = Math.min(CHUNK.length, TOTAL - sent);
          sent += n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    s.on('data', (d) => (reply += d));
    s.on('end', () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (Number(reply) !== TOTAL) reject(new Error(`upload: target got ${reply} of ${TOTAL}`));
      else resolve(secs);
    });
    s.on('error', reject);
  });
}

function download(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const t0 = process.hrtime.bigint();
    let got = 0;
    s.on('connect', () => s.write(Buffer.from('D')));
    s.on('data', (d) => (got += d.length));
    s.on('end', () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (got !== TOTAL) reject(new Error(`download: got ${got} of ${TOTAL}`));
      else resolve(secs);
    });
    s.on('error', reject);
  });
}

function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (CLK_TCK = 100 on Linux)
}

function start(name, script, env, until) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script], { cwd: os.tmpdir(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(p);
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 20000);
    readline.createInterface({ input: p.stdout }).on('line', (line) => {
      try {
        const e = JSON.parse(line);
        if (until(e)) {
          clearTimeout(timer);
          resolve({ proc: p, event: e });
        }
      } catch {
        /* ignore */
      }
    });
    p.on('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-bench-'));
  const secret = crypto.randomBytes(32).toString('hex');
  fs.writeFileSync(path.join(dir, 'secret'), secret);
  const target = await startTarget();
  const cfg = path.join(dir, 'cloud.yaml');
  fs.writeFileSync(
    cfg,
    `server: { bind: '127.0.0.1:0' }\nauth: { hs256_secret_file: ${path.join(dir, 'secret')} }\nlimits: { flow_window_bytes: ${Number(process.env.NC_BENCH_WINDOW || 262144)} }\nlisteners:\n  - { name: bench, bind: '127.0.0.1:0', connector: bench }\n`,
  );
  let listenerPort = 0;
  let httpPort = 0;
  const hub = await start('hub', path.join(root, 'dist/apps/cloud-hub/main.js'), { NC_CONFIG: cfg }, (e) => {
    if (e.event === 'hub_started') httpPort = Number(String(e.bind).split(':').pop());
    if (e.event === 'listener_started') listenerPort = Number(String(e.bind).split(':').pop());
    return listenerPort > 0 && httpPort > 0;
  });
  const jose = require(path.join(root, 'node_modules/jose'));
  const token = await new jose.SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('bench-agent')
    .setAudience('nowconnect')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
  const agent = await start(
    'agent',
    path.join(root, 'dist/apps/premise-agent/main.js'),
    {
      NC_CLOUD_URL: `ws://127.0.0.1:${httpPort}/tunnel`,
      NC_AGENT_ID: 'bench-agent',
      NC_TOKEN: token,
      NC_CONNECTORS: `bench=127.0.0.1:${target.port}`,
    },
    (e) => e.event === 'tunnel_established',
  );
  const results = [];
  for (const [variant, port] of [
    ['direct', target.port],
    ['tunnel', listenerPort],
  ]) {
    for (const [dirName, fn] of [
      ['upload', upload],
      ['download', download],
    ]) {
      const cpu0 = cpuSeconds(hub.proc.pid) + cpuSeconds(agent.proc.pid);
      const secs = await fn(port);
      const cpu = cpuSeconds(hub.proc.pid) + cpuSeconds(agent.proc.pid) - cpu0;
      const r = { variant, direction: dirName, mib: MIB, seconds: +secs.toFixed(3), mb_per_s: +(TOTAL / 1e6 / secs).toFixed(1) };
      if (variant !== 'direct') r.cpu_s_per_gb = +((cpu / TOTAL) * 1e9).toFixed(2);
      results.push(r);
      process.stdout.write(`${variant.padEnd(7)} ${dirName.padEnd(9)} ${String(MIB).padStart(5)} MiB  ${r.seconds.toFixed(2).padStart(7)} s  ${r.mb_per_s.toFixed(1).padStart(8)} MB/s${r.cpu_s_per_gb !== undefined ? `  ${r.cpu_s_per_gb} CPU s/GB (hub+agent)` : ''}\n`);
    }
  }
  for (const d of ['upload', 'download']) {
    const a = results.find((r) => r.variant === 'direct' && r.direction === d);
    const b = results.find((r) => r.variant === 'tunnel' && r.direction === d);
    process.stdout.write(`ratio tunnel/direct ${d}: ${(b.mb_per_s / a.mb_per_s).toFixed(3)}\n`);
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`);
}

main()
  .catch((err) => {
    process.stderr.write(`bench failed: ${err.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    setTimeout(() => process.exit(), 500).unref();
  });
