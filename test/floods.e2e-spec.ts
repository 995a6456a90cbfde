/**
 * Floods and limits with real processes (issue 6 item 4): 10,000 client connections at once on
 * one listener, 1,000 flows per second on one tunnel, an upgrade flood with bad tokens from one
 * source address, and slow-loris upgrades. The hub stays up, its memory stays under the bound of
 * docs/security.md, every limit answers with a prompt close plus a counter and a log event, and
 * failed-auth floods are rate-limited per source address without locking out other addresses.
 */
import * as net from 'node:net';
import {
  cleanupAll,
  freePorts,
  listener,
  metricValue,
  pumpEcho,
  startAgentConnected,
  startHub,
  waitForMetric,
  type AgentHandle,
  type HubHandle,
  type JsonEvent,
  type Proc,
} from './support';
import { procMemKiB } from './support/flows';
import { connectionFlood, flowRate, requireFdLimit, startEchoProcess, upgradeFrom } from './support/flood-procs';
import { scanLogs } from './support/fuzz-logscan';

const FLOOD_CONNECTIONS = 10_000;
const MAX_FLOWS = 4000;
const MAX_PENDING = 256;
/** docs/security.md: hub RSS peak under a 10,000-connection flood. */
const FLOOD_RSS_BOUND_MIB = 384;
const RATE_PER_SEC = 1000;
const RATE_SECONDS = 3;
const SLOW_LORIS = 300;
const BAD_TOKEN_FLOOD = 1000;

let hub: HubHandle;
let agent: AgentHandle;
let echoProc: Proc;
let echoPort: number;
let floodPort: number;
const procs: Proc[] = [];

function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await hub.metrics(), name, labels);
}

const mib = (kib: number): number => +(kib / 1024).toFixed(1);

beforeAll(async () => {
  // The hub (10,000 client sockets) and the agent inherit this process's descriptor limit.
  requireFdLimit(FLOOD_CONNECTIONS + 2048, 'floods.e2e-spec (hub under a 10,000-connection flood)');
  const echo = await startEchoProcess(MAX_FLOWS * 2 + 1024);
  echoProc = echo.proc;
  echoPort = echo.port;
  [floodPort] = (await freePorts(1)) as [number];
  hub = await startHub({
    name: 'hub:floods',
    config: {
      listeners: [listener('l_flood', 'flood', floodPort)],
      limits: { max_flows_per_agent: MAX_FLOWS, max_pending_opens_per_agent: MAX_PENDING },
    },
    waitReady: true,
  });
  agent = await startAgentConnected(hub, { agentId: 'flood-agent', connectors: { flood: `127.0.0.1:${echoPort}` } });
  procs.push(hub.proc, agent.proc, echoProc);
}, 60_000);

afterAll(async () => {
  await cleanupAll();
});

