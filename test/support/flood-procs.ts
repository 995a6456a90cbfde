/**
 * Helpers for the flood tests: child processes with a raised descriptor limit (a 10,000-connection
 * client and an echo target), and the descriptor-limit check for processes this test spawns.
 */
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { Proc } from './proc';

/** Soft and hard `ulimit -n` a child of this process starts with. */
export function fdLimits(): { soft: number; hard: number } {
  const r = spawnSync('sh', ['-c', 'echo $(ulimit -Sn) $(ulimit -Hn)'], { encoding: 'utf8' });
  const [soft, hard] = r.stdout.trim().split(/\s+/).map((v) => (v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v)));
  return { soft: soft ?? 0, hard: hard ?? 0 };
}

/**
 * Fails (never skips) when processes spawned from this test (hub, agent) cannot hold `need`
 * descriptors: they inherit this process's soft limit.
 */
export function requireFdLimit(need: number, who: string): void {
  const { soft, hard } = fdLimits();
  if (soft < need) {
    throw new Error(
      `${who} needs ulimit -n >= ${need} (soft limit here ${soft}, hard ${hard}); ` +
        `raise it before running the tests, e.g. \`ulimit -n ${Math.min(Math.max(need, 65536), hard)}\``,
    );
  }
}

/** `node -e <script> args...` with the soft descriptor limit raised to `fds` (fails if the hard limit is lower). */
export function nodeWithFds(name: string, fds: number, script: string, args: string[] = []): Proc {
  const sh = `ulimit -n ${fds} 2>/dev/null || { echo "${name}: cannot raise ulimit -n to ${fds} (hard limit $(ulimit -Hn))" >&2; exit 3; }; exec "$0" "$@"`;
  return new Proc('sh', ['-c', sh, process.execPath, '-e', script, ...args], { name });
}

/** Echo server on 127.0.0.1 (half-close aware); prints {"event":"echo_listening","port":N}. */
const ECHO_SCRIPT = `
const net = require('net');
const srv = net.createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.pipe(s); });
srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ event: 'echo_listening', port: srv.address().port })));
process.on('SIGTERM', () => process.exit(0));
`;

export async function startEchoProcess(fds: number): Promise<{ proc: Proc; port: number }> {
  const proc = nodeWithFds('flood-echo', fds, ECHO_SCRIPT);
  const ev = await proc.waitForEvent('echo_listening', undefined, 20_000);
  return { proc, port: ev.port as number };
}

/**
 * Opens `count` connections to host:port at once (one synchronous loop), from `local` address.
 * Each writes a 16-byte tag and expects exactly it back (served) or a close/reset before that
 * (refused). Prints one {"event":"flood_settled", ...} line when every connection is settled or
 * the deadline passed (still pending = hung), keeps the served connections open, and on SIGTERM
 * closes them all and exits 0.
 */
const FLOOD_SCRIPT = `
const net = require('net');
const [port, count, deadlineMs, local] = [Number(process.argv[1]), Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const res = { event: 'flood_settled', count, served: 0, refused: 0, connectFailed: 0, mismatched: 0, hung: 0, refusedNoBytes: 0, errors: {}, openMs: 0, settleMs: 0, refuseMsMax: 0 };
const held = [];
let settled = 0;
const t0 = Date.now();
function done(kind, s, extra) {
  if (s.ncDone) return;
  s.ncDone = true;
  res[kind]++;
  settled++;
  if (kind === 'refused') res.refuseMsMax = Math.max(res.refuseMsMax, Date.now() - (s.ncConnectedAt || s.ncStart));
  if (extra) res.errors[extra] = (res.errors[extra] || 0) + 1;
  if (settled === count) finish();
}
let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  res.settleMs = Date.now() - t0;
  res.hung = count - settled;
  console.log(JSON.stringify(res));
}
for (let i = 0; i < count; i++) {
  const tag = Buffer.from(('F' + i).padEnd(16, '.'));
  const s = net.connect({ port, host: '127.0.0.1', localAddress: local, allowHalfOpen: true });
  s.ncStart = Date.now();
  let got = Buffer.alloc(0);
  s.on('connect', () => s.write(tag));
  s.on('data', (d) => {
    got = Buffer.concat([got, d]);
    if (got.length >= 16) {
      if (got.subarray(0, 16).equals(tag) && got.length === 16) { held.push(s); done('served', s); }
      else done('mismatched', s);
    }
  });
  s.on('error', (e) => { if (!s.ncConnected) done('connectFailed', s, e.code); else s.ncErr = e.code; });
  s.on('connect', () => { s.ncConnected = true; s.ncConnectedAt = Date.now(); });
  // A refusal is a reset or an EOF before the echo (a client does not wait past the hub's FIN).
  s.on('end', () => { if (!s.ncDone) { if (got.length === 0) res.refusedNoBytes++; done('refused', s, 'EOF'); s.destroy(); } });
  s.on('close', () => { if (!s.ncDone) { if (got.length === 0) res.refusedNoBytes++; done(s.ncConnected ? 'refused' : 'connectFailed', s, s.ncErr); } });
}
res.openMs = Date.now() - t0;
setTimeout(finish, deadlineMs).unref();
process.on('SIGTERM', () => { for (const s of held) s.destroy(); process.exit(0); });
setInterval(() => {}, 1 << 30);
`;

