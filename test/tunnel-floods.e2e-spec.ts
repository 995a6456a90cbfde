/**
 * Issue 13 finding 4 with real processes: ping floods from a peer that never reads. An
 * authenticated agent that floods the hub with tunnel PINGs or WebSocket pings (256 MiB offered
 * each) while reading nothing, and a malicious hub that does the same to an agent. The replies
 * (PONG, ws pong) count against the link's queue cap: a tunnel-PING flood is closed as
 * `slow_consumer` (counter + log line) once its unread PONGs pass the cap; WebSocket pings are
 * answered once per event-loop turn (RFC 6455 5.5.3), so their backlog stays small and the link is
 * closed as dead (no progress: no PONG to our PINGs) after three keepalive intervals (2 s here).
 * Either way the RSS growth of the flooded process stays <= 64 MiB.
 * Each case prints one line with its figure (compare docs/security.md).
 */
import { FrameType } from '@nowconnect/frames';
import { cleanupAll, metricValue, startAgent, startHub, type HubHandle, type JsonEvent, type Proc } from './support';
import { procMemKiB } from './support/flows';
import { startFakeHub, type FakeHub } from './support/fake-hub';
import { floodBlock, floodHub } from './support/ping-flood';
import { openHelloedTunnel } from './support/rawtunnel';

const FLOOD_BYTES = 256 * 1024 * 1024;
const RSS_GROWTH_BOUND_MIB = 64;
const DEADLINE_MS = 120_000;
const mib = (kib: number): number => +(kib / 1024).toFixed(1);
/** Short keepalive so a flood that builds no backlog is judged dead well before 256 MiB. */
const KEEPALIVE_SEC = 2;

/** The first of `events` (name -> predicate) the process logs after `mark`. */
async function firstOf(proc: Proc, mark: number, events: Record<string, (e: JsonEvent) => boolean>, timeoutMs: number): Promise<JsonEvent> {
  return Promise.any(Object.entries(events).map(([name, pred]) => proc.waitForEventSince(mark, name, pred, timeoutMs)));
}

function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

afterAll(async () => {
  await cleanupAll();
});

describe('finding 4: hub flooded by an agent that never reads', () => {
  for (const kind of ['tunnel', 'ws'] as const) {
    it(`${FLOOD_BYTES / 1048576} MiB of ${kind === 'tunnel' ? 'tunnel PINGs: closed as slow_consumer, counted, logged' : 'WebSocket pings: judged dead (no progress)'}; hub RSS growth <= ${RSS_GROWTH_BOUND_MIB} MiB`, async () => {
      const hub: HubHandle = await startHub({ name: `hub:flood-${kind}`, config: { limits: { keepalive_sec: KEEPALIVE_SEC } } });
      const agentId = `flooder-${kind}`;
      const before = procMemKiB(hub.proc.pid!);
      const mark = hub.proc.mark();
      const { result } = await floodHub({
        url: hub.tunnelUrl,
        token: await hub.token(agentId, { scope: 'connector:f' }),
        agentId,
        connectors: ['f'],
        kind,
        totalBytes: FLOOD_BYTES,
        deadlineMs: DEADLINE_MS,
      });
      const mine = (e: JsonEvent): boolean => e.agent_id === agentId;
      const ended = await firstOf(hub.proc, mark, { tunnel_slow_consumer: mine, agent_dead: mine }, 10_000);
      const after = procMemKiB(hub.proc.pid!);
      const counted = metricValue(await hub.metrics(), 'nowconnect_tunnel_slow_consumer_total');
      const line = {
        kind,
        offered_mib: FLOOD_BYTES / 1048576,
        sent_before_close_mib: result.sent_mib,
        closed_by_hub: result.closed,
        closed_as: ended.event,
        close_ms: result.ms,
        queued_at_close_mib: typeof ended.queued_bytes === 'number' ? +(ended.queued_bytes / 1048576).toFixed(1) : null,
        hub_rss_before_mib: mib(before.rssKiB),
        hub_rss_peak_mib: mib(after.hwmKiB),
        hub_rss_growth_mib: mib(after.hwmKiB - before.rssKiB),
        counted,
      };
      process.stdout.write(`TUNNEL_PING_FLOOD ${JSON.stringify(line)}\n`);
      expect(result.closed).toBe(true);
      // Tunnel PINGs: each one is answered, the unread PONGs pass the cap. WebSocket pings: one pong per turn, no progress.
      expect(ended.event).toBe(kind === 'tunnel' ? 'tunnel_slow_consumer' : 'agent_dead');
      expect(counted).toBe(kind === 'tunnel' ? 1 : 0);
      expect(line.hub_rss_growth_mib).toBeLessThanOrEqual(RSS_GROWTH_BOUND_MIB);
      expect((await hub.get('/healthz')).status).toBe(200);
      await hub.stop();
    }, DEADLINE_MS + 60_000);
  }

  it('a peer that sends PINGs but never answers the hub\'s is judged dead after three keepalive intervals', async () => {
    const hub = await startHub({ name: 'hub:ping-only', config: { limits: { keepalive_sec: KEEPALIVE_SEC } } });
    const tunnel = await openHelloedTunnel(hub.tunnelUrl, await hub.token('ping-only', { scope: 'connector:p' }), { agent_id: 'ping-only', connectors: ['p'] });
    const mark = hub.proc.mark();
    const started = Date.now();
    // 5 PINGs a second, never a PONG: the old hub took every frame as a sign of life.
    const { encodePing } = await import('@nowconnect/frames');
    const timer = setInterval(() => void tunnel.send(encodePing(FrameType.PING, Buffer.alloc(8))).catch(() => undefined), 200);
    try {
      await hub.proc.waitForEventSince(mark, 'agent_dead', (e) => e.agent_id === 'ping-only', 10_000);
      const closed = await tunnel.closed;
      const line = { keepalive_sec: KEEPALIVE_SEC, judged_dead_after_ms: Date.now() - started, close_code: closed.code, pongs_from_hub: tunnel.frames.filter((f) => f.type === FrameType.PONG).length };
      process.stdout.write(`TUNNEL_PING_ONLY ${JSON.stringify(line)}\n`);
      expect(line.judged_dead_after_ms).toBeLessThan((4 * KEEPALIVE_SEC + 1) * 1000);
      expect(line.pongs_from_hub).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
      tunnel.ws.terminate();
    }
    await hub.stop();
  }, 30_000);
});

