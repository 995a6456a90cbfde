// WAN rows of the bench (`npm run bench -- --rtt 50`): the same workloads as the shared WAN tool
// (../shared/tools/wan/wan.sh) with a userspace delay relay (bench/delay-relay.js) instead of network
// namespaces, so it runs anywhere without root:
//   direct: client -> relay (RTT/2 each way) -> target
//   tunnel: client -> hub listener; agent -> relay (RTT/2 each way) -> hub; agent -> target
// Workloads: 1 flow download and upload (timed, per-second rates), 4 flows download, new connection +
// 32-byte echo (p50/p99). The relay has no rate limit: the figures show what windows and the
// processes allow at that round trip on this machine. The relay terminates TCP, so the handshake
// itself is not delayed: "direct" new connection + echo is 1 RTT here, 2 across a real link (the
// shared namespace tool, ../shared/tools/wan/wan.sh, delays packets and shows both honestly).
'use strict';
const net = require('node:net');
const crypto = require('node:crypto');

const CHUNK = crypto.randomBytes(256 * 1024);

/** Bytes a socket receives per 1-s interval for warmMs + measureMs; the socket is then destroyed. */
function timedDownload(port, warmMs, measureMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const h = Buffer.alloc(9);
    h[0] = 0x44;
    h.writeBigUInt64BE(BigInt(1e13), 1);
    let t0 = 0;
    let bytes = 0;
    const perSec = [];
    s.on('connect', () => {
      t0 = performance.now();
      s.write(h);
    });
    s.on('data', (d) => {
      const t = performance.now() - t0;
      if (t >= warmMs + measureMs) {
        s.destroy();
        resolve({ bytes, perSec });
        return;
      }
      if (t < warmMs) return;
      bytes += d.length;
      const i = Math.floor((t - warmMs) / 1000);
      perSec[i] = (perSec[i] ?? 0) + d.length;
    });
    s.on('error', reject);
  });
}

/**
 * Writes for warmMs + measureMs, counting what the kernel took each second after the warm-up (it
 * runs ahead of delivery by at most the socket buffers). The target counts the same bytes.
 */
function timedUpload(port, warmMs, measureMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let t0 = 0;
    let stop = false;
    const perSec = [];
    let base = 0;
    let last = 0;
    let bytes = 0;
    const tick = () => {
      const t = performance.now() - t0;
      const accepted = s.bytesWritten - s.writableLength;
      if (t < warmMs) {
        base = accepted;
        last = accepted;
        return;
      }
      const i = Math.min(Math.floor((t - warmMs) / 1000), Math.ceil(measureMs / 1000) - 1);
      perSec[i] = (perSec[i] ?? 0) + (accepted - last);
      last = accepted;
      bytes = accepted - base;
    };
    const pump = () => {
      while (!stop && s.write(CHUNK));
    };
    s.on('connect', () => {
      t0 = performance.now();
      s.write(Buffer.from('U'));
      const timer = setInterval(() => {
        tick();
        if (performance.now() - t0 >= warmMs + measureMs) {
          clearInterval(timer);
          stop = true;
          s.destroy();
          resolve({ bytes, perSec });
        }
      }, 50);
      pump();
    });
    s.on('drain', pump);
    s.on('error', (e) => (stop ? undefined : reject(e)));
  });
}

