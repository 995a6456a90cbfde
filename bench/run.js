#!/usr/bin/env node
// NowConnect benchmark (issue 7): the tunnel against the direct path, in one run, on 127.0.0.1.
//
//   npm run build && npm run bench            full run (several minutes)
//   npm run bench -- --quick                  ~1 minute, smaller counts
//   npm run bench -- --help                   every flag
//   options: --only direct,tunnel,mesh   --workloads bulk,rr,rate,idle,agents,share,failover   --cpu-prof (hub/agent
//            profiles under bench/profiles/)   --out FILE (default bench/results/latest.json)
//            --flows N (idle flows, default 10000)   --agents N (default 1000)
//            --dist DIR (another build's dist/, to compare)   --window BYTES (limits.flow_window_bytes for the hub;
//            default: not set, the hub's default config)   --rtt MS (WAN rows instead: direct and tunnel across a
//            delay relay with that round trip, see bench/wan.js)
//
// Variants are a list (VARIANTS below): each one starts its own processes and returns the port a
// client dials plus the relay processes whose CPU and RSS are measured: `direct` (client -> target),
// `tunnel` (client -> hub -> agent -> target) and `mesh` (client -> hub C -> mesh -> hub A or B -> agent
// -> target; three HA active hubs on a redis-server the bench spawns on a free port, the agent with
// links: 2 given only A's and B's URLs, so every flow crosses the mesh — checked from C's /metrics).
// The `share` workload (mesh variant) runs flows over both listeners of two replicas whose agent holds
// links: 2 and reports the share that crossed the mesh (M_OPEN frames sent / flows; target 0 %). The HA
// `failover` workload kills holder A with SIGKILL and counts the new flows through C that fail and the
// time to the first that succeeds; then the same with links: 1 (two hubs, the owner killed, the client
// on the surviving hub), the single-owner behaviour of before. The bench starts, and kills, only its
// own processes (target, redis, hubs, agents).
// Not a test: it prints figures, a table, and writes JSON.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);

const USAGE = `Usage: npm run bench -- [options]      (or: node bench/run.js [options]; run npm run build first)

The tunnel against the direct path on 127.0.0.1 (docs/benchmarks.md). Not a test: prints a progress line
per step on stderr; on stdout one header line, then the results table. Writes JSON (--out).

Options:
  --quick                 ~1 minute: smaller counts and shorter loops
  --only LIST             variants, comma-separated: direct,tunnel,mesh (default: all)
  --workloads LIST        bulk,rr,rate,idle,agents,share,failover (default: all)
  --flows N               idle flows (default 10000)
  --agents N              idle agents on one hub (default 1000)
  --window BYTES          limits.flow_window_bytes of the bench's hubs (default: the hub's default, auto-tuned)
  --bulk-mb N             bytes per bulk transfer in MB (10^6; default 1074 = 1 GiB, quick 268): each
                          transfer is a fresh flow, timed from connect, so a small N shows window growth;
                          below 1 GiB it repeats (fresh flows each round) to ~1 GiB, at most 20 rounds
  --rtt MS                WAN rows instead (direct and the tunnel across a delay relay of MS round trip)
  --dist DIR              the built apps to measure (default: this checkout's dist/; compare another build)
  --out FILE              the JSON results (default bench/results/latest.json)
  --cpu-prof              hub/agent .cpuprofile files under bench/profiles/ (see bench/profile-summary.js)
  -h, --help              this text

Environment: NC_BENCH_KEEP=1 keeps the temporary directory; NC_BENCH_NODE_ARGS adds node flags to hubs/agents.
Ctrl-C (SIGINT), SIGTERM, SIGHUP, or the reader of stdout going away (e.g. | head) stops the run: the bench
kills the processes it started and removes its temporary directory.
`;

let args;
try {
  args = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      'cpu-prof': { type: 'boolean' },
      only: { type: 'string' },
      'bulk-mb': { type: 'string' },
      workloads: { type: 'string' },
      out: { type: 'string' },
      flows: { type: 'string' },
      agents: { type: 'string' },
      dist: { type: 'string' },
      window: { type: 'string' },
      rtt: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (err) {
  process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
function positiveInt(name, dflt) {
  if (args[name] === undefined) return dflt;
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`bench: --${name}: expected a positive integer, got ${JSON.stringify(args[name])}\n`);
    process.exit(2);
  }
  return n;
}
const QUICK = args.quick === true;
const CPU_PROF = args['cpu-prof'] === true;
const ONLY = (args.only ?? '').split(',').filter(Boolean);
const WORKLOADS = (args.workloads ?? '').split(',').filter(Boolean);
const OUT = path.resolve(args.out ?? path.join(__dirname, 'results', 'latest.json'));
const IDLE_FLOWS = positiveInt('flows', 10_000);
const AGENTS = positiveInt('agents', 1000);
/** limits.flow_window_bytes in the bench's hub config (undefined: the hub's default, as users run it). */
const WINDOW = positiveInt('window', undefined);
/** --rtt MS: the WAN rows (bench/wan.js) instead of the loopback workloads. */
const RTT = positiveInt('rtt', undefined);
const MiB = 1024 * 1024;
/** Where the built apps are (default: this checkout's dist/); another build can be compared with --dist. */
const DIST = path.resolve(args.dist ?? path.join(root, 'dist'));

/** Sizes and bounds of every loop: each is capped by count and by time. */
const P = QUICK
  ? { bulkBytes: 256 * MiB, bulkReps: 1, bulkWarm: 32 * MiB, rrCount: 5000, rrWarm: 500, rr16Ms: 2000, rateCount: 1500, rateWarm: 100, rateMs: 8000, idleHoldMs: 2000 }
  : { bulkBytes: 1024 * MiB, bulkReps: 1, bulkWarm: 64 * MiB, rrCount: 20000, rrWarm: 2000, rr16Ms: 5000, rateCount: 5000, rateWarm: 300, rateMs: 20000, idleHoldMs: 5000 };
if (args['bulk-mb'] !== undefined) {
  const mb = Number(args['bulk-mb']);
  if (!Number.isInteger(mb) || mb < 1 || mb > 100_000) {
    process.stderr.write('bench: --bulk-mb: expected an integer from 1 to 100000\n');
    process.exit(2);
  }
  P.bulkBytes = mb * 1e6;
  // Small transfers repeat (fresh flows each round) up to ~1 GiB in all, at most 20 rounds.
  P.bulkReps = Math.min(20, Math.ceil((1024 * MiB) / P.bulkBytes));
}
const LOOP_CAP_MS = 60_000; // no single measured loop runs longer than this

const CHUNK = crypto.randomBytes(256 * 1024);
const children = new Set();
let tmpDir = '';
let profDir = '';

// ---------------------------------------------------------------------------------------------
// ulimit: 10,000 idle flows need ~10,000 descriptors in the client (this process), the hub, the
// agent and the target each. Raise the soft limit to the hard limit by re-executing through sh.

