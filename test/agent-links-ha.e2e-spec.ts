/**
 * Agent links with HA (issue 15): two replicas in active mode on one redis-server, and the agent
 * given ONE URL — a round-robin TCP load balancer (test/support/round-robin-proxy.ts) in front of
 * both. HELLO_ACK says `replicas: 2`, so the agent re-dials through the balancer until it holds a
 * link to each replica (a landing on the replica it already holds is refused with 4009 and retried).
 *
 * NEEDS the registry "holders" change (several replicas holding one agent): with a single owner per
 * agent, the second link's claim fences the first hub's tunnel (4001) and the links flap.
 */
import { cleanupAll, pumpEcho, startAgent, startEchoServer, startRedis, startRoundRobinProxy, type TargetServer } from './support';
import { linkUp, meshHub, type MeshHub } from './chaos/support/cluster';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

async function exactFlow(port: number, bytes = 256 * 1024): Promise<void> {
  const r = await pumpEcho(port, bytes, { timeoutMs: 20_000 });
  expect(r.recvBytes).toBe(bytes);
  expect(r.recvSha).toBe(r.sentSha);
}

describe('agent links: two HA replicas through one load-balanced URL', () => {
  let echo: TargetServer;
  let a: MeshHub;
  let b: MeshHub;

  it('(c) one link to each replica; killing one leaves flows via the other unrefused; the link comes back', async () => {
    echo = await startEchoServer();
    closers.push(() => echo.close());
    const redis = await startRedis();
    closers.push(() => redis.kill());
    const secret = 'agent-links-ha-secret-0123456789abcdef';
    a = await meshHub('hub-a', { redis, secret, connector: 'echo' });
    closers.push(() => a.kill());
    b = await meshHub('hub-b', { redis, secret, connector: 'echo' });
    closers.push(() => b.kill());
    await Promise.all([linkUp(a, 'hub-b'), linkUp(b, 'hub-a')]);
    const lb = await startRoundRobinProxy([a.port, b.port]);
    closers.push(() => lb.close());
    const agent = await startAgent({
      agentId: 'links-ha',
      connectors: { echo: `127.0.0.1:${echo.port}` },
      urls: [`ws://127.0.0.1:${lb.port}/tunnel`],
      token: await a.token('links-ha'),
      timeoutMs: 60_000,
    });
    closers.push(() => agent.kill());
    await agent.proc.waitForEvent('agent_link_up', (e) => e.replica_id === 'hub-a', 60_000);
    await agent.proc.waitForEvent('agent_link_up', (e) => e.replica_id === 'hub-b', 60_000);
    // A hub counts replicas from the records of its last heartbeat: the first HELLO_ACK may still say 1
    // when the other replica registered after that heartbeat (the agent then probes slowly for more,
    // docs/running.md "Agent links"). At least one hub told it about both; none told it more.
    const counts = agent.proc.eventsNamed('tunnel_established').map((e) => e.replicas);
    expect(counts).toContain(2);
    expect(counts.every((n) => n === 1 || n === 2)).toBe(true);
    // Stripes (issue 14, docs/flow-control.md): each link's 3 stripes reach its own replica through the same
    // balancer. A stripe dial names every link that still wants one and joins whichever the replica it
    // reached holds; it is refused (4010 stripe_unknown) only when that replica's link is already full,
    // and then the balancer's next pick is the other replica: never the slow retry.
    for (const replica of ['hub-a', 'hub-b']) {
      for (const stripe of [1, 2, 3]) await agent.proc.waitForEvent('agent_stripe_up', (e) => e.replica_id === replica && e.stripe === stripe, 60_000);
    }
    const stripeRedials = agent.proc.eventsNamed('agent_stripe_redial');
    const ups = agent.proc.eventsNamed('agent_stripe_up');
    process.stdout.write(
      `LINKS_HA_STRIPES ${JSON.stringify({
        stripes_up: ups.length,
        joined_the_other_link: ups.filter((e) => e.dialled_for_link !== undefined).length,
        redials: stripeRedials.length,
        reasons: [...new Set(stripeRedials.map((e) => e.reason))],
        slow: stripeRedials.filter((e) => e.slow === true).length,
      })}\n`,
    );
    expect(ups).toHaveLength(6);
    expect(stripeRedials.every((e) => (e.code === 4010 && e.reason === 'stripe refused: stripe_unknown') || e.reason === 'not_needed')).toBe(true);
    expect(stripeRedials.filter((e) => e.slow === true)).toEqual([]);
    // Both links stay up while flows run through each replica for more than two registry leases
    // (lease_sec 3, heartbeat every second): no fencing flap. Bounded in count and time.
    const t0 = Date.now();
    for (let i = 0; i < 200 && Date.now() - t0 < 7000; i++) {
      await exactFlow(a.listenPort, 64 * 1024);
      await exactFlow(b.listenPort, 64 * 1024);
    }
    expect(agent.proc.eventsNamed('agent_link_down')).toEqual([]);
    const dup = agent.proc.eventsNamed('agent_link_redial').filter((e) => e.reason === 'duplicate').length;

    const mark = agent.proc.mark();
    await a.kill();
    await agent.proc.waitForEventSince(mark, 'agent_link_down', (e) => e.replica_id === 'hub-a', 30_000);
    // Flows arriving at the survivor use its local link: none refused.
    for (let i = 0; i < 8; i++) await exactFlow(b.listenPort, 64 * 1024);
    a = await meshHub('hub-a', { redis, secret, connector: 'echo', port: a.port, listenPort: a.listenPort });
    closers.push(() => a.kill());
    await agent.proc.waitForEventSince(mark, 'agent_link_up', (e) => e.replica_id === 'hub-a', 90_000);
    await exactFlow(a.listenPort);
    await exactFlow(b.listenPort);
    process.stdout.write(`LINKS_HA ${JSON.stringify({ duplicate_redials_to_two_links: dup, lb_connections: lb.accepted })}\n`);
  });
});
