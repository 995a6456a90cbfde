/**
 * Listener admission limits with real processes (issue 18 item 3, issue 13 finding 8): each limit
 * admits exactly its threshold and resets the next client at once (no bytes, RST), counted in
 * nowconnect_open_failed_total{reason} with one rate-limited log line; idle clients are reset
 * after idle_timeout_sec; and the finding-8 before/after (100 idle clients from one address).
 */
import * as net from 'node:net';
import {
  cleanupAll,
  freePorts,
  listener,
  metricValue,
  readUntilClose,
  startAgentConnected,
  startEchoServer,
  startHub,
  waitForMetric,
  type HubHandle,
  type TargetServer,
} from './support';

const AT_ONCE_MS = 1000;

/** Connect from a given local address (any 127.x.y.z works on Linux loopback). */
function connectFrom(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Connect and resolve on 'connect' or on 'close' (a refusal may reset it before it connects). */
function attemptFrom(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true });
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('close', () => resolve(s));
  });
}

/** True when the socket is a live flow: an echo comes back. */
function echoes(s: net.Socket, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    s.once('data', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
    s.write('ping');
  });
}

/**
 * A client the listener must refuse: reset at once with no bytes. The reset can beat Node's
 * 'connect' event, so a connect failing with ECONNRESET counts as the same outcome.
 */
async function expectRefused(port: number, localAddress = '127.0.0.1'): Promise<void> {
  const start = Date.now();
  const s = net.connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true });
  const info = await readUntilClose(s, 5000);
  expect(info.bytes).toBe(0);
  expect(Date.now() - start).toBeLessThan(AT_ONCE_MS);
  expect(info.error).toBe('ECONNRESET');
}

let hub: HubHandle;
let echo: TargetServer;
let p: { active: number; rate: number; ip: number; idle: number; open: number; guard: number };

async function failed(reason: string, connector = 'echo'): Promise<number> {
  return metricValue(await hub.metrics(), 'nowconnect_open_failed_total', { connector, reason });
}

beforeAll(async () => {
  echo = await startEchoServer();
  const ports = await freePorts(6);
  p = { active: ports[0]!, rate: ports[1]!, ip: ports[2]!, idle: ports[3]!, open: ports[4]!, guard: ports[5]! };
  hub = await startHub({
    config: {
      listeners: [
        listener('l_active', 'echo', p.active, { max_active_flows: 3 }),
        listener('l_rate', 'echo', p.rate, { max_new_flows_per_sec: 2 }),
        listener('l_ip', 'echo', p.ip, { max_flows_per_client_ip: 2 }),
        listener('l_idle', 'echo', p.idle, { idle_timeout_sec: 1 }),
        listener('l_open', 'echo', p.open),
        listener('l_guard', 'echo', p.guard, { max_flows_per_client_ip: 10, idle_timeout_sec: 2 }),
      ],
      limits: { max_flows_per_agent: 100 },
    },
    waitReady: true,
  });
  await startAgentConnected(hub, { agentId: 'limits-agent', connectors: { echo: `127.0.0.1:${echo.port}` } });
}, 60_000);

afterAll(async () => {
  await echo?.close();
  await cleanupAll();
});