function ensureFdLimit(need) {
  if (process.env.NC_BENCH_REEXEC === '1') return true;
  const r = spawnSync('sh', ['-c', 'echo $(ulimit -Sn) $(ulimit -Hn)'], { encoding: 'utf8' });
  const [soft, hard] = r.stdout.trim().split(/\s+/).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  if (soft >= need) return true;
  if (hard < need) {
    process.stderr.write(`bench: ulimit -n hard limit ${hard} < ${need}; idle flows reduced (raise it with ulimit -Hn as root)\n`);
    return true;
  }
  const target = hard === Infinity ? 1048576 : hard;
  // The re-executed bench does the work (and the cleanup); this process forwards signals to it and exits
  // with its status, so `kill <this pid>` stops the run too.
  const child = spawn('sh', ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, __filename, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, NC_BENCH_REEXEC: '1' },
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.removeAllListeners(sig); // not bail(): this process starts nothing; the child cleans up and exits
    process.on(sig, () => child.kill(sig));
  }
  process.stdout.removeAllListeners('error');
  process.stdout.on('error', () => undefined); // the child reports a closed stdout itself
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
  return false;
}

function fdLimit() {
  const r = spawnSync('sh', ['-c', 'ulimit -Sn'], { encoding: 'utf8' });
  const v = r.stdout.trim();
  return v === 'unlimited' ? Infinity : Number(v);
}

// ---------------------------------------------------------------------------------------------
// progress line, processes

const isTty = process.stderr.isTTY;
function progress(msg) {
  if (isTty) process.stderr.write(`\r\x1b[K[bench] ${msg}`);
  else process.stderr.write(`[bench] ${msg}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `node script`, stdout+stderr to a log file; resolves once a JSON log line satisfies
 * `ready` (the file is polled: start-up only, never during measurements).
 */
async function startNode(name, script, env, ready, extraArgs = [], scriptArgs = []) {
  if (bailing) throw new Error('the bench is stopping'); // nothing new once the cleanup has begun
  const log = path.join(tmpDir, `${name}.log`);
  const fd = fs.openSync(log, 'w');
  const args = [...extraArgs];
  if (name !== 'target' && process.env.NC_BENCH_NODE_ARGS) args.push(...process.env.NC_BENCH_NODE_ARGS.split(' ').filter(Boolean));
  if (CPU_PROF && name !== 'target') args.push('--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.${Date.now()}.cpuprofile`);
  const proc = spawn(process.execPath, [...args, script, ...scriptArgs], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  note(`started ${name} (pid ${proc.pid})`);
  const deadline = Date.now() + 20_000;
  let seen = 0;
  const found = {};
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${fs.readFileSync(log, 'utf8').slice(-2000)}`);
    const text = fs.readFileSync(log, 'utf8');
    const lines = text.slice(seen).split('\n');
    const complete = lines.slice(0, -1);
    seen += complete.reduce((n, l) => n + l.length + 1, 0);
    for (const line of complete) {
      try {
        const e = JSON.parse(line);
        if (ready(e, found)) return { name, proc, pid: proc.pid, log, found };
      } catch {
        /* not JSON */
      }
    }
    if (Date.now() > deadline) throw new Error(`${name} did not start: ${text.slice(-2000)}`);
    await sleep(50);
  }
}

async function stopProc(p) {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const exited = new Promise((r) => p.proc.once('exit', r));
  p.proc.kill('SIGTERM');
  const t = setTimeout(() => p.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

function cpuTimes(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 }; // clock ticks, CLK_TCK = 100 on Linux
}
function cpuOf(procs) {
  let user = 0;
  let sys = 0;
  for (const p of procs) {
    const t = cpuTimes(p.pid);
    user += t.user;
    sys += t.sys;
  }
  return { user, sys };
}
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// ---------------------------------------------------------------------------------------------
// hub / agent set-up

let secret = '';
let jose;
async function token(sub) {
  return new jose.SignJWT({ scope: 'connector:*' }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setAudience('nowconnect').setExpirationTime('2h').sign(new TextEncoder().encode(secret));
}

function hubConfig(name, withListener, ha) {
  const cfg = path.join(tmpDir, `${name}.yaml`);
  const haLines = ha
    ? [
        `ha: { enabled: true, mode: active, replica_id: ${ha.replicaId}, redis_url: '${ha.redisUrl}', lease_sec: 3,`,
        `      mesh: { require_mtls: false, connect_backoff_max_sec: 1 } }`,
      ]
    : [];
  // Limits the workloads need: 10,000+ flows on one agent, fast opens, 1 MiB frames, the window under test.
  fs.writeFileSync(
    cfg,
    [
      `server: { bind: '127.0.0.1:0', drain_timeout_sec: 0 }`,
      `auth: { hs256_secret_file: ${path.join(tmpDir, 'secret')} }`,
      // keepalive 1 s on the HA hubs: a mesh PING (an RTT sample) every second on each link.
      `limits: { ${WINDOW === undefined ? '' : `flow_window_bytes: ${WINDOW}, `}max_frame_bytes: 1048576, max_flows_per_agent: 100000, max_pending_opens_per_agent: 2048, keepalive_sec: ${ha ? 1 : 15} }`,
      `logging: { mask_ips: true }`,
      ...haLines,
      withListener ? `listeners:\n  - { name: bench, bind: '127.0.0.1:0', connector: bench }` : 'listeners: []',
      '',
    ].join('\n'),
  );
  return cfg;
}

async function startHub(name, withListener = true, ha = undefined) {
  const cfg = hubConfig(name, withListener, ha);
  const hub = await startNode(name, path.join(DIST, 'apps/cloud-hub/main.js'), { NC_CONFIG: cfg }, (e, f) => {
    if (e.event === 'hub_started') f.httpPort = Number(String(e.bind).split(':').pop());
    if (e.event === 'listener_started') f.listenerPort = Number(String(e.bind).split(':').pop());
    return f.httpPort > 0 && (!withListener || f.listenerPort > 0);
  });
  return hub;
}

async function startAgent(name, hub, targetPort, alsoHubs = [], viaPort = undefined, env = {}) {
  return startNode(
    name,
    path.join(DIST, 'apps/premise-agent/main.js'),
    {
      NC_CONFIG: path.join(tmpDir, 'none.yaml'),
      NC_CLOUD_URL:
        viaPort !== undefined
          ? `ws://127.0.0.1:${viaPort}/tunnel`
          : [hub, ...alsoHubs].map((h) => `ws://127.0.0.1:${h.found.httpPort}/tunnel`).join(','),
      NC_AGENT_ID: 'bench-agent',
      NC_TOKEN: await token('bench-agent'),
      NC_CONNECTORS: `bench=127.0.0.1:${targetPort}`,
      ...env,
    },
    (e) => e.event === 'tunnel_established',
  );
}

/** Resolves once a JSON line of p's log (from byte `from` on) satisfies pred; polls the file (start-up only). */
async function waitLog(p, pred, timeoutMs = 20_000, from = 0) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.readFileSync(p.log, 'utf8').slice(from);
    for (const line of text.split('\n')) {
      try {
        const e = JSON.parse(line);
        if (pred(e)) return e;
      } catch {
        /* not JSON */
      }
    }
    if (p.proc.exitCode !== null) throw new Error(`${p.name} exited ${p.proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${p.name}: timed out waiting in ${p.log}`);
    await sleep(50);
  }
}
const logSize = (p) => fs.statSync(p.log).size;

