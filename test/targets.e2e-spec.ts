/**
 * Issue 18 with real processes: connectors with several targets (NC_CONNECTORS pipe form and
 * premise.yaml), skip-to-next on a dead target, LDAP health checks with fall/rise against two real
 * slapd servers under load, no_healthy_target, and the hub's nowconnect_target_up.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client } from 'ldapts';
import { stringify } from 'yaml';
import {
  LDAP_BASE_DN,
  LDAP_BIG_DESCRIPTION_CHARS,
  LDAP_SEED_UIDS,
  cleanupAll,
  connectTcp,
  freePorts,
  listener,
  makeTmpDir,
  metricValue,
  readUntilClose,
  restartSlapd,
  startAgentConnected,
  startEchoServer,
  startHub,
  startSlapd,
  waitForMetric,
  type AgentHandle,
  type HubHandle,
  type JsonEvent,
  type SlapdHandle,
  type TargetServer,
} from './support';
import { encodeControl, encodeFrame, FrameType, encodePing, decodeHelloAck } from '@nowconnect/frames';
import { openHelloedTunnel } from './support/rawtunnel';

const AT_ONCE_MS = 1000;
const HEALTH = { interval_sec: 1, timeout_ms: 500, fall: 2, rise: 2 };

type Outcome = 'ok' | 'failed' | 'truncated';

/** One anonymous LDAP search through the hub: complete (every seeded entry, alice's full description), failed, or truncated. */
async function ldapFlow(port: number): Promise<Outcome> {
  const client = new Client({ url: `ldap://127.0.0.1:${port}`, timeout: 8000, connectTimeout: 8000 });
  try {
    const { searchEntries } = await client.search(`ou=people,${LDAP_BASE_DN}`, { scope: 'sub', filter: '(objectClass=inetOrgPerson)', attributes: ['uid', 'description'] });
    const uids = searchEntries.map((e) => String(e['uid'])).sort();
    const alice = searchEntries.find((e) => e['uid'] === 'alice');
    const complete = JSON.stringify(uids) === JSON.stringify([...LDAP_SEED_UIDS].sort()) && String(alice?.['description'] ?? '').length === LDAP_BIG_DESCRIPTION_CHARS;
    return complete ? 'ok' : 'truncated';
  } catch {
    return 'failed';
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

/** Runs ldapFlow with `concurrency` workers until stop() is called (or maxFlows ran); counts outcomes. */
function ldapLoad(port: number, concurrency: number, maxFlows = 100_000): { stop(): Promise<Record<Outcome, number>> } {
  const counts: Record<Outcome, number> = { ok: 0, failed: 0, truncated: 0 };
  let stopping = false;
  let started = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopping && started < maxFlows) {
      started++;
      counts[await ldapFlow(port)]++;
    }
  });
  return {
    stop: async () => {
      stopping = true;
      await Promise.all(workers);
      return counts;
    },
  };
}

function premiseYaml(dir: string, connectors: unknown[]): string {
  const file = path.join(dir, 'premise.yaml');
  fs.writeFileSync(file, stringify({ connectors }));
  return file;
}