describe('listener admission limits (per replica)', () => {
  it('max_active_flows: 3 run at once, the 4th is reset at once; a closed flow frees its place', async () => {
    const mark = hub.proc.mark();
    const before = await failed('limit_active');
    const held = [];
    for (let i = 0; i < 3; i++) {
      const s = await connectFrom(p.active);
      expect(await echoes(s)).toBe(true);
      held.push(s);
    }
    await expectRefused(p.active);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'echo', reason: 'limit_active' }, (v) => v === before + 1);
    const ev = await hub.proc.waitForEventSince(mark, 'open_refused', (e) => e.reason === 'limit_active', 5000);
    expect(ev).toMatchObject({ listener: 'l_active', connector: 'echo', client: '127.0.0.x' });
    const closed = held.pop()!;
    closed.destroy();
    await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: 'echo' }, (v) => v === 2);
    const again = await connectFrom(p.active);
    expect(await echoes(again)).toBe(true);
    for (const s of [...held, again]) s.destroy();
  });

  it('max_new_flows_per_sec: a burst of 2 passes, the 3rd within the second is reset; one log line for many refusals', async () => {
    const mark = hub.proc.mark();
    const before = await failed('limit_rate');
    const socks = Array.from({ length: 6 }, () => net.connect({ port: p.rate, host: '127.0.0.1', allowHalfOpen: true }).on('error', () => undefined));
    // the hub decides in accept order: exactly 2 admitted (they echo), 4 reset
    const served = await Promise.all(socks.map((s) => echoes(s, 5000)));
    expect(served.filter(Boolean)).toHaveLength(2);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'echo', reason: 'limit_rate' }, (v) => v === before + 4);
    const lines = hub.proc.eventsSince(mark, 'open_refused').filter((e) => e.reason === 'limit_rate');
    expect(lines).toHaveLength(1);
    for (const s of socks) s.destroy();
  });

  it('max_flows_per_client_ip: 2 from 127.0.0.1, the 3rd reset; another address is unaffected', async () => {
    const before = await failed('limit_client_ip');
    const a1 = await connectFrom(p.ip);
    const a2 = await connectFrom(p.ip);
    expect([await echoes(a1), await echoes(a2)]).toEqual([true, true]);
    await expectRefused(p.ip);
    const other = await connectFrom(p.ip, '127.0.0.2');
    expect(await echoes(other)).toBe(true);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'echo', reason: 'limit_client_ip' }, (v) => v === before + 1);
    for (const s of [a1, a2, other]) s.destroy();
  });

  it('idle_timeout_sec: a silent client is reset after ~1 s, a chatty one lives on', async () => {
    const mark = hub.proc.mark();
    const before = await failed('idle_timeout');
    const idle = await connectFrom(p.idle);
    const chatty = await connectFrom(p.idle);
    expect([await echoes(idle), await echoes(chatty)]).toEqual([true, true]);
    const closedIdle = readUntilClose(idle, 10_000, true);
    // the chatty client talks every 300 ms while the idle one times out
    let chattyAlive = true;
    for (let i = 0; i < 8 && chattyAlive; i++) chattyAlive = await new Promise<boolean>((r) => setTimeout(() => void echoes(chatty).then(r), 300));
    const info = await closedIdle;
    expect(info.error).toBe('ECONNRESET');
    expect(info.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(chattyAlive).toBe(true);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'echo', reason: 'idle_timeout' }, (v) => v === before + 1);
    expect(await hub.proc.waitForEventSince(mark, 'idle_timeout', (e) => e.listener === 'l_idle', 5000)).toMatchObject({ idle_timeout_sec: 1 });
    chatty.destroy();
  });
});

describe('issue 13 finding 8: 100 idle clients from one address', () => {
  it('before (no limits): they hold all the agent flows and a legitimate client is refused; after: capped per address, reset when idle', async () => {
    // before: l_open has no limits; the hub allows 100 flows per agent
    await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: 'echo' }, (v) => v === 0);
    const idle = [];
    for (let i = 0; i < 100; i++) idle.push(await connectFrom(p.open));
    const heldBefore = await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: 'echo' }, (v) => v === 100);
    const maxFlowsBefore = await failed('max_flows');
    const legitBefore = await connectFrom(p.open, '127.0.0.2');
    const legitBeforeServed = await echoes(legitBefore, 3000);
    legitBefore.destroy();
    const legitBeforeReason = (await failed('max_flows')) > maxFlowsBefore ? 'max_flows' : 'unknown';
    for (const s of idle) s.destroy();
    await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: 'echo' }, (v) => v === 0);

    // after: l_guard caps flows per address (10) and resets idle clients after 2 s
    const refusedBefore = await failed('limit_client_ip');
    const idleAfter = [];
    for (let i = 0; i < 100; i++) idleAfter.push(await attemptFrom(p.guard));
    const refusedAfter = (await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'echo', reason: 'limit_client_ip' }, (v) => v === refusedBefore + 90)) - refusedBefore;
    const admitted = await waitForMetric(hub.httpUrl, 'nowconnect_tcp_active_connections', { connector: 'echo' }, (v) => v === 10);
    const legitAfter = await connectFrom(p.guard, '127.0.0.2');
    const legitAfterServed = await echoes(legitAfter, 3000);
    const idleBefore = await failed('idle_timeout');
    const idleStart = Date.now();
    const idleReset = (await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'echo', reason: 'idle_timeout' }, (v) => v >= idleBefore + 10, { timeoutMs: 10_000 })) - idleBefore;
    const idleResetMs = Date.now() - idleStart;
    const figures = {
      before: { idle_clients_held: heldBefore, legitimate_client_served: legitBeforeServed, legitimate_refusal: legitBeforeReason },
      after: {
        idle_clients_admitted: admitted,
        refused_limit_client_ip: refusedAfter,
        legitimate_client_served: legitAfterServed,
        idle_clients_reset: idleReset,
        idle_reset_within_ms: idleResetMs,
      },
    };
    process.stdout.write(`FINDING_8 ${JSON.stringify(figures)}\n`);
    expect(legitBeforeServed).toBe(false);
    expect(legitAfterServed).toBe(true);
    for (const s of [...idleAfter, legitAfter]) s.destroy();
  });
});