function connectEcho(port, payload) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let got = 0;
    const timer = setTimeout(() => s.destroy(new Error('timeout')), 10_000);
    s.on('connect', () => s.write(payload));
    s.on('data', (d) => {
      got += d.length;
      if (got >= payload.length - 1) {
        clearTimeout(timer);
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
        s.destroy();
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const mbps = (bytes, ms) => +((bytes / 1e6) / (ms / 1000)).toFixed(1);
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function workloads(port, quick, say) {
  const warm = quick ? 1000 : 2000;
  const measure = quick ? 4000 : 8000;
  const out = {};
  say('1 flow download');
  const d1 = await timedDownload(port, warm, measure);
  out.down1 = { mb_per_s: mbps(d1.bytes, measure), per_s: d1.perSec.map((b) => +(b / 1e6).toFixed(1)) };
  say('1 flow upload');
  const u1 = await timedUpload(port, warm, measure);
  out.up1 = { mb_per_s: mbps(u1.bytes, measure), per_s: u1.perSec.map((b) => +(b / 1e6).toFixed(1)) };
  say('4 flows download');
  const d4 = await Promise.all([0, 1, 2, 3].map(() => timedDownload(port, warm, measure)));
  out.down4 = { mb_per_s: mbps(d4.reduce((n, r) => n + r.bytes, 0), measure) };
  say('new connection + 32 B echo');
  const payload = Buffer.concat([Buffer.from('E'), crypto.randomBytes(32)]);
  for (let i = 0; i < 3; i++) await connectEcho(port, payload);
  const lat = [];
  for (let i = 0; i < (quick ? 20 : 50); i++) lat.push(await connectEcho(port, payload));
  lat.sort((a, b) => a - b);
  out.conn = { p50_ms: +pct(lat, 50).toFixed(1), p99_ms: +pct(lat, 99).toFixed(1) };
  return out;
}

const ROWS = [
  ['download, 1 flow', 'down1.mb_per_s', 'MB/s'],
  ['upload, 1 flow', 'up1.mb_per_s', 'MB/s'],
  ['download, 4 flows', 'down4.mb_per_s', 'MB/s'],
  ['new conn + 32 B echo, p50', 'conn.p50_ms', 'ms'],
  ['new conn + 32 B echo, p99', 'conn.p99_ms', 'ms'],
];

function render(rtt, results) {
  const get = (o, p) => p.split('.').reduce((x, k) => (x == null ? undefined : x[k]), o);
  const lines = [`| RTT ${rtt} ms (delay relay) | unit | direct | tunnel | tunnel/direct |`, '|---|---|---:|---:|---:|'];
  for (const [label, p, unit] of ROWS) {
    const d = get(results.direct, p);
    const t = get(results.tunnel, p);
    const ratio = d && t !== undefined ? `${(t / d).toFixed(2)}x` : '-';
    lines.push(`| ${label} | ${unit} | ${d ?? '-'} | ${t ?? '-'} | ${ratio} |`);
  }
  for (const v of ['direct', 'tunnel']) {
    for (const w of ['down1', 'up1']) {
      const per = get(results[v], `${w}.per_s`);
      if (per) lines.push(`- ${v} ${w === 'down1' ? 'download' : 'upload'} 1 flow, MB/s per 1-s interval: [${per.join(' ')}]`);
    }
  }
  return lines.join('\n');
}

/**
 * h: the bench's helpers { startNodeArgs(name, script in bench/, args) (resolves once it printed its
 * port), startHub(name), startAgent(name, hub, targetPort, viaPort), stopProc, targetPort, quick, only, progress }.
 */
async function runWan(rtt, h) {
  const oneWay = rtt / 2;
  const results = {};
  const variants = ['direct', 'tunnel'].filter((v) => h.only.length === 0 || h.only.includes(v));
  for (const v of variants) {
    const say = (msg) => h.progress(`WAN RTT ${rtt} ms, ${v}: ${msg}`);
    let procs = [];
    let port;
    if (v === 'direct') {
      const r = await h.startNodeArgs('relay-direct', 'delay-relay.js', [String(h.targetPort), String(oneWay)]);
      procs = [r];
      port = r.found.port;
    } else {
      const hub = await h.startHub('hub-wan');
      const r = await h.startNodeArgs('relay-tunnel', 'delay-relay.js', [String(hub.found.httpPort), String(oneWay)]);
      const agent = await h.startAgent('agent-wan', hub, h.targetPort, r.found.port);
      procs = [agent, r, hub];
      port = hub.found.listenerPort;
    }
    try {
      results[v] = await workloads(port, h.quick, say);
    } catch (err) {
      results[v] = { error: String(err && err.message) };
      process.stderr.write(`\nbench: WAN ${v} failed: ${err && err.message}\n`);
    } finally {
      for (const p of procs) await h.stopProc(p);
    }
  }
  return { results, table: render(rtt, results) };
}

module.exports = { runWan };