function httpGet(port, pathName) {
  return new Promise((resolve, reject) => {
    require('node:http')
      .get({ host: '127.0.0.1', port, path: pathName, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** A redis-server of the bench's own, on a free port, nothing on disk. */
async function startRedis() {
  if (bailing) throw new Error('the bench is stopping');
  const port = await new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address();
      srv.close(() => resolve(p));
    });
  });
  const log = path.join(tmpDir, 'redis.log');
  if (bailing) throw new Error('the bench is stopping');
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpDir, '--logfile', log], { stdio: 'ignore' });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  proc.on('error', (err) => process.stderr.write(`bench: redis-server: ${err.message} (the mesh and failover workloads need it: apt-get install -y redis-server)\n`));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.end('PING\r\n');
        c.once('data', (d) => resolve(String(d).startsWith('+PONG')));
      });
      c.on('error', () => resolve(false));
    });
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(50);
  }
  return { name: 'redis', proc, pid: proc.pid, url: `redis://127.0.0.1:${port}` };
}

let redisDb = 0;
/**
 * `n` HA active hubs on the bench's redis (a fresh db each time), linked by the mesh (each hub has a
 * link up to every other), and the agent with `links` tunnels given the URLs of the hubs at indexes
 * `agentOn` (NC_LINKS); resolves once the agent holds one link per URL (agent_link_up).
 */
async function startReplicas(ctx, tag, n, agentOn, links = 2) {
  const redisUrl = `${ctx.redis().url}/${++redisDb % 16}`;
  const hubs = [];
  for (let i = 0; i < n; i++) hubs.push(await startHub(`hub-${tag}-${'abc'[i]}`, true, { replicaId: `bench-${'abc'[i]}`, redisUrl }));
  await Promise.all(hubs.map((h) => waitLogCount(h, (e) => e.event === 'mesh_link_up', n - 1, (e) => e.peer)));
  const [first, ...also] = agentOn.map((i) => hubs[i]);
  const agent = await startAgent(`agent-${tag}`, first, ctx.target.port, also, undefined, { NC_LINKS: String(links) });
  await waitLogCount(agent, (e) => e.event === 'agent_link_up', Math.min(links, agentOn.length), (e) => e.replica_id);
  return { hubs, agent };
}

