/**
 * Issue 13 (trust boundaries), the tunnel / agent / HTTP findings, with real processes on loopback:
 *  5. an agent that never answers OPEN: the flow is reset after limits.open_timeout_sec;
 *  6. slow request bodies and slow second heads on server.bind: closed after server.request_timeout_sec;
 *  7. a hub that floods OPENs: the agent answers RST agent_busy over limits.max_pending_connects / max_flows;
 *  9. live credentials: scope required, key files re-read, in-band re-authentication, expiry closes 4003.
 * Each prints one line with its figure (compare docs/security.md).
 */
import * as net from 'node:net';
import { FrameType } from '@nowconnect/frames';
import {
  cleanupAll,
  connectTcp,
  freePorts,
  listener,
  metricValue,
  readUntilClose,
  startHub,
  waitForMetric,
  type HubHandle,
  type JsonEvent,
  type Proc,
} from './support';
import { openHelloedTunnel } from './support/rawtunnel';

function eventsSince(proc: Proc, mark: number, name: string): JsonEvent[] {
  const dropped = proc.mark() - proc.events.length;
  return proc.events.slice(Math.max(0, mark - dropped)).filter((e) => e.event === name);
}

async function metricOf(h: HubHandle, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue(await h.metrics(), name, labels);
}

afterAll(async () => {
  await cleanupAll();
});

describe('finding 5: OPEN_ACK timeout', () => {
  const OPEN_TIMEOUT_SEC = 2;
  const CLIENTS = 20;

  it(`an agent that answers nothing: each of ${CLIENTS} clients is reset after limits.open_timeout_sec, counted (reason timeout) and logged`, async () => {
    const [port] = (await freePorts(1)) as [number];
    const hub = await startHub({
      name: 'hub:open-timeout',
      config: { listeners: [listener('l_noack', 'noack', port)], limits: { open_timeout_sec: OPEN_TIMEOUT_SEC } },
    });
    const token = await hub.token('noack-agent', { scope: 'connector:noack' });
    const tunnel = await openHelloedTunnel(hub.tunnelUrl, token, { agent_id: 'noack-agent', connectors: ['noack'] });
    const mark = hub.proc.mark();
    const clients: net.Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(await connectTcp(port));
    const closes = await Promise.all(clients.map((s) => readUntilClose(s, (OPEN_TIMEOUT_SEC + 8) * 1000)));
    const heldMs = closes.map((c) => c.elapsedMs);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'noack', reason: 'timeout' }, (v) => v === CLIENTS);
    const opens = tunnel.frames.filter((f) => f.type === FrameType.OPEN).length;
    const rsts = tunnel.frames.filter((f) => f.type === FrameType.RST).length;
    const logged = eventsSince(hub.proc, mark, 'open_failed').filter((e) => e.reason === 'timeout');
    const line = { clients: CLIENTS, open_timeout_sec: OPEN_TIMEOUT_SEC, held_ms_min: Math.min(...heldMs), held_ms_max: Math.max(...heldMs), opens_seen: opens, rst_to_agent: rsts, logged: logged.length };
    process.stdout.write(`OPEN_TIMEOUT ${JSON.stringify(line)}\n`);
    expect(opens).toBe(CLIENTS);
    expect(rsts).toBe(CLIENTS);
    expect(logged).toHaveLength(CLIENTS);
    expect(line.held_ms_min).toBeGreaterThanOrEqual(OPEN_TIMEOUT_SEC * 1000 - 500);
    expect(line.held_ms_max).toBeLessThan((OPEN_TIMEOUT_SEC + 3) * 1000);
    expect(await metricOf(hub, 'nowconnect_tcp_active_connections', { connector: 'noack' })).toBe(0);
    tunnel.ws.terminate();
  }, 60_000);
});