describe('finding 4: agent flooded by a hub that never reads', () => {
  let fake: FakeHub;
  beforeAll(async () => {
    fake = await startFakeHub({ keepaliveSec: KEEPALIVE_SEC });
  });
  afterAll(async () => {
    await fake.close();
  });

  for (const kind of ['tunnel', 'ws'] as const) {
    it(`${FLOOD_BYTES / 1048576} MiB of ${kind === 'tunnel' ? 'tunnel PINGs from the hub: the agent closes as slow_consumer (logged)' : 'WebSocket pings from the hub: the agent judges it dead'}, RSS growth <= ${RSS_GROWTH_BOUND_MIB} MiB`, async () => {
      const agent = await startAgent({ name: `agent:flooded-${kind}`, agentId: `flooded-${kind}`, token: 'x', urls: [fake.url], connectors: { c: '127.0.0.1:9' } });
      const conn = await fake.nextConn(`flooded-${kind}`);
      const mark = agent.proc.mark();
      const before = procMemKiB(agent.proc.pid!);
      const block = floodBlock(kind, false);
      const sock = conn.socket;
      sock.removeAllListeners('data');
      sock.pause(); // never read what the agent answers
      const started = Date.now();
      let sent = 0;
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      await new Promise<void>((resolve) => {
        const pump = (): void => {
          while (!sock.destroyed && sent < FLOOD_BYTES) {
            sent += block.length;
            if (!sock.write(block)) {
              sock.once('drain', pump);
              return;
            }
          }
          resolve();
        };
        sock.once('close', () => resolve());
        pump();
      });
      await closed;
      const closeMs = Date.now() - started;
      const ended = await firstOf(agent.proc, mark, { tunnel_slow_consumer: () => true, cloud_dead: () => true }, 10_000);
      const after = procMemKiB(agent.proc.pid!);
      const line = {
        kind,
        offered_mib: FLOOD_BYTES / 1048576,
        sent_before_close_mib: +(Math.min(sent, FLOOD_BYTES) / 1048576).toFixed(1),
        close_ms: closeMs,
        closed_as: ended.event,
        agent_rss_before_mib: mib(before.rssKiB),
        agent_rss_peak_mib: mib(after.hwmKiB),
        agent_rss_growth_mib: mib(after.hwmKiB - before.rssKiB),
        logged: eventsSince(agent.proc, mark, 'tunnel_slow_consumer').length,
      };
      process.stdout.write(`AGENT_PING_FLOOD ${JSON.stringify(line)}\n`);
      expect(sent).toBeLessThan(FLOOD_BYTES);
      expect(ended.event).toBe(kind === 'tunnel' ? 'tunnel_slow_consumer' : 'cloud_dead');
      expect(line.agent_rss_growth_mib).toBeLessThanOrEqual(RSS_GROWTH_BOUND_MIB);
      expect(agent.proc.running).toBe(true);
      await agent.stop();
    }, DEADLINE_MS + 60_000);
  }
});