/** Resolves once JSON lines of p's log satisfying pred carry `n` distinct key(e) values (start-up only). */
async function waitLogCount(p, pred, n, key, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Set();
    for (const line of fs.readFileSync(p.log, 'utf8').split('\n')) {
      try {
        const e = JSON.parse(line);
        if (pred(e)) seen.add(key(e));
      } catch {
        /* not JSON */
      }
    }
    if (seen.size >= n) return [...seen];
    if (p.proc.exitCode !== null) throw new Error(`${p.name} exited ${p.proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`${p.name}: timed out waiting for ${n} in ${p.log} (saw ${[...seen].join(',')})`);
    await sleep(50);
  }
}

/** A hub's flow counters from /metrics: flows opened by path, mesh M_OPEN frames sent and received. */
async function flowCounters(hub) {
  const text = await httpGet(hub.found.httpPort, '/metrics');
  const num = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : 0;
  };
  return {
    local: num(/^nowconnect_flows_total\{path="local"\} (\S+)$/m),
    cross: num(/^nowconnect_flows_total\{path="cross_replica"\} (\S+)$/m),
    m_open_out: num(/^nowconnect_mesh_frames_total\{dir="out",type="M_OPEN"\} (\S+)$/m),
    m_open_in: num(/^nowconnect_mesh_frames_total\{dir="in",type="M_OPEN"\} (\S+)$/m),
  };
}
const sumCounters = (list) => list.reduce((a, c) => ({ local: a.local + c.local, cross: a.cross + c.cross, m_open_out: a.m_open_out + c.m_open_out, m_open_in: a.m_open_in + c.m_open_in }), { local: 0, cross: 0, m_open_out: 0, m_open_in: 0 });

/**
 * The mesh variant's own check, over all its workloads: flows opened at the client's hub (C) locally
 * and over the mesh, and M_OPEN frames C sent (each flow one) — every flow must have crossed.
 */
const meshPath = { flows_local: 0, flows_cross_replica: 0, m_open_sent: 0 };

/** Sum of nowconnect_mesh_rtt_seconds buckets over the runs (for the p95 line). */
const meshRtt = new Map();
async function collectMeshRtt(hubs) {
  for (const h of hubs) {
    const text = await httpGet(h.found.httpPort, '/metrics').catch(() => '');
    for (const m of text.matchAll(/^nowconnect_mesh_rtt_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)$/gm)) {
      meshRtt.set(m[1], (meshRtt.get(m[1]) ?? 0) + Number(m[2]));
    }
  }
}
function meshRttP95() {
  const buckets = [...meshRtt.entries()].map(([le, n]) => ({ le: le === '+Inf' ? Infinity : Number(le), n })).sort((x, y) => x.le - y.le);
  const count = buckets.at(-1)?.n ?? 0;
  if (count === 0) return undefined;
  const hit = buckets.find((x) => x.n >= 0.95 * count);
  const p50 = buckets.find((x) => x.n >= 0.5 * count);
  return { samples: count, p50_le_ms: p50.le * 1000, p95_le_ms: hit.le * 1000 };
}

/**
 * The variants, in table order. setup() starts what the variant needs and returns
 * { port (where a client dials), relays (processes measured for CPU/RSS), hub (for agent
 * workloads), close() }.
 */
const VARIANTS = [
  {
    name: 'direct',
    relayed: false,
    async setup(ctx) {
      return { port: ctx.target.port, relays: [], close: async () => undefined };
    },
  },
  {
    name: 'tunnel',
    relayed: true,
    async setup(ctx, tag) {
      const hub = await startHub(`hub-${tag}`);
      const agent = await startAgent(`agent-${tag}`, hub, ctx.target.port);
      return {
        port: hub.found.listenerPort,
        relays: [hub, agent],
        hub,
        close: async () => {
          await stopProc(agent);
          await stopProc(hub);
        },
      };
    },
    /** A bare hub (no agent) for the agents workload. */
    async hubOnly(tag) {
      const hub = await startHub(`hub-${tag}`, false);
      return { hub, relays: [hub], close: () => stopProc(hub) };
    },
  },
  {
    name: 'mesh',
    relayed: true,
    ha: true,
    /**
     * Three replicas A, B, C; the agent holds links (links: 2) to A and B only — it is given their two
     * URLs — and the client dials C's listener: every flow crosses the mesh (C -> A or B -> agent).
     * close() reads C's counters to check that it did (meshPath, the "flows that crossed" row).
     */
    async setup(ctx, tag) {
      const { hubs, agent } = await startReplicas(ctx, tag, 3, [0, 1]);
      const [a, b, c] = hubs;
      return {
        port: c.found.listenerPort,
        relays: [c, a, b, agent],
        close: async () => {
          await collectMeshRtt(hubs);
          const k = await flowCounters(c).catch(() => undefined);
          if (k) {
            meshPath.flows_local += k.local;
            meshPath.flows_cross_replica += k.cross;
            meshPath.m_open_sent += k.m_open_out;
          }
          await stopProc(agent);
          for (const h of [c, b, a]) await stopProc(h);
        },
      };
    },
    /**
     * Failover (links: 2): the mesh variant's three replicas (agent on A and B, client on C); the
     * workload kills A. legacy() starts the single-owner layout of before (links: 1, two replicas,
     * the agent on A, the client on B) for the comparison row.
     */
    async failoverSetup(tag, ctx) {
      const { hubs, agent } = await startReplicas(ctx, tag, 3, [0, 1]);
      const [a, b, c] = hubs;
      return {
        ctx,
        a,
        agent,
        port: c.found.listenerPort,
        relays: [c, a, b, agent],
        close: async () => Promise.all([agent, ...hubs].map(stopProc)),
        async legacy() {
          const r = await startReplicas(ctx, `${tag}-links1`, 2, [0, 1], 1);
          return { a: r.hubs[0], agent: r.agent, port: r.hubs[1].found.listenerPort, close: async () => Promise.all([r.agent, ...r.hubs].map(stopProc)) };
        },
      };
    },
    /** Two replicas, the agent with links: 2 on both (share workload: flows spread over both listeners). */
    async shareSetup(tag, ctx) {
      const { hubs, agent } = await startReplicas(ctx, tag, 2, [0, 1]);
      return { hubs, agent, relays: [...hubs, agent], close: async () => Promise.all([agent, ...hubs].map(stopProc)) };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// client primitives

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function upload(port, total) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let sent = 0;
    let reply = '';
    s.on('connect', () => {
      s.write(Buffer.from('U'));
      const pump = () => {
        while (sent < total) {
          const n = Math.min(CHUNK.length, total - sent);
          sent += n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    s.on('data', (d) => (reply += d));
    s.on('end', () => (Number(reply) === total ? resolve() : reject(new Error(`upload: target got ${reply} of ${total}`))));
    s.on('error', reject);
  });
}

function download(port, total) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = 0;
    s.on('connect', () => {
      const h = Buffer.alloc(9);
      h[0] = 0x44;
      h.writeBigUInt64BE(BigInt(total), 1);
      s.write(h);
    });
    s.on('data', (d) => (got += d.length));
    s.on('end', () => (got === total ? resolve() : reject(new Error(`download: got ${got} of ${total}`))));
    s.on('error', reject);
  });
}

/** Echo round trips on one connection until `count` or `deadline`; latencies (µs) into `out`. */
function pingPong(sock, size, count, deadline, out) {
  return new Promise((resolve, reject) => {
    const msg = crypto.randomBytes(size);
    let done = 0;
    let got = 0;
    let t0 = 0n;
    const next = () => {
      if (done >= count || Date.now() > deadline) {
        sock.off('data', onData);
        resolve(done);
        return;
      }
      got = 0;
      t0 = process.hrtime.bigint();
      sock.write(msg);
    };
    const onData = (d) => {
      got += d.length;
      if (got < size) return;
      if (got > size) return reject(new Error('echo: more bytes than sent'));
      out.push(Number(process.hrtime.bigint() - t0) / 1000);
      done++;
      next();
    };
    sock.on('data', onData);
    sock.once('error', reject);
    next();
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function latencyStats(lat) {
  const s = Float64Array.from(lat).sort();
  return { p50_us: +percentile(s, 50).toFixed(1), p99_us: +percentile(s, 99).toFixed(1), max_us: +(s[s.length - 1] ?? NaN).toFixed(1) };
}

/** open -> write 32 bytes -> read the 32-byte echo -> close (FIN both ways, 'close'). */
function oneConnection(port, payload) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let got = 0;
    let ok = false;
    const timer = setTimeout(() => s.destroy(new Error('timeout')), 10_000);
    s.on('connect', () => s.write(payload));
    s.on('data', (d) => {
      got += d.length;
      if (got === payload.length - 1) {
        ok = true;
        s.end();
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (ok) resolve();
      else reject(new Error(`closed after ${got} bytes`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// workloads: each returns { rows: [{metric, value}], ... } per variant

/**
 * `reps` rounds of `flows` fresh flows moving `total` bytes together. Throughput is over the timed
 * transfers (each from connect to the last byte); CPU spans all rounds, the gaps between them
 * included, so a small transfer's per-flow costs count and /proc's 10-ms tick is averaged out.
 */
async function measureBulk(v, dir, flows, total, reps = 1) {
  const fn = dir === 'upload' ? upload : download;
  const per = Math.floor(total / flows);
  const cpu0 = cpuOf(v.relays);
  const self0 = process.cpuUsage();
  let secs = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: flows }, () => fn(v.port, per)));
    secs += Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const cpu1 = cpuOf(v.relays);
  const bytes = per * flows * reps;
  const gb = bytes / 1e9;
  const r = { mb_per_s: +(bytes / 1e6 / secs).toFixed(1), seconds: +secs.toFixed(3), bytes, transfers: reps };
  if (v.relays.length > 0) {
    r.cpu_s_per_gb = +((cpu1.user - cpu0.user + cpu1.sys - cpu0.sys) / gb).toFixed(2);
    r.cpu_user_s_per_gb = +((cpu1.user - cpu0.user) / gb).toFixed(2);
    r.cpu_sys_s_per_gb = +((cpu1.sys - cpu0.sys) / gb).toFixed(2);
  }
  const self = process.cpuUsage(self0);
  r.client_cpu_s_per_gb = +((self.user + self.system) / 1e6 / gb).toFixed(2);
  return r;
}

const WORKLOAD_LIST = [
  {
    key: 'bulk',
    title: 'bulk throughput',
    async run(v, say) {
      const out = {};
      for (const flows of [1, 4]) {
        for (const dir of ['upload', 'download']) {
          say(`bulk ${flows} flow(s) ${dir}: warm-up`);
          await measureBulk(v, dir, flows, P.bulkWarm);
          say(`bulk ${flows} flow(s) ${dir}: ${P.bulkBytes % MiB === 0 ? `${P.bulkBytes / MiB} MiB` : `${P.bulkBytes / 1e6} MB`}${P.bulkReps > 1 ? ` x ${P.bulkReps} rounds` : ''}`);
          out[`${flows}x_${dir}`] = await measureBulk(v, dir, flows, P.bulkBytes, P.bulkReps);
        }
      }
      return out;
    },
  },
  {
    key: 'rr',
    title: 'request/response 64 B',
    async run(v, say) {
      const out = {};
      for (const conns of [1, 16]) {
        const socks = await Promise.all(Array.from({ length: conns }, () => connect(v.port)));
        for (const s of socks) s.write('E');
        say(`req/resp ${conns} conn(s): warm-up`);
        await Promise.all(socks.map((s) => pingPong(s, 64, P.rrWarm, Date.now() + 10_000, [])));
        say(`req/resp ${conns} conn(s)`);
        const lat = [];
        const count = conns === 1 ? P.rrCount : 1e9;
        const ms = conns === 1 ? LOOP_CAP_MS : P.rr16Ms;
        const t0 = process.hrtime.bigint();
        const done = await Promise.all(socks.map((s) => pingPong(s, 64, count, Date.now() + ms, lat)));
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        const n = done.reduce((a, b) => a + b, 0);
        out[`c${conns}`] = { requests: n, req_per_s: +(n / secs).toFixed(0), ...latencyStats(lat) };
        for (const s of socks) s.destroy();
      }
      return out;
    },
  },
  {
    key: 'rate',
    title: 'connection rate (concurrency 8)',
    async run(v, say) {
      const payload = Buffer.concat([Buffer.from('E'), crypto.randomBytes(32)]);
      const loop = async (count, ms, lat) => {
        let started = 0;
        let errors = 0;
        const deadline = Date.now() + ms;
        const worker = async () => {
          while (started < count && Date.now() < deadline) {
            started++;
            const t0 = process.hrtime.bigint();
            try {
              await oneConnection(v.port, payload);
              lat.push(Number(process.hrtime.bigint() - t0) / 1000);
            } catch {
              errors++;
            }
          }
        };
        const t0 = process.hrtime.bigint();
        await Promise.all(Array.from({ length: 8 }, worker));
        return { secs: Number(process.hrtime.bigint() - t0) / 1e9, errors };
      };
      say('connection rate: warm-up');
      await loop(P.rateWarm, 10_000, []);
      say(`connection rate: ${P.rateCount} connections`);
      const lat = [];
      const cpu0 = cpuOf(v.relays);
      const self0 = process.cpuUsage();
      const { secs, errors } = await loop(P.rateCount, P.rateMs, lat);
      const cpu1 = cpuOf(v.relays);
      const self = process.cpuUsage(self0);
      const perFlowUs = (s) => +((s * 1e6) / Math.max(1, lat.length)).toFixed(0);
      // CPU per flow: the relays (hub + agent; both hubs in mesh) and this process (the client).
      const cpu = { client_cpu_us_per_flow: perFlowUs((self.user + self.system) / 1e6) };
      if (v.relays.length > 0) cpu.cpu_us_per_flow = perFlowUs(cpu1.user - cpu0.user + cpu1.sys - cpu0.sys);
      return { flows: lat.length, flows_per_s: +(lat.length / secs).toFixed(0), errors, ...latencyStats(lat), ...cpu };
    },
  },
  {
    key: 'idle',
    title: 'idle flows',
    applies: (variant) => !variant.ha,
    async run(v, say) {
      const flows = Math.min(IDLE_FLOWS, Math.floor((fdLimit() - 200) / 1));
      const openMany = async (n, socks) => {
        let i = 0;
        let errors = 0;
        const worker = async () => {
          while (i < n) {
            i++;
            try {
              const s = await connect(v.port);
              s.on('error', () => undefined);
              s.write('Ex');
              await new Promise((resolve, reject) => {
                s.once('data', resolve);
                s.once('close', () => reject(new Error('closed')));
              });
              socks.push(s);
            } catch {
              errors++;
            }
          }
        };
        await Promise.all(Array.from({ length: 128 }, worker));
        return errors;
      };
      const closeAll = async (socks) => {
        await Promise.all(
          socks.map((s) => new Promise((r) => (s.destroyed ? r() : (s.once('close', r), s.destroy())))),
        );
      };
      say('idle flows: warm-up');
      const warm = [];
      await openMany(200, warm);
      await closeAll(warm);
      await sleep(500);
      const before = v.relays.map((p) => rssKiB(p.pid));
      say(`idle flows: opening ${flows}`);
      const socks = [];
      const t0 = Date.now();
      const openErrors = await openMany(flows, socks);
      const openSecs = (Date.now() - t0) / 1000;
      const afterOpen = v.relays.map((p) => rssKiB(p.pid));
      say(`idle flows: holding ${socks.length} for ${P.idleHoldMs / 1000} s`);
      await sleep(P.idleHoldMs);
      const afterHold = v.relays.map((p) => rssKiB(p.pid));
      say('idle flows: echo on every flow');
      let echoed = 0;
      await Promise.all(
        socks.map(
          (s) =>
            new Promise((resolve) => {
              const t = setTimeout(resolve, 20_000);
              s.once('data', () => {
                echoed++;
                clearTimeout(t);
                resolve();
              });
              s.write('y');
            }),
        ),
      );
      await closeAll(socks);
      const out = { flows: socks.length, open_errors: openErrors, open_s: +openSecs.toFixed(2), echoing_after_hold: echoed };
      if (v.relays.length > 0) {
        const delta = afterHold.reduce((a, x, k) => a + x - before[k], 0);
        out.kib_per_flow = +(delta / socks.length).toFixed(2);
        v.relays.forEach((p, k) => {
          out[`${p.name.split('-')[0]}_rss_kib_before`] = before[k];
          out[`${p.name.split('-')[0]}_rss_kib_after`] = afterHold[k];
        });
        out.rss_kib_after_open = afterOpen;
      }
      return out;
    },
  },
  {
    key: 'agents',
    title: 'idle agents on one hub',
    applies: (variant) => typeof variant.hubOnly === 'function' && !variant.ha,
    fresh: 'hubOnly',
    async run(v, say) {
      const WebSocket = require(path.join(root, 'node_modules/ws'));
      const hubPid = v.hub.pid;
      const url = `ws://127.0.0.1:${v.hub.found.httpPort}/tunnel`;
      const tokens = [];
      for (let i = 0; i < AGENTS + 20; i++) tokens.push(await token(`bench-a${i}`));
      const frame = (type, body) => {
        const p = Buffer.from(JSON.stringify(body));
        const h = Buffer.alloc(12 + p.length);
        h[0] = 1;
        h[1] = type;
        h.writeUInt32BE(0, 4);
        h.writeUInt32BE(p.length, 8);
        p.copy(h, 12);
        return h;
      };
      const agentOnce = (i) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${tokens[i]}` }, perMessageDeflate: false });
          const timer = setTimeout(() => {
            ws.terminate();
            reject(new Error('hello timeout'));
          }, 20_000);
          ws.on('open', () => ws.send(frame(0x01, { agent_id: `bench-a${i}`, connectors: ['bench'], version: 'bench' })));
          ws.on('message', (data) => {
            const type = data[1];
            if (type === 0x02) {
              clearTimeout(timer);
              resolve(ws);
            } else if (type === 0x09) {
              const pong = Buffer.from(data);
              pong[1] = 0x0a;
              ws.send(pong);
            }
          });
          ws.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
        });
      const connectMany = async (from, n, list) => {
        let i = 0;
        let errors = 0;
        const worker = async () => {
          while (i < n) {
            const k = from + i++;
            try {
              list.push(await agentOnce(k));
            } catch {
              errors++;
            }
          }
        };
        await Promise.all(Array.from({ length: 32 }, worker));
        return errors;
      };
      const closeAll = (list) => Promise.all(list.map((ws) => new Promise((r) => (ws.once('close', r), ws.terminate()))));
      say('agents: warm-up');
      const warm = [];
      await connectMany(AGENTS, 20, warm);
      await closeAll(warm);
      await sleep(500);
      const before = rssKiB(hubPid);
      say(`agents: connecting ${AGENTS}`);
      const list = [];
      const t0 = Date.now();
      const errors = await connectMany(0, AGENTS, list);
      const secs = (Date.now() - t0) / 1000;
      await sleep(QUICK ? 1000 : 3000);
      const after = rssKiB(hubPid);
      const open = list.filter((ws) => ws.readyState === WebSocket.OPEN).length;
      await closeAll(list);
      return {
        agents: list.length,
        errors,
        still_open: open,
        connect_all_s: +secs.toFixed(2),
        hub_rss_kib_before: before,
        hub_rss_kib_after: after,
        hub_kib_per_agent: +((after - before) / list.length).toFixed(1),
      };
    },
  },
  {
    key: 'share',
    title: 'share of flows over the mesh (2 replicas, links: 2)',
    applies: (variant) => typeof variant.shareSetup === 'function',
    fresh: 'shareSetup',
    async run(v, say) {
      const payload = Buffer.concat([Buffer.from('E'), crypto.randomBytes(32)]);
      const n = QUICK ? 200 : 1000;
      const before = sumCounters(await Promise.all(v.hubs.map(flowCounters)));
      say(`share: ${n} flows over both hubs' listeners`);
      let next = 0;
      let errors = 0;
      const deadline = Date.now() + LOOP_CAP_MS;
      const worker = async () => {
        while (next < n && Date.now() < deadline) {
          const hub = v.hubs[next++ % v.hubs.length];
          await oneConnection(hub.found.listenerPort, payload).catch(() => errors++);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const after = sumCounters(await Promise.all(v.hubs.map(flowCounters)));
      const flows = after.local + after.cross - before.local - before.cross;
      const crossed = after.m_open_out - before.m_open_out;
      return {
        flows_started: next,
        errors,
        flows_opened: flows,
        flows_local: after.local - before.local,
        flows_cross_replica: after.cross - before.cross,
        m_open_sent: crossed,
        mesh_pct: +((100 * crossed) / Math.max(1, flows)).toFixed(2),
      };
    },
  },
  {
    key: 'failover',
    title: 'HA failover (a holder hub killed)',
    applies: (variant) => typeof variant.failoverSetup === 'function',
    fresh: 'failoverSetup',
    async run(v, say) {
      const payload = Buffer.concat([Buffer.from('E'), crypto.randomBytes(32)]);
      /**
       * kill -9 `hub`, then new flows to `port` (concurrency 4) for `ms` and at least until one
       * succeeds (30 s cap): seconds to the first success, and the flows that failed.
       */
      const killAndCount = async (hub, port, ms) => {
        await oneConnection(port, payload); // a flow before the kill
        const t0 = Date.now();
        hub.proc.kill('SIGKILL');
        let firstOk;
        let ok = 0;
        let failed = 0;
        let lastError = '';
        const why = {};
        const worker = async () => {
          while ((Date.now() - t0 < ms || firstOk === undefined) && Date.now() - t0 < 30_000) {
            try {
              await oneConnection(port, payload);
              ok++;
              firstOk ??= Date.now() - t0;
            } catch (err) {
              failed++;
              lastError = String(err && err.message);
              const kind = lastError.replace(/\d+/g, 'N');
              why[kind] = (why[kind] ?? 0) + 1;
              await sleep(25);
            }
          }
        };
        await Promise.all(Array.from({ length: 4 }, worker));
        if (firstOk === undefined) throw new Error(`no flow through the surviving hubs within 30 s (${failed} failed, last: ${lastError})`);
        return { seconds: +(firstOk / 1000).toFixed(3), flows_ok: ok, flows_failed: failed, failed_by: why, window_s: +((Date.now() - t0) / 1000).toFixed(1) };
      };
      say('failover (links: 2, client on C): kill -9 holder A');
      const links2 = await killAndCount(v.a, v.port, 2000);
      say('failover (links: 1, client on B): kill -9 owner A');
      const old = await v.legacy();
      try {
        const from = logSize(old.agent);
        const links1 = await killAndCount(old.a, old.port, 2000);
        const moved = await waitLog(old.agent, (e) => e.event === 'tunnel_established', 5000, from).catch(() => undefined);
        return { links2, links1: { ...links1, agent_moved_to: moved?.replica_id } };
      } finally {
        await old.close();
      }
    },
  },
];

// ---------------------------------------------------------------------------------------------
// table

/** [label, path in results, unit-ish, compare: 'ratio' | 'abs', target text, check(tunnel, direct)] */
const TABLE = [
  ['bulk 1 flow upload', 'bulk.1x_upload.mb_per_s', 'MB/s', 'ratio', '>= 0.22x', (t, d) => t / d >= 0.22],
  ['bulk 1 flow download', 'bulk.1x_download.mb_per_s', 'MB/s', 'ratio', '>= 0.22x', (t, d) => t / d >= 0.22],
  ['bulk 4 flows upload', 'bulk.4x_upload.mb_per_s', 'MB/s', 'ratio', '>= 0.25x', (t, d) => t / d >= 0.25],
  ['bulk 4 flows download', 'bulk.4x_download.mb_per_s', 'MB/s', 'ratio', '>= 0.25x', (t, d) => t / d >= 0.25],
  ['  CPU 1 flow upload', 'bulk.1x_upload.cpu_s_per_gb', 's/GB', 'abs', '<= 1.8', (t) => t <= 1.8],
  ['  CPU 1 flow download', 'bulk.1x_download.cpu_s_per_gb', 's/GB', 'abs', '<= 1.8', (t) => t <= 1.8],
  ['  CPU 4 flows upload', 'bulk.4x_upload.cpu_s_per_gb', 's/GB', 'abs', '<= 1.8', (t) => t <= 1.8],
  ['  CPU 4 flows download', 'bulk.4x_download.cpu_s_per_gb', 's/GB', 'abs', '<= 1.8', (t) => t <= 1.8],
  ['req/resp 1 conn p50', 'rr.c1.p50_us', 'us', 'ratio', '', null],
  ['req/resp 1 conn p99', 'rr.c1.p99_us', 'us', 'diff', '<= +250 us', (t, d) => t - d <= 250],
  ['req/resp 1 conn max', 'rr.c1.max_us', 'us', 'ratio', '', null],
  ['req/resp 1 conn', 'rr.c1.req_per_s', 'req/s', 'ratio', '', null],
  ['req/resp 16 conns', 'rr.c16.req_per_s', 'req/s', 'ratio', '>= 0.28x', (t, d) => t / d >= 0.28],
  ['req/resp 16 conns p99', 'rr.c16.p99_us', 'us', 'ratio', '', null],
  ['connection rate', 'rate.flows_per_s', 'flows/s', 'ratio', '>= 0.42x', (t, d) => t / d >= 0.42],
  ['connection rate p50', 'rate.p50_us', 'us', 'ratio', '', null],
  ['connection rate p99', 'rate.p99_us', 'us', 'ratio', '', null],
  ['connection rate errors', 'rate.errors', '', 'abs', '= 0', (t) => t === 0],
  ['  CPU per flow (relays)', 'rate.cpu_us_per_flow', 'us', 'abs', '', null],
  ['  CPU per flow (client)', 'rate.client_cpu_us_per_flow', 'us', 'abs', '', null],
  ['idle flows open', 'idle.flows', 'flows', 'abs', '', null],
  ['idle flows echoing after hold', 'idle.echoing_after_hold', 'flows', 'abs', '= all', (t, d, r) => t === r.idle?.flows],
  ['idle KiB per flow (hub+agent)', 'idle.kib_per_flow', 'KiB', 'abs', '<= 12', (t) => t <= 12],
  ['agents connected', 'agents.agents', 'agents', 'abs', '', null],
  ['agents: time to connect all', 'agents.connect_all_s', 's', 'abs', '', null],
  ['agents: hub KiB per agent', 'agents.hub_kib_per_agent', 'KiB', 'abs', '<= 64', (t) => t <= 64],
];

const get = (obj, p) => p.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
const fmt = (x) => (x === undefined || x === null || Number.isNaN(x) ? '-' : typeof x === 'number' ? String(+x.toFixed(x >= 100 ? 0 : 2)) : String(x));

function renderTable(results, variants) {
  const relayed = variants.filter((v) => v.relayed);
  const head = ['workload', 'unit', ...variants.map((v) => v.name), ...relayed.map((v) => `${v.name}/direct`), 'target', 'tunnel'];
  const rows = [head];
  for (const [label, p, unit, cmp, target, check] of TABLE) {
    const vals = variants.map((v) => get(results[v.name], p));
    if (vals.every((x) => x === undefined)) continue;
    const d = get(results.direct, p);
    const ratios = relayed.map((v) => {
      const t = get(results[v.name], p);
      if (t === undefined || d === undefined || cmp === 'abs') return '';
      return cmp === 'diff' ? `+${(t - d).toFixed(0)}` : `${(t / d).toFixed(3)}x`;
    });
    const t = get(results.tunnel, p);
    const verdict = check && t !== undefined && (cmp === 'abs' || d !== undefined) ? (check(t, d, results.tunnel) ? 'met' : 'MISSED') : '';
    rows.push([label, unit, ...vals.map(fmt), ...ratios, target, verdict]);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i <= 1 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

/** mesh against tunnel (issue 7: throughput >= 0.6x, p99 added <= 1 ms), mesh RTT, failover. */
const MESH_TABLE = [
  ['bulk 1 flow upload', 'bulk.1x_upload.mb_per_s', 'MB/s', 'ratio', '>= 0.6x', (m, t) => m / t >= 0.6],
  ['bulk 1 flow download', 'bulk.1x_download.mb_per_s', 'MB/s', 'ratio', '>= 0.6x', (m, t) => m / t >= 0.6],
  ['bulk 4 flows upload', 'bulk.4x_upload.mb_per_s', 'MB/s', 'ratio', '>= 0.6x', (m, t) => m / t >= 0.6],
  ['bulk 4 flows download', 'bulk.4x_download.mb_per_s', 'MB/s', 'ratio', '>= 0.6x', (m, t) => m / t >= 0.6],
  ['req/resp 1 conn p50', 'rr.c1.p50_us', 'us', 'diff', '', null],
  ['req/resp 1 conn p99', 'rr.c1.p99_us', 'us', 'diff', '<= +1000 us', (m, t) => m - t <= 1000],
  ['req/resp 16 conns', 'rr.c16.req_per_s', 'req/s', 'ratio', '', null],
  ['connection rate', 'rate.flows_per_s', 'flows/s', 'ratio', '', null],
  ['connection rate errors', 'rate.errors', '', 'abs', '= 0', (m) => m === 0],
  ['mesh RTT p50 (bucket bound)', 'mesh_rtt.p50_le_ms', 'ms', 'abs', '', null],
  ['mesh RTT p95 (bucket bound)', 'mesh_rtt.p95_le_ms', 'ms', 'abs', '', null],
  ['mesh RTT samples', 'mesh_rtt.samples', '', 'abs', '', null],
  ['mesh variant: flows that crossed', 'mesh_path.crossed_pct', '%', 'abs', '= 100 %', (m) => m === 100],
  ['share over mesh, 2 replicas links 2', 'share.mesh_pct', '%', 'abs', '= 0 %', (m) => m === 0],
  ['  flows (share workload)', 'share.flows_opened', 'flows', 'abs', '', null],
  ['failover links 2: kill -9 A -> new flow', 'failover.links2.seconds', 's', 'abs', '<= 5', (m) => m <= 5],
  ['  flows failed in 2 s after kill', 'failover.links2.flows_failed', 'flows', 'abs', '= 0', (m) => m === 0],
  ['  flows ok in 2 s after kill', 'failover.links2.flows_ok', 'flows', 'abs', '', null],
  ['failover links 1: kill -9 owner -> new flow', 'failover.links1.seconds', 's', 'abs', '<= 5', (m) => m <= 5],
  ['  flows failed after kill', 'failover.links1.flows_failed', 'flows', 'abs', '', null],
];

function renderMeshTable(results) {
  if (!results.mesh) return '';
  const head = ['mesh vs tunnel', 'unit', 'tunnel', 'mesh', 'mesh/tunnel', 'target', 'mesh'];
  const rows = [head];
  for (const [label, p, unit, cmp, target, check] of MESH_TABLE) {
    const m = get(results.mesh, p);
    if (m === undefined) continue;
    const t = get(results.tunnel, p);
    const rel = t === undefined || cmp === 'abs' ? '' : cmp === 'diff' ? `${m - t >= 0 ? '+' : ''}${(m - t).toFixed(0)}` : `${(m / t).toFixed(3)}x`;
    const verdict = check && (cmp === 'abs' || t !== undefined) ? (check(m, t) ? 'met' : 'MISSED') : '';
    rows.push([label, unit, fmt(t), fmt(m), rel, target, verdict]);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i <= 1 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (!ensureFdLimit(IDLE_FLOWS + 1000)) return; // re-executed with a higher ulimit -n: the child runs
  for (const [flagName, picked, known] of [['--only', ONLY, VARIANTS.map((v) => v.name)], ['--workloads', WORKLOADS, WORKLOAD_LIST.map((w) => w.key)]]) {
    const bad = picked.filter((x) => !known.includes(x));
    if (bad.length > 0) {
      process.stderr.write(`bench: ${flagName}: unknown ${bad.join(', ')} (known: ${known.join(', ')})\n`);
      process.exit(2);
    }
  }
  for (const f of ['apps/cloud-hub/main.js', 'apps/premise-agent/main.js']) {
    if (!fs.existsSync(path.join(DIST, f))) throw new Error(`${path.join(DIST, f)} missing: run npm run build first`);
  }
  jose = require(path.join(root, 'node_modules/jose'));
  watchStdoutReader();
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-bench-'));
  note(`temporary directory ${tmpDir} (pid ${process.pid})`);
  const names = (list, picked) => (picked.length === 0 ? list : list.filter((x) => picked.includes(x))).join(',');
  process.stdout.write(
    `NowConnect bench${QUICK ? ' (quick)' : ''}: variants ${names(VARIANTS.map((v) => v.name), ONLY)}; workloads ${names(WORKLOAD_LIST.map((w) => w.key), WORKLOADS)}\n`,
  );
  secret = crypto.randomBytes(32).toString('hex');
  fs.writeFileSync(path.join(tmpDir, 'secret'), secret);
  fs.writeFileSync(path.join(tmpDir, 'none.yaml'), 'connectors: []\n');
  if (CPU_PROF) {
    profDir = path.join(__dirname, 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
    fs.mkdirSync(profDir, { recursive: true });
  }
  const started = Date.now();
  const target = await startNode('target', path.join(__dirname, 'target.js'), {}, (e, f) => {
    if (e.event === 'target_started') f.port = e.port;
    return f.port > 0;
  });
  if (RTT !== undefined) {
    await wanMain(target, started);
    return;
  }
  const variants = VARIANTS.filter((v) => ONLY.length === 0 || ONLY.includes(v.name));
  const redis = variants.some((v) => v.ha) ? await startRedis() : undefined;
  const ctx = { target: { port: target.found.port }, redis: () => redis };
  const workloads = WORKLOAD_LIST.filter((w) => WORKLOADS.length === 0 || WORKLOADS.includes(w.key));
  const results = {};
  for (const v of variants) results[v.name] = {};
  let step = 0;
  const steps = workloads.reduce((n, w) => n + variants.filter((v) => !w.applies || w.applies(v)).length, 0);
  for (const w of workloads) {
    for (const v of variants) {
      if (w.applies && !w.applies(v)) continue;
      step++;
      const tag = `${w.key}-${v.name}`;
      const say = (msg) => progress(`${step}/${steps} ${v.name}: ${msg}  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      say('starting');
      const inst = w.fresh ? await v[w.fresh](tag, ctx) : await v.setup(ctx, tag);
      try {
        results[v.name][w.key] = await w.run(inst, say);
      } catch (err) {
        results[v.name][w.key] = { error: String(err && err.message) };
        if (!bailing) process.stderr.write(`\nbench: ${tag} failed: ${err && err.message}\n`);
      } finally {
        await inst.close();
      }
    }
  }
  await stopProc(target);
  if (redis) await stopProc(redis);
  progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (results.mesh) {
    results.mesh.mesh_rtt = meshRttP95();
    const all = meshPath.flows_local + meshPath.flows_cross_replica;
    if (all > 0) results.mesh.mesh_path = { ...meshPath, crossed_pct: +((100 * meshPath.m_open_sent) / all).toFixed(2) };
  }
  const table = [renderTable(results, variants), renderMeshTable(results)].filter(Boolean).join('\n\n');
  const doc = {
    when: new Date().toISOString(),
    quick: QUICK,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, kernel: os.release() },
    params: { ...P, idle_flows: IDLE_FLOWS, agents: AGENTS, flow_window_bytes: WINDOW ?? 'hub default' },
    results,
    table,
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`${table}\n\nJSON: ${path.relative(process.cwd(), OUT)}${CPU_PROF ? `\nprofiles: ${path.relative(process.cwd(), profDir)}` : ''}\n`);
}

/** `--rtt MS`: the WAN rows (bench/wan.js), printed and written to --out (default bench/results/wan-rtt<MS>.json). */
async function wanMain(target, started) {
  const { runWan } = require('./wan');
  const { results, table } = await runWan(RTT, {
    startNodeArgs: (name, script, args) =>
      startNode(name, path.join(__dirname, script), {}, (e, f) => {
        if (e.event === 'relay_ready') f.port = e.port;
        return f.port > 0;
      }, [], args),
    startHub: (name) => startHub(name),
    startAgent: (name, hub, targetPort, viaPort) => startAgent(name, hub, targetPort, [], viaPort),
    stopProc,
    targetPort: target.found.port,
    quick: QUICK,
    only: ONLY,
    progress,
  });
  await stopProc(target);
  progress(`done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  const out = argv.includes('--out') ? OUT : path.join(__dirname, 'results', `wan-rtt${RTT}.json`);
  const doc = { when: new Date().toISOString(), quick: QUICK, rtt_ms: RTT, flow_window_bytes: WINDOW ?? 'hub default', results, table };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`${table}\n\nJSON: ${path.relative(process.cwd(), out)}\n`);
}


// ---------------------------------------------------------------------------------------------
// Cleanup: the processes this bench started and its temporary directory go away on every exit path —
// normal end, failure, SIGINT / SIGTERM / SIGHUP, and the reader of stdout going away (EPIPE, or found
// gone by the watcher below while nothing is being written).

let cleanedUp = false;
/** Synchronous: SIGKILL what is still running, remove the temporary directory (the 'exit' backstop). */
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (tmpDir && !process.env.NC_BENCH_KEEP) fs.rmSync(tmpDir, { recursive: true, force: true });
}

/** SIGKILL what is still running and wait (bounded) until each has exited and been reaped; then cleanup(). */
async function stopEverything() {
  // Bounded: a start-up already past its spawn when the cleanup began shows up in the next round.
  for (let round = 0; round < 3; round++) {
    const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
    if (alive.length === 0) break;
    const exited = Promise.all(alive.map((c) => new Promise((r) => c.once('exit', r))));
    for (const c of alive) c.kill('SIGKILL');
    let timer;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }
  cleanup();
}

let bailing = false;
function bail(code, why) {
  if (bailing) return;
  bailing = true;
  void stopEverything().then(() => {
    try {
      process.stderr.write(`\n[bench] ${why}: stopped; its processes killed and its temporary directory removed\n`);
    } catch {
      /* stderr gone too */
    }
    process.exit(code);
  });
}

process.on('SIGINT', () => bail(130, 'interrupted (SIGINT)'));
process.on('SIGTERM', () => bail(143, 'terminated (SIGTERM)'));
process.on('SIGHUP', () => bail(129, 'hung up (SIGHUP)'));
process.stdout.on('error', (err) => bail(err.code === 'EPIPE' ? 141 : 1, `stdout closed (${err.code ?? err.message})`));
process.stderr.on('error', () => bail(141, 'stderr closed'));
process.on('exit', cleanup); // last resort (uncaught exception): synchronous kills and rm

/** One line on stderr (pids, directories): always a whole line, also between \r progress updates. */
function note(msg) {
  process.stderr.write(`${isTty ? '\r\x1b[K' : ''}[bench] ${msg}\n`);
}

/**
 * When stdout is a pipe, the bench writes to it only at the start and the end: a reader that went away
 * (`npm run bench | head -3`) would be noticed minutes later. Linux: find the processes holding the pipe's
 * read end (/proc/PID/fd + fdinfo) once, then check every 500 ms that one still does. Best effort: when no
 * reader can be seen (another user's process), the EPIPE of the next write is the signal.
 */
function watchStdoutReader() {
  let link;
  try {
    if (!fs.fstatSync(1).isFIFO()) return;
    link = fs.readlinkSync('/proc/self/fd/1');
  } catch {
    return;
  }
  const readers = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)) {
    let fds;
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) !== link) continue;
        const flags = /^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
        if (flags && (parseInt(flags[1], 8) & 3) === 0) readers.push(`/proc/${pid}/fd/${fd}`); // O_RDONLY: a read end
      } catch {
        /* gone meanwhile */
      }
    }
  }
  if (readers.length === 0) return;
  const stillReading = (fdPath) => {
    try {
      return fs.readlinkSync(fdPath) === link;
    } catch {
      return false;
    }
  };
  setInterval(() => {
    if (!readers.some(stillReading)) bail(141, 'stdout closed (its reader went away)');
  }, 500).unref();
}

main()
  .catch((err) => {
    if (bailing) return; // stopping on a signal or a closed stdout: bail() reports and sets the exit code
    process.stderr.write(`\nbench failed: ${err.stack || err.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => (bailing ? undefined : stopEverything()));