describe('floods: connections and flows', () => {
  it(`${RATE_PER_SEC} flows per second on one tunnel for ${RATE_SECONDS} s: every flow byte-exact or refused at once and counted`, async () => {
    const total = RATE_PER_SEC * RATE_SECONDS;
    const refusedBefore = await metric('nowconnect_open_failed_total', { connector: 'flood', reason: 'max_pending_opens' });
    const r = await flowRate(floodPort, RATE_PER_SEC, RATE_SECONDS);
    const refused = (await metric('nowconnect_open_failed_total', { connector: 'flood', reason: 'max_pending_opens' })) - refusedBefore;
    const line = {
      ...r,
      offered_per_sec: Math.round(total / (r.offeredMs / 1000)),
      completed_per_sec: Math.round(total / (r.doneMs / 1000)),
      refused_max_pending_opens: refused,
      hub_rss_mib: mib(procMemKiB(hub.proc.pid!).rssKiB),
    };
    process.stdout.write(`FLOOD_RATE ${JSON.stringify(line)}\n`);
    // Each flow is byte-exact, or refused at once by max_pending_opens_per_agent and counted.
    expect(r.mismatched + r.timedOut + r.connectFailed).toBe(0);
    expect(r.ok + r.refused).toBe(total);
    expect(refused).toBe(r.refused);
    // How many are carried rather than refused depends on the machine (OPEN_ACK latency x rate vs
    // max_pending_opens_per_agent): a sanity floor only; the measured share is in docs/security.md.
    expect(r.ok).toBeGreaterThanOrEqual(total / 3);
    expect(line.offered_per_sec).toBeGreaterThanOrEqual(RATE_PER_SEC * 0.8);
    const after = await pumpEcho(floodPort, 256 * 1024);
    expect(after.recvSha).toBe(after.sentSha);
    expect(hub.proc.running).toBe(true);
  }, 120_000);

  it(`${FLOOD_CONNECTIONS} client connections at once: served up to max_flows_per_agent, the rest refused at once and counted; hub up, RSS bounded`, async () => {
    const warm = await pumpEcho(floodPort, 1024 * 1024);
    expect(warm.recvSha).toBe(warm.sentSha);
    const rssBefore = procMemKiB(hub.proc.pid!);
    const mark = hub.proc.mark();
    const before = {
      maxFlows: await metric('nowconnect_open_failed_total', { connector: 'flood', reason: 'max_flows' }),
      maxPending: await metric('nowconnect_open_failed_total', { connector: 'flood', reason: 'max_pending_opens' }),
    };
    const { proc: client, result } = await connectionFlood(floodPort, FLOOD_CONNECTIONS, { deadlineMs: 90_000 });
    procs.push(client);
    try {
      const rssPeak = procMemKiB(hub.proc.pid!);
      const after = {
        maxFlows: await metric('nowconnect_open_failed_total', { connector: 'flood', reason: 'max_flows' }),
        maxPending: await metric('nowconnect_open_failed_total', { connector: 'flood', reason: 'max_pending_opens' }),
        active: await metric('nowconnect_tcp_active_connections', { connector: 'flood' }),
      };
      const refusedCounted = after.maxFlows - before.maxFlows + (after.maxPending - before.maxPending);
      const refusedLogged = eventsSince(hub.proc, mark, 'open_refused');
      const line = {
        ...result,
        refused_max_flows: after.maxFlows - before.maxFlows,
        refused_max_pending_opens: after.maxPending - before.maxPending,
        active_while_held: after.active,
        hub_rss_before_mib: mib(rssBefore.rssKiB),
        hub_rss_held_mib: mib(rssPeak.rssKiB),
        hub_rss_peak_mib: mib(rssPeak.hwmKiB),
      };
      process.stdout.write(`FLOOD_10K ${JSON.stringify(line)}\n`);

      expect(result.hung).toBe(0);
      expect(result.mismatched).toBe(0);
      expect(result.connectFailed).toBe(0);
      expect(result.served + result.refused).toBe(FLOOD_CONNECTIONS);
      expect(result.served).toBeGreaterThanOrEqual(MAX_PENDING);
      expect(result.served).toBeLessThanOrEqual(MAX_FLOWS);
      expect(after.active).toBe(result.served);
      // Every refusal is a close plus a counter and a log line with the limit's name.
      expect(refusedCounted).toBe(result.refused);
      expect(refusedLogged).toHaveLength(result.refused);
      expect(new Set(refusedLogged.map((e) => e.reason))).toEqual(
        new Set(['max_flows', 'max_pending_opens'].filter((r) => refusedLogged.some((e) => e.reason === r))),
      );
      expect(rssPeak.hwmKiB).toBeLessThan(FLOOD_RSS_BOUND_MIB * 1024);
      expect(hub.proc.running).toBe(true);
      expect((await hub.get('/healthz')).status).toBe(200);
    } finally {
      await client.stop('SIGTERM', 20_000);
    }
    await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: 'flood' }, (v) => v === 0, { timeoutMs: 60_000 });
    const r = await pumpEcho(floodPort, 1024 * 1024);
    expect(r.recvSha).toBe(r.sentSha);
    expect(agent.proc.running).toBe(true);
  }, 180_000);
});