describe('targets: several targets per connector', () => {
  let hub: HubHandle;
  let agent: AgentHandle;
  let slapd1: SlapdHandle;
  let slapd2: SlapdHandle;
  let echoA: TargetServer;
  let echoB: TargetServer;
  let ports: { pipe: number; ldap: number; tcp: number; deadTarget: number };

  beforeAll(async () => {
    [slapd1, slapd2, echoA, echoB] = await Promise.all([startSlapd(), startSlapd(), startEchoServer(), startEchoServer()]);
    const p = await freePorts(4);
    ports = { pipe: p[0]!, ldap: p[1]!, tcp: p[2]!, deadTarget: p[3]! };
    hub = await startHub({
      config: {
        listeners: [listener('l_pipe', 'pipe', ports.pipe), listener('l_ldap', 'ad', ports.ldap), listener('l_tcp', 'tcpc', ports.tcp)],
      },
      waitReady: true,
    });
    const dir = makeTmpDir('nc-targets-');
    const config = premiseYaml(dir, [
      // failover with a dead first target: every flow skips it
      { name: 'pipe', targets: [`127.0.0.1:${ports.deadTarget}`, `127.0.0.1:${slapd1.port}`], connect_timeout_ms: 1000 },
      {
        name: 'ad',
        targets: [`127.0.0.1:${slapd1.port}`, `127.0.0.1:${slapd2.port}`],
        strategy: 'round_robin',
        connect_timeout_ms: 1000,
        health: { ...HEALTH, kind: 'ldap' },
      },
      { name: 'tcpc', targets: [`127.0.0.1:${echoA.port}`, `127.0.0.1:${echoB.port}`], strategy: 'least_flows', health: { ...HEALTH, fall: 1, kind: 'tcp' } },
    ]);
    agent = await startAgentConnected(hub, { agentId: 'targets-agent', connectors: {}, env: { NC_CONFIG: config } });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([echoA?.close(), echoB?.close()]);
    await slapd1?.stop().catch(() => undefined);
    await slapd2?.stop().catch(() => undefined);
    await cleanupAll();
  });

  it('NC_CONNECTORS accepts name=host:port|host:port (parsed by the real agent binary)', async () => {
    const pipeHub = await startHub({ config: { listeners: [listener('l_env', 'envc', (await freePorts(1))[0]!)] } });
    const a = await startAgentConnected(pipeHub, { agentId: 'pipe-agent', connectors: { envc: `127.0.0.1:${ports.deadTarget}|127.0.0.1:${echoA.port}` } });
    const started = a.proc.eventsNamed('agent_started')[0]!;
    expect(started['connectors']).toEqual([{ name: 'envc', targets: [`127.0.0.1:${ports.deadTarget}`, `127.0.0.1:${echoA.port}`], strategy: 'failover', health: 'off' }]);
    const port = (pipeHub.config['listeners'] as Array<{ bind: string }>)[0]!.bind.split(':')[1]!;
    const s = await connectTcp(Number(port));
    s.end('hello');
    const info = await readUntilClose(s, 10_000);
    expect(info.data.toString()).toBe('hello');
    await a.stop();
    await pipeHub.stop();
  });

  it('failover: a dead first target costs each flow one refused dial, never the flow', async () => {
    const mark = agent.proc.mark();
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => ldapFlow(ports.pipe)));
    expect(outcomes).toEqual(Array(8).fill('ok'));
    const skipped = agent.proc.eventsSince(mark, 'target_connect_failed').filter((e) => e.connector === 'pipe');
    expect(skipped).toHaveLength(8);
    expect(skipped[0]).toMatchObject({ target: `127.0.0.1:${ports.deadTarget}`, reason: 'refused', next: `127.0.0.1:${slapd1.port}` });
    const opened = agent.proc.eventsSince(mark, 'connection_open').filter((e) => e.connector === 'pipe');
    expect(opened.map((e) => [e.target, e.attempts])).toEqual(Array(8).fill([`127.0.0.1:${slapd1.port}`, 2]));
    await waitForMetric(hub.httpUrl, 'nowconnect_target_connect_failures_total', { connector: 'pipe', reason: 'refused' }, (v) => v >= 8);
    // no health checks on this connector: both targets count as up (reported, never probed)
    expect(metricValue(await hub.metrics(), 'nowconnect_target_up', { connector: 'pipe', target: `127.0.0.1:${ports.deadTarget}` })).toBe(1);
  });

  it('kill one slapd under load: only flows already on it fail (closed as its kernel closed them, never a truncated answer); it is skipped, then used again after rise', async () => {
    const t1 = `127.0.0.1:${slapd1.port}`;
    const t2 = `127.0.0.1:${slapd2.port}`;
    await waitForMetric(hub.httpUrl, 'nowconnect_target_up', { connector: 'ad', target: t2 }, (v) => v === 1);
    // 4 idle LDAP client connections held open across the kill (round_robin puts 2 on each target)
    const heldMark = agent.proc.mark();
    const held = await Promise.all(Array.from({ length: 4 }, () => connectTcp(ports.ldap)));
    const heldEnds = held.map((sock) => readUntilClose(sock, 60_000).then((info) => (info.error !== undefined ? `reset(${info.error})` : info.ended ? 'fin' : 'closed')));
    const heldOpens = await agent.proc.waitForEventSince(heldMark, 'connection_open', () => agent.proc.eventsSince(heldMark, 'connection_open').filter((e) => e.connector === 'ad').length >= 4, 10_000).then(() =>
      agent.proc.eventsSince(heldMark, 'connection_open').filter((e) => e.connector === 'ad'),
    );
    const heldOnT2 = heldOpens.filter((e) => e.target === t2).length;
    const load = ldapLoad(ports.ldap, 4);
    const mark = agent.proc.mark();
    // both targets carry flows before the kill (round_robin)
    await agent.proc.waitForEventSince(mark, 'connection_open', (e) => e.connector === 'ad' && e.target === t2, 20_000);
    const killMark = agent.proc.mark();
    const killedAt = Date.now();
    await slapd2.proc.kill();
    const deadAt = Date.now();
    const unhealthy = await agent.proc.waitForEventSince(killMark, 'target_unhealthy', (e) => e.target === t2, 20_000);
    const unhealthyAt = Date.parse(String(unhealthy.ts));
    // after the verdict, flows go straight to slapd1 (one dial, no connect timeout)
    const clean = await agent.proc.waitForEventSince(killMark, 'connection_open', (e) => e.connector === 'ad' && e.target === t1 && Date.parse(String(e.ts)) > unhealthyAt && e.attempts === undefined, 20_000);
    const firstSkip = agent.proc.eventsSince(killMark, 'connection_open').find((e) => e.connector === 'ad' && e.attempts !== undefined);
    const during = await load.stop();
    // the held connections on slapd2 were closed under the client (no hang); the others are still open
    const ends: string[] = Array(held.length).fill('open');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`held connections closed: ${JSON.stringify(ends)} (expected ${heldOnT2})`)), 10_000);
      heldEnds.forEach((p, i) =>
        void p.then((how) => {
          ends[i] = how;
          if (ends.filter((x) => x !== 'open').length >= heldOnT2) {
            clearTimeout(timer);
            resolve();
          }
        }),
      );
    });
    const heldAfter = [...ends];
    const openedAfterKill = agent.proc.eventsSince(killMark, 'connection_open').filter((e) => e.connector === 'ad');
    await waitForMetric(hub.httpUrl, 'nowconnect_target_up', { connector: 'ad', target: t2 }, (v) => v === 0);

    const figures = {
      outcomes: during,
      held_connections: { on_killed_target: heldOnT2, after_kill: heldAfter },
      flows_opened_after_kill: openedAfterKill.length,
      kill_to_first_skip_ms: firstSkip === undefined ? null : Date.parse(String(firstSkip.ts)) - killedAt,
      kill_to_target_unhealthy_ms: unhealthyAt - killedAt,
      kill_to_first_flow_routed_around_without_a_dial_ms: Date.parse(String(clean.ts)) - killedAt,
    };
    process.stdout.write(`TARGET_KILL_LDAP ${JSON.stringify(figures)}\n`);
    expect(during.truncated).toBe(0);
    expect(heldOnT2).toBe(2);
    expect(heldAfter.filter((x) => x !== 'open')).toHaveLength(heldOnT2);
    expect(heldAfter.filter((x) => x === 'open')).toHaveLength(4 - heldOnT2);
    for (const sock of held) sock.destroy();
    expect(during.ok).toBeGreaterThan(0);
    // only the (at most 4 concurrent) flows in flight on slapd2 at the kill may fail
    expect(during.failed).toBeLessThanOrEqual(4);
    // once slapd2 is gone, every new flow lands on slapd1 (a dial to slapd2 is refused and skipped)
    expect(openedAfterKill.filter((e) => Date.parse(String(e.ts)) > deadAt).every((e) => e.target === t1)).toBe(true);

    // it comes back: used again once `rise` checks pass
    const backMark = agent.proc.mark();
    slapd2 = await restartSlapd(slapd2);
    await agent.proc.waitForEventSince(backMark, 'target_healthy', (e) => e.target === t2, 20_000);
    await waitForMetric(hub.httpUrl, 'nowconnect_target_up', { connector: 'ad', target: t2 }, (v) => v === 1);
    const after = await Promise.all(Array.from({ length: 6 }, () => ldapFlow(ports.ldap)));
    expect(after).toEqual(Array(6).fill('ok'));
    const targetsAfter = new Set(agent.proc.eventsSince(backMark, 'connection_open').filter((e) => e.connector === 'ad').map((e) => e.target));
    expect(targetsAfter).toEqual(new Set([t1, t2]));
  });

  it('kind ldap catches a wedged server that still accepts TCP (SIGSTOP): unhealthy on timeouts, flows avoid it, back after SIGCONT', async () => {
    const t1 = `127.0.0.1:${slapd1.port}`;
    const t2 = `127.0.0.1:${slapd2.port}`;
    await waitForMetric(hub.httpUrl, 'nowconnect_target_up', { connector: 'ad', target: t2 }, (v) => v === 1);
    const mark = agent.proc.mark();
    slapd2.proc.signal('SIGSTOP');
    try {
      const ev = await agent.proc.waitForEventSince(mark, 'target_unhealthy', (e) => e.target === t2, 20_000);
      expect(ev).toMatchObject({ connector: 'ad', kind: 'ldap', reason: 'timeout' });
      await waitForMetric(hub.httpUrl, 'nowconnect_target_up', { connector: 'ad', target: t2 }, (v) => v === 0);
      const flowsMark = agent.proc.mark();
      expect(await Promise.all(Array.from({ length: 6 }, () => ldapFlow(ports.ldap)))).toEqual(Array(6).fill('ok'));
      const targets = agent.proc.eventsSince(flowsMark, 'connection_open').filter((e) => e.connector === 'ad').map((e) => e.target);
      expect(targets).toEqual(Array(6).fill(t1));
    } finally {
      slapd2.proc.signal('SIGCONT');
    }
    await agent.proc.waitForEventSince(mark, 'target_healthy', (e) => e.target === t2, 20_000);
  });

  it('least_flows spreads open flows over both targets; all targets down -> refused at once with no_healthy_target', async () => {
    const spreadMark = agent.proc.mark();
    const held = await Promise.all(Array.from({ length: 4 }, () => connectTcp(ports.tcp)));
    await Promise.all(
      held.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.once('data', () => resolve());
            s.write('x');
          }),
      ),
    );
    const tcpcOpens = (): JsonEvent[] => agent.proc.eventsSince(spreadMark, 'connection_open').filter((e) => e.connector === 'tcpc');
    await agent.proc.waitForEventSince(spreadMark, 'connection_open', () => tcpcOpens().length >= 4, 10_000);
    const spread = tcpcOpens();
    expect(spread.filter((e) => e.target === `127.0.0.1:${echoA.port}`)).toHaveLength(2);
    expect(spread.filter((e) => e.target === `127.0.0.1:${echoB.port}`)).toHaveLength(2);
    for (const s of held) s.destroy();

    const mark = hub.proc.mark();
    const before = metricValue(await hub.metrics(), 'nowconnect_open_failed_total', { connector: 'tcpc', reason: 'no_healthy_target' });
    await Promise.all([echoA.close(), echoB.close()]);
    await waitForMetric(hub.httpUrl, 'nowconnect_target_up', { connector: 'tcpc', target: `127.0.0.1:${echoA.port}` }, (v) => v === 0);
    await waitForMetric(hub.httpUrl, 'nowconnect_target_up', { connector: 'tcpc', target: `127.0.0.1:${echoB.port}` }, (v) => v === 0);
    // refused with a reset at once (which can beat Node's 'connect' event: no connectTcp here)
    const t0 = Date.now();
    const info = await readUntilClose(net.connect({ port: ports.tcp, host: '127.0.0.1' }), 5000);
    expect(info.bytes).toBe(0);
    expect(info.error).toBe('ECONNRESET');
    expect(Date.now() - t0).toBeLessThan(AT_ONCE_MS);
    await waitForMetric(hub.httpUrl, 'nowconnect_open_failed_total', { connector: 'tcpc', reason: 'no_healthy_target' }, (v) => v === before + 1);
    const ev = await hub.proc.waitForEventSince(mark, 'open_refused', (e) => e.reason === 'no_healthy_target', 5000);
    expect(ev).toMatchObject({ listener: 'l_tcp', connector: 'tcpc' });
    expect(hub.proc.eventsSince(mark, 'connection_open').filter((e) => e.connector === 'tcpc')).toHaveLength(0);
    expect(agent.proc.eventsNamed('target_unhealthy').filter((e) => e.connector === 'tcpc')).toHaveLength(2);
  });

  it('two agents serve one connector: the hub routes only to the agent whose connector has a healthy target', async () => {
    const live = await startEchoServer();
    const dead = (await freePorts(1))[0]!; // nothing listens there
    const port = (await freePorts(1))[0]!;
    const h = await startHub({ config: { listeners: [listener('l_dual', 'dual', port)] }, waitReady: true });
    const dir = makeTmpDir('nc-targets-dual-');
    const sick = await startAgentConnected(h, {
      agentId: 'sick-agent',
      connectors: {},
      env: { NC_CONFIG: premiseYaml(dir, [{ name: 'dual', targets: [`127.0.0.1:${dead}`], health: { ...HEALTH, fall: 1, kind: 'tcp' } }]) },
    });
    await startAgentConnected(h, { agentId: 'well-agent', connectors: { dual: `127.0.0.1:${live.port}` } });
    await waitForMetric(h.httpUrl, 'nowconnect_target_up', { connector: 'dual', target: `127.0.0.1:${dead}` }, (v) => v === 0);
    const mark = h.proc.mark();
    for (let i = 0; i < 6; i++) {
      const s = await connectTcp(port);
      s.end(`flow ${i}`);
      expect((await readUntilClose(s, 10_000)).data.toString()).toBe(`flow ${i}`);
    }
    const routed = h.proc.eventsSince(mark, 'connection_open').map((e) => e.agent_id);
    expect(routed).toEqual(Array(6).fill('well-agent'));
    expect(sick.proc.eventsNamed('target_unhealthy')).toHaveLength(1);
    await live.close();
  });

  it('TARGET_HEALTH on the wire: announced in HELLO_ACK; garbage, a newer version or a foreign connector is ignored and counted, the link stays up; a good report routes', async () => {
    const port = (await freePorts(1))[0]!;
    const h = await startHub({ config: { listeners: [listener('l_raw', 'rawc', port)] }, waitReady: true });
    const t = await openHelloedTunnel(h.tunnelUrl, await h.token('raw-health'), { agent_id: 'raw-health', connectors: ['rawc'] });
    const ack = decodeHelloAck(t.frames.find((f) => f.type === FrameType.HELLO_ACK)!.payload);
    expect(ack).toMatchObject({ target_health: 1 });
    const mark = h.proc.mark();
    await t.send(encodeFrame(FrameType.TARGET_HEALTH, 0, Buffer.from('{"v":1,"connectors":[{"name":')));
    await t.send(encodeControl(FrameType.TARGET_HEALTH, { v: 2, connectors: [] }));
    await t.send(encodeControl(FrameType.TARGET_HEALTH, { v: 1, connectors: [{ name: 'other', targets: [{ target: 'x:1', up: true }] }] }));
    for (const reason of ['malformed', 'version', 'unknown_connector']) {
      await waitForMetric(h.httpUrl, 'nowconnect_target_health_ignored_total', { reason }, (v) => v === 1);
    }
    expect(h.proc.eventsSince(mark, 'target_health_ignored')).toHaveLength(3);
    // the link is still up: a PING is answered
    await t.send(encodePing(FrameType.PING, Buffer.alloc(8, 7)));
    await t.waitForFrame(FrameType.PONG, 5000);
    // a good report: all down -> refused with no_healthy_target; counts added to the failures counter
    await t.send(encodeControl(FrameType.TARGET_HEALTH, { v: 1, connectors: [{ name: 'rawc', targets: [{ target: 'db:5432', up: false }], failures: { refused: 3 } }] }));
    await waitForMetric(h.httpUrl, 'nowconnect_target_up', { connector: 'rawc', target: 'db:5432' }, (v) => v === 0);
    await waitForMetric(h.httpUrl, 'nowconnect_target_connect_failures_total', { connector: 'rawc', reason: 'refused' }, (v) => v === 3);
    const info = await readUntilClose(net.connect({ port, host: '127.0.0.1' }), 5000);
    expect(info.error).toBe('ECONNRESET');
    await waitForMetric(h.httpUrl, 'nowconnect_open_failed_total', { connector: 'rawc', reason: 'no_healthy_target' }, (v) => v === 1);
    expect(t.frames.filter((f) => f.type === FrameType.OPEN)).toHaveLength(0); // never routed to the agent
    t.ws.terminate();
  });
});