export interface FloodResult {
  count: number;
  served: number;
  refused: number;
  connectFailed: number;
  mismatched: number;
  hung: number;
  refusedNoBytes: number;
  errors: Record<string, number>;
  /** Time the client took to issue every connect. */
  openMs: number;
  /** Time until every connection was settled. */
  settleMs: number;
  /** Longest time from connect to the refusal (reset or EOF) of a refused connection. */
  refuseMsMax: number;
}

export async function connectionFlood(
  port: number,
  count: number,
  opts: { deadlineMs: number; localAddress?: string },
): Promise<{ proc: Proc; result: FloodResult }> {
  const proc = nodeWithFds('flood-client', count + 1024, FLOOD_SCRIPT, [String(port), String(count), String(opts.deadlineMs), opts.localAddress ?? '127.0.0.1']);
  const ev = await proc.waitForEvent('flood_settled', undefined, opts.deadlineMs + 30_000);
  return { proc, result: ev as unknown as FloodResult };
}

/**
 * One /tunnel upgrade from a chosen local address (127.0.0.0/8 all reaches the hub on loopback):
 * resolves with the HTTP status (101 when upgraded; the socket is closed again at once), -1 on
 * a socket error or no answer within timeoutMs.
 */
export function upgradeFrom(url: string, opts: { token?: string; localAddress: string; timeoutMs?: number }): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      localAddress: opts.localAddress,
      handshakeTimeout: opts.timeoutMs ?? 30_000,
      headers: opts.token !== undefined ? { Authorization: `Bearer ${opts.token}` } : {},
    });
    let done = false;
    const finish = (status: number): void => {
      if (done) return;
      done = true;
      resolve(status);
    };
    ws.once('open', () => {
      ws.terminate();
      finish(101);
    });
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      finish(res.statusCode ?? 0);
    });
    ws.on('error', () => finish(-1));
  });
}

/**
 * Opens `rate` flows per second for `seconds` (10 every 10 ms, paced on the clock), each writing 32
 * random bytes and expecting exactly them back; prints one {"event":"rate_done", ...} line. Runs in
 * its own process so the test process (which drains and parses every hub/agent log line) is not the
 * bottleneck.
 */
const RATE_SCRIPT = `
const net = require('net');
const crypto = require('crypto');
const [port, rate, seconds, timeoutMs] = process.argv.slice(1).map(Number);
const total = rate * seconds;
const lat = [];
const res = { event: 'rate_done', flows: total, ok: 0, refused: 0, mismatched: 0, timedOut: 0, connectFailed: 0 };
let settled = 0;
const t0 = Date.now();
function settle(kind, ms) {
  res[kind]++;
  if (kind === 'ok') lat.push(ms);
  if (++settled === total) finish();
}
function finish() {
  lat.sort((a, b) => a - b);
  const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.ceil(p / 100 * lat.length) - 1)] : null;
  res.doneMs = Date.now() - t0;
  Object.assign(res, { p50_ms: pct(50), p99_ms: pct(99), max_ms: lat.length ? lat[lat.length - 1] : null });
  console.log(JSON.stringify(res));
  process.exit(0);
}
function one() {
  const start = Date.now();
  const msg = crypto.randomBytes(32);
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let got = Buffer.alloc(0), done = false, connected = false;
  const end = (kind) => { if (done) return; done = true; clearTimeout(t); s.destroy(); settle(kind, Date.now() - start); };
  const t = setTimeout(() => end('timedOut'), timeoutMs);
  s.on('connect', () => { connected = true; s.write(msg); });
  s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 32) end(got.length === 32 && got.equals(msg) ? 'ok' : 'mismatched'); });
  s.on('error', () => end(connected ? 'refused' : 'connectFailed'));
  s.on('end', () => end('refused'));
  s.on('close', () => end(connected ? 'refused' : 'connectFailed'));
}
let tick = 0;
const ticks = total / 10;
function pace() {
  while (tick < ticks && Date.now() >= t0 + tick * 10) { for (let k = 0; k < 10; k++) one(); tick++; }
  if (tick < ticks) setTimeout(pace, Math.max(0, t0 + tick * 10 - Date.now()));
  else res.offeredMs = Date.now() - t0;
}
pace();
`;

export interface RateResult {
  flows: number;
  ok: number;
  refused: number;
  mismatched: number;
  timedOut: number;
  connectFailed: number;
  offeredMs: number;
  doneMs: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

export async function flowRate(port: number, rate: number, seconds: number, timeoutMs = 30_000): Promise<RateResult> {
  const proc = nodeWithFds('rate-client', rate * 4 + 1024, RATE_SCRIPT, [String(port), String(rate), String(seconds), String(timeoutMs)]);
  const ev = await proc.waitForEvent('rate_done', undefined, seconds * 1000 + timeoutMs + 30_000);
  await proc.waitForExit(10_000);
  return ev as unknown as RateResult;
}
