/**
 * The user's CI health gate: anonymous `ldapsearch` against a real OpenLDAP slapd through the hub's
 * listener (connector "addomain") must print exactly what a direct search prints, and the hub's
 * per-connector counters must account for it.
 */
import {
  LDAP_BIG_DESCRIPTION_CHARS,
  LDAP_SEED_UIDS,
  cleanupAll,
  freePort,
  ldapsearch,
  listener,
  startAgentConnected,
  startHub,
  startSlapd,
  waitForMetric,
  type AgentHandle,
  type HubHandle,
  type SlapdHandle,
} from './support';
import { snapshot } from './support/flows';

const CONNECTOR = 'addomain';
const METRICS = {
  conns: { name: 'nowconnect_tcp_connections_total', labels: { connector: CONNECTOR } },
  c2a: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'c2a', connector: CONNECTOR } },
  a2c: { name: 'nowconnect_tcp_bytes_total', labels: { direction: 'a2c', connector: CONNECTOR } },
  active: { name: 'nowconnect_tcp_active_connections', labels: { connector: CONNECTOR } },
};

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

describe('ldap: ldapsearch through the tunnel equals ldapsearch against slapd', () => {
  let slapd: SlapdHandle;
  let hub: HubHandle;
  let agent: AgentHandle;
  let listenPort: number;

  beforeAll(async () => {
    slapd = await startSlapd();
    closers.push(() => slapd.stop());
    listenPort = await freePort();
    hub = await startHub({ config: { listeners: [listener('ldap', CONNECTOR, listenPort)] }, waitReady: true });
    await hub.proc.waitForEvent('listener_started', (e) => e.connector === CONNECTOR);
    agent = await startAgentConnected(hub, {
      agentId: 'ldap-agent',
      connectors: { [CONNECTOR]: `127.0.0.1:${slapd.port}` },
    });
    closers.push(() => agent.stop(), () => hub.stop());
  });

  it('anonymous searches print identical output, with the seeded uids, and the addomain counters account for them', async () => {
    const viaHub = `ldap://127.0.0.1:${listenPort}`;
    const searches: Array<{ filter: string; attrs?: string[] }> = [
      { filter: '(objectClass=inetOrgPerson)', attrs: ['uid', 'cn', 'mail'] },
      { filter: '(uid=alice)' }, // the big entry: spans several TCP segments
      { filter: '(objectClass=*)' }, // the whole tree
    ];
    const before = await snapshot(hub.httpUrl, METRICS);

    let directBytes = 0;
    for (const s of searches) {
      const direct = await ldapsearch(slapd.url, slapd.baseDn, s.filter, { attrs: s.attrs });
      const tunneled = await ldapsearch(viaHub, slapd.baseDn, s.filter, { attrs: s.attrs });
      expect({ filter: s.filter, code: direct.code, stderr: direct.stderr }).toEqual({ filter: s.filter, code: 0, stderr: '' });
      expect({ filter: s.filter, code: tunneled.code, stderr: tunneled.stderr }).toEqual({
        filter: s.filter,
        code: 0,
        stderr: '',
      });
      expect(tunneled.stdout).toBe(direct.stdout);
      directBytes += Buffer.byteLength(direct.stdout);
    }

    // seeded content is there (a non-empty equal pair proves nothing on its own)
    const first = await ldapsearch(viaHub, slapd.baseDn, '(objectClass=inetOrgPerson)', { attrs: ['uid'] });
    expect(first.code).toBe(0);
    const uids = [...first.stdout.matchAll(/^uid: (\S+)$/gm)].map((m) => m[1]).sort();
    expect(uids).toEqual([...LDAP_SEED_UIDS].sort());
    const alice = await ldapsearch(viaHub, slapd.baseDn, '(uid=alice)', { attrs: ['description'] });
    expect(/^description: (.*)$/m.exec(alice.stdout)?.[1]?.length).toBe(LDAP_BIG_DESCRIPTION_CHARS);
    const extra = 2; // the two searches just above
    const n = searches.length + extra;
    const directUidsBytes = Buffer.byteLength(first.stdout) + Buffer.byteLength(alice.stdout);

    // every search was one TCP connection on the addomain listener; all closed afterwards
    await waitForMetric(hub.httpUrl, METRICS.active.name, METRICS.active.labels, (v) => v === 0);
    const conns = await waitForMetric(hub.httpUrl, METRICS.conns.name, METRICS.conns.labels, (v) => v >= before.conns! + n);
    const after = await snapshot(hub.httpUrl, METRICS);
    expect(conns - before.conns!).toBe(n);
    expect(after.conns! - before.conns!).toBe(n);
    const c2a = after.c2a! - before.c2a!;
    const a2c = after.a2c! - before.a2c!;
    expect(c2a).toBeGreaterThan(0);
    // the BER-encoded replies carry at least every byte of the LDIF text ldapsearch printed
    expect(a2c).toBeGreaterThanOrEqual(directBytes + directUidsBytes);
    console.log(
      `ldap: ${n} searches through the hub; connections delta ${after.conns! - before.conns!}, ` +
        `c2a delta ${c2a} B, a2c delta ${a2c} B, LDIF printed ${directBytes + directUidsBytes} B`,
    );
  });

  it('a search through the hub fails cleanly ("Can\'t contact LDAP server", no hang) when the agent is gone, and counts no_agent', async () => {
    const before = await snapshot(hub.httpUrl, {
      noAgent: { name: 'nowconnect_no_agent_total', labels: { connector: CONNECTOR } },
      conns: METRICS.conns,
    });
    const mark = hub.proc.mark();
    await agent.stop();
    await hub.proc.waitForEventSince(mark, 'agent_disconnected', (e) => e.agent_id === 'ldap-agent');
    const t0 = Date.now();
    const r = await ldapsearch(`ldap://127.0.0.1:${listenPort}`, slapd.baseDn, '(uid=bob)', { timeoutMs: 10_000 });
    const elapsed = Date.now() - t0;
    // accepted then closed at once: ldapsearch reports -1 (server down) from ldap_result, exit 254
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Can't contact LDAP server (-1)");
    expect(r.stdout).toBe('');
    expect(elapsed).toBeLessThan(5000);
    const noAgent = await waitForMetric(hub.httpUrl, 'nowconnect_no_agent_total', { connector: CONNECTOR }, (v) => v >= before.noAgent! + 1);
    expect(noAgent - before.noAgent!).toBe(1); // one refused connection, counted once
    const after = await snapshot(hub.httpUrl, { conns: METRICS.conns });
    expect(after.conns).toBe(before.conns); // refused connections are not routed flows
    await hub.proc.waitForEventSince(mark, 'no_agent_for_connector', (e) => e.connector === CONNECTOR);
  });
});