describe('floods: upgrades', () => {
  it(`${BAD_TOKEN_FLOOD} bad-token upgrades from one address: 401 up to the burst, then 429 counted as rate_limited; another address still connects`, async () => {
    const flooder = '127.0.0.2';
    const before = {
      malformed: await metric('nowconnect_tunnel_auth_failures_total', { reason: 'malformed' }),
      limited: await metric('nowconnect_tunnel_auth_failures_total', { reason: 'rate_limited' }),
    };
    const statuses = new Map<number, number>();
    const started = Date.now();
    let next = 0;
    const CONCURRENCY = 50;
    const worker = async (): Promise<void> => {
      while (next < BAD_TOKEN_FLOOD) {
        next++;
        const st = await upgradeFrom(hub.tunnelUrl, { token: 'not.a.jwt', localAddress: flooder });
        statuses.set(st, (statuses.get(st) ?? 0) + 1);
      }
    };
    // While the flood runs, a good agent from 127.0.0.1 connects.
    const mark = hub.proc.mark();
    const [, good] = await Promise.all([
      Promise.all(Array.from({ length: CONCURRENCY }, worker)),
      startAgentConnected(hub, { agentId: 'good-during-flood', connectors: { flood: `127.0.0.1:${echoPort}` } }),
    ]);
    procs.push(good.proc);
    const elapsedSec = (Date.now() - started) / 1000;
    // The flooding address is limited for every token, good ones included (per-address, documented).
    const goodFromFlooder = await upgradeFrom(hub.tunnelUrl, { token: await hub.token('x'), localAddress: flooder });
    const after = {
      malformed: await metric('nowconnect_tunnel_auth_failures_total', { reason: 'malformed' }),
      limited: await metric('nowconnect_tunnel_auth_failures_total', { reason: 'rate_limited' }),
    };
    const s401 = statuses.get(401) ?? 0;
    const s429 = statuses.get(429) ?? 0;
    const line = {
      attempts: BAD_TOKEN_FLOOD,
      status_401: s401,
      status_429: s429,
      other: BAD_TOKEN_FLOOD - s401 - s429,
      elapsed_s: +elapsedSec.toFixed(1),
      counted_malformed: after.malformed - before.malformed,
      counted_rate_limited: after.limited - before.limited,
      good_token_from_flooding_address: goodFromFlooder,
      hub_rss_mib: mib(procMemKiB(hub.proc.pid!).rssKiB),
    };
    process.stdout.write(`FLOOD_BAD_TOKENS ${JSON.stringify(line)}\n`);
    expect(s401 + s429).toBe(BAD_TOKEN_FLOOD);
    expect(s401).toBeGreaterThanOrEqual(20);
    // burst 20 + refill 5/s (+ slack for the requests in flight when a token refilled)
    expect(s401).toBeLessThanOrEqual(20 + Math.ceil(5 * elapsedSec) + CONCURRENCY);
    expect(line.counted_malformed).toBe(s401);
    // A good token from the flooding address is refused too while its bucket is empty (per
    // address, before verification); by now it may have refilled (5/s), so only the count is exact.
    expect([101, 429]).toContain(goodFromFlooder);
    expect(line.counted_rate_limited).toBe(s429 + (goodFromFlooder === 429 ? 1 : 0));
    expect(eventsSince(hub.proc, mark, 'agent_connected').some((e) => e.agent_id === 'good-during-flood')).toBe(true);
    await good.stop();
  }, 120_000);

  it(`${SLOW_LORIS} slow-loris upgrades are closed by the header timeout (counted, logged) and do not block a good agent`, async () => {
    const before = await metric('nowconnect_upgrade_header_timeouts_total');
    const mark = hub.proc.mark();
    const sockets: net.Socket[] = [];
    const closedAt: number[] = [];
    const started = Date.now();
    for (let i = 0; i < SLOW_LORIS; i++) {
      const s = net.connect({ port: hub.port, host: '127.0.0.1', localAddress: '127.0.0.3' });
      s.on('error', () => undefined);
      s.once('connect', () => s.write('GET /tunnel HTTP/1.1\r\nHost: hub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'));
      s.once('close', () => closedAt.push(Date.now() - started));
      sockets.push(s);
    }
    // One more header byte per socket each second: never the blank line that ends the head.
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed && s.writable) s.write('X');
    }, 1000);
    try {
      // While they are pending, a good agent connects and the existing flows work.
      const good = await startAgentConnected(hub, { agentId: 'good-during-loris', connectors: { flood: `127.0.0.1:${echoPort}` } });
      procs.push(good.proc);
      const openNow = sockets.filter((s) => !s.destroyed).length;
      expect(openNow).toBeGreaterThan(SLOW_LORIS / 2);
      expect((await hub.get('/healthz')).status).toBe(200);
      const r = await pumpEcho(floodPort, 256 * 1024);
      expect(r.recvSha).toBe(r.sentSha);
      await waitForMetric(hub.httpUrl, 'nowconnect_upgrade_header_timeouts_total', {}, (v) => v >= before + SLOW_LORIS, { timeoutMs: 45_000, intervalMs: 250 });
      await good.stop();
      const line = {
        slow_loris: SLOW_LORIS,
        open_when_good_agent_connected: openNow,
        closed_by_hub: closedAt.length,
        first_close_ms: Math.min(...closedAt),
        last_close_ms: Math.max(...closedAt),
        counted: (await metric('nowconnect_upgrade_header_timeouts_total')) - before,
      };
      process.stdout.write(`FLOOD_SLOW_LORIS ${JSON.stringify(line)}\n`);
      const logged = eventsSince(hub.proc, mark, 'upgrade_header_timeout');
      expect(logged).toHaveLength(SLOW_LORIS);
      expect(logged.every((e) => e.client === '127.0.0.x')).toBe(true);
      expect(line.counted).toBe(SLOW_LORIS);
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    }
    expect(hub.proc.running).toBe(true);
  }, 120_000);

  it('log scan: no token, secret or key material in any line of the flood suite', () => {
    const scan = scanLogs(procs, { secrets: [hub.secret] });
    process.stdout.write(`FLOOD_LOGSCAN ${JSON.stringify({ processes: scan.processes, lines: scan.lines, findings: scan.findings.length })}\n`);
    expect(scan.findings).toEqual([]);
  });
});
