/**
 * HA control plane with real processes and a real redis-server (issue 3, SPEC §6/§9): ownership
 * claimed during HELLO, leases, sweeper, shadow mode, Redis outage (degrade, local-only service,
 * re-assertion with fresh epochs), and HA off never touching Redis.
 */
import * as net from 'node:net';
import { DistributedRegistry } from '@nowconnect/registry';
import {
  cleanupAll,
  connectTcp,
  freePort,
  listener,
  metricValue,
  pumpEcho,
  readUntilClose,
  connectAndReadUntilClose,
  redisCommand,
  startAgent,
  startAgentConnected,
  startEchoServer,
  startHub,
  startRedis,
  waitForMetric,
  type HubHandle,
  type RedisHandle,
  type TargetServer,
} from './support';
import { readExactly, waitStatus } from './support/flows';
import { pollUntil } from './support/http';

const CONNECTOR = 'echo';
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await cleanupAll();
});

let echo: TargetServer;
beforeAll(async () => {
  echo = await startEchoServer();
  closers.push(() => echo.close());
});

/** Each test gets its own redis-server, so registry contents never leak between tests. */
async function freshRedis(): Promise<RedisHandle> {
  const r = await startRedis();
  closers.push(() => r.stop());
  return r;
}

/** A registry client of the test itself, to look at what the hubs wrote. */
async function inspect(url: string): Promise<DistributedRegistry> {
  const r = new DistributedRegistry({ url });
  closers.push(() => r.close());
  await r.waitReady(5000);
  return r;
}

/**
 * The agent is owned by `replicaId` with at least `epoch`: a hub re-claims (a higher epoch, same
 * owner) whenever its registry client blips (a command timeout on a loaded machine counts), so the
 * exact number may have moved on since the event the test read.
 */
async function expectOwner(reg: DistributedRegistry, agentId: string, replicaId: string, epoch: number): Promise<void> {
  const owner = await reg.getOwner(agentId);
  expect(owner?.replicaId).toBe(replicaId);
  expect(owner?.epoch).toBeGreaterThanOrEqual(epoch);
}

async function haHub(
  replicaId: string,
  mode: 'off' | 'shadow' | 'active',
  opts: { redisUrl?: string; ha?: Record<string, unknown>; listenPort?: number; enabled?: boolean; secret?: string; otherPort?: number } = {},
): Promise<HubHandle & { listenPort: number }> {
  const listenPort = opts.listenPort ?? (await freePort());
  // l2 serves a connector no agent of these tests announces (for cross-replica refusals).
  const other = opts.otherPort === undefined ? [] : [listener('l2', 'elsewhere', opts.otherPort)];
  const hub = await startHub({
    name: `hub:${replicaId}`,
    secret: opts.secret,
    config: {
      listeners: [listener('l1', CONNECTOR, listenPort), ...other],
      ha: {
        enabled: opts.enabled ?? true,
        mode,
        replica_id: replicaId,
        ...(opts.redisUrl === undefined ? {} : { redis_url: opts.redisUrl }),
        // require_mtls (the default) behind an ingress at a TEST-NET address: an active hub needs the key
        // (issue 13 finding 1), and loopback peers are not that ingress, so no mesh link comes up here.
        mesh: { ingress: { trusted_proxies: ['192.0.2.0/24'] } },
        ...(opts.ha ?? {}),
      },
    },
  });
  closers.push(() => hub.kill());
  return Object.assign(hub, { listenPort });
}

async function expectEcho(port: number, bytes = 64 * 1024): Promise<void> {
  const r = await pumpEcho(port, bytes, { timeoutMs: 20_000 });
  expect(r.recvBytes).toBe(bytes);
  expect(r.recvSha).toBe(r.sentSha);
}

describe('HA off', () => {
  it('never connects to Redis, even with redis_url set; shadow mode on the same URL does (control)', async () => {
    const fake = net.createServer((s) => s.destroy());
    let connections = 0;
    fake.on('connection', () => connections++);
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => fake.close(() => r(undefined))));
    const url = `redis://127.0.0.1:${(fake.address() as net.AddressInfo).port}/0`;

    // enabled: false, and enabled: true with mode off: both are "off".
    const off1 = await haHub('hub-off1', 'shadow', { redisUrl: url, enabled: false, ha: { lease_sec: 1 } });
    const off2 = await haHub('hub-off2', 'off', { redisUrl: url, ha: { lease_sec: 1 } });
    for (const hub of [off1, off2]) {
      const agent = await startAgentConnected(hub, { agentId: `agent-${hub.port}`, connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
      closers.push(() => agent.kill());
      expect(agent.connected.epoch).toBeUndefined();
      await expectEcho(hub.listenPort);
      const text = await hub.metrics();
      expect(text).not.toMatch(/^nowconnect_registry_up/m);
      expect(metricValue(text, 'nowconnect_flows_total', { path: 'local' })).toBe(1);
      expect(hub.proc.eventsNamed('ha_started')).toHaveLength(0);
      const ready = await hub.get('/readyz');
      expect(ready.status).toBe(200);
      expect(Object.keys((ready.body as { details: object }).details)).toEqual(['hub']);
    }
    // The control: a shadow hub on the same URL dials it at once (and the fake server hangs up).
    const accepted = new Promise<void>((r) => fake.once('connection', () => r()));
    const shadow = await haHub('hub-shadow', 'shadow', { redisUrl: url });
    await accepted;
    await shadow.proc.waitForEvent('registry_degraded');
    expect(connections).toBeGreaterThanOrEqual(1);
    const offConnections = off1.proc.eventsNamed('registry_degraded').length + off2.proc.eventsNamed('registry_degraded').length;
    expect(offConnections).toBe(0);
  });
});

describe('HA without redis_url', () => {
  it('uses the in-memory registry: epochs from 1, registry reported as memory, ready in shadow mode', async () => {
    const hub = await haHub('hub-mem', 'shadow');
    expect(await hub.proc.waitForEvent('ha_started')).toMatchObject({ registry: 'memory', mode: 'shadow', replica_id: 'hub-mem' });
    const agent = await startAgentConnected(hub, { agentId: 'mem-1', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    expect(agent.connected.epoch).toBe(1);
    await expectEcho(hub.listenPort);
    const r = await hub.get('/readyz');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ready', details: { registry: { kind: 'memory', healthy: true } } });
    expect(metricValue(await hub.metrics(), 'nowconnect_registry_up')).toBe(1);
  });
});

describe('HA with a real redis-server', () => {
  it('claims ownership during HELLO with strictly increasing epochs; a clean stop releases it', async () => {
    const redis = await freshRedis();
    const hub = await haHub('hub-claim', 'shadow', { redisUrl: redis.url });
    const reg = await inspect(redis.url);
    const a1 = await startAgentConnected(hub, { agentId: 'claim-1', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    const e1 = a1.connected.epoch as number;
    expect(e1).toBeGreaterThanOrEqual(1);
    await expectOwner(reg, 'claim-1', 'hub-claim', e1);
    expect(await reg.listAgents(CONNECTOR)).toContain('claim-1');
    expect((await reg.listReplicas()).map((r) => r.replicaId)).toContain('hub-claim');
    // The agent reconnects (new tunnel): a new, higher epoch.
    await a1.kill();
    await hub.proc.waitForEvent('agent_disconnected', (e) => e.agent_id === 'claim-1');
    const a2 = await startAgentConnected(hub, { agentId: 'claim-1', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => a2.kill());
    expect(a2.connected.epoch as number).toBeGreaterThan(e1);
    await waitForMetric(hub.httpUrl, 'nowconnect_registry_owned_agents', {}, (v) => v === 1);
    expect(await waitForMetric(hub.httpUrl, 'nowconnect_registry_up', {}, (v) => v === 1)).toBe(1);
    const ops = await hub.metrics();
    expect(metricValue(ops, 'nowconnect_registry_op_seconds_count', { op: 'claim_holder' })).toBeGreaterThanOrEqual(2);
    // SIGTERM: the hub releases what it holds and removes its replica record.
    expect((await hub.stop()).code).toBe(0);
    expect(await reg.getOwner('claim-1')).toBeUndefined();
    expect((await reg.listReplicas()).map((r) => r.replicaId)).not.toContain('hub-claim');
  });

  it('a hub killed -9 stops heartbeating: its owner entries and replica record expire; the agent fails over to a new epoch', async () => {
    const redis = await freshRedis();
    const secret = 'shared-secret-for-two-hubs-000000000000';
    const ha = { lease_sec: 1 };
    const hubA = await haHub('hub-a', 'shadow', { redisUrl: redis.url, ha, secret });
    const hubB = await haHub('hub-b', 'shadow', { redisUrl: redis.url, ha, secret });
    const reg = await inspect(redis.url);
    const token = await hubA.token('failover-1');
    const mark = hubA.proc.mark();
    // One tunnel (links: 1): the single-owner fail-over this test is about.
    const agent = await startAgent({ agentId: 'failover-1', token, urls: [hubA.tunnelUrl, hubB.tunnelUrl], connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` }, env: { NC_LINKS: '1' } });
    closers.push(() => agent.kill());
    const connected = await hubA.proc.waitForEventSince(mark, 'agent_connected', (e) => e.agent_id === 'failover-1');
    const e1 = connected.epoch as number;
    // Leases are 1 s, heartbeats every ~333 ms: the owner entry outlives several leases while hub A lives.
    const liveUntil = Date.now() + 2500;
    await pollUntil(async () => (Date.now() > liveUntil ? true : undefined), { timeoutMs: 5000, intervalMs: 250, what: () => 'lease window' });
    await expectOwner(reg, 'failover-1', 'hub-a', e1);

    const markB = hubB.proc.mark();
    await hubA.kill();
    // The agent reconnects to hub B, which claims with a higher epoch.
    const onB = await hubB.proc.waitForEventSince(markB, 'agent_connected', (e) => e.agent_id === 'failover-1', 30_000);
    expect(onB.epoch as number).toBeGreaterThan(e1);
    await expectOwner(reg, 'failover-1', 'hub-b', onB.epoch as number);
    await expectEcho(hubB.listenPort);
    // Hub A's replica record runs out with its lease.
    const t0 = Date.now();
    await pollUntil(async () => ((await reg.listReplicas()).some((r) => r.replicaId === 'hub-a') ? undefined : true), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: () => 'hub-a replica record expiry',
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await reg.listReplicas()).map((r) => r.replicaId)).toContain('hub-b');
  });

  it('an agent whose hub died without a successor loses its owner entry when the lease runs out', async () => {
    const redis = await freshRedis();
    const hub = await haHub('hub-lease', 'shadow', { redisUrl: redis.url, ha: { lease_sec: 1 } });
    const reg = await inspect(redis.url);
    const agent = await startAgentConnected(hub, { agentId: 'lease-1', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    expect(await reg.getOwner('lease-1')).toMatchObject({ replicaId: 'hub-lease' });
    await hub.kill();
    await agent.kill(); // no successor hub to claim it
    const t0 = Date.now();
    await pollUntil(async () => ((await reg.getOwner('lease-1')) === undefined ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: () => 'owner lease expiry',
    });
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(10_000);
    expect(await reg.listAgents(CONNECTOR)).not.toContain('lease-1');
  });

  it('active mode: a second process with the same agent id on another hub is a second holder -- neither hub fences the other', async () => {
    // Issue 15: an agent with `links: 2` is the same agent id holding one tunnel on each of two replicas.
    const redis = await freshRedis();
    const secret = 'shared-secret-for-fencing-hubs-000000000';
    const ha = { lease_sec: 1 };
    const hubA = await haHub('fence-a', 'active', { redisUrl: redis.url, ha, secret });
    const hubB = await haHub('fence-b', 'active', { redisUrl: redis.url, ha, secret });
    const reg = await inspect(redis.url);
    const first = await startAgentConnected(hubA, { agentId: 'twin', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => first.kill());
    const markA = hubA.proc.mark();
    const second = await startAgentConnected(hubB, { agentId: 'twin', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => second.kill());
    expect(second.connected.epoch as number).toBeGreaterThan(first.connected.epoch as number);
    // Both hold it (epochs may have moved on by a re-claim after a lease blip on a loaded machine).
    await pollUntil(async () => ((await reg.getHolders('twin')).map((h) => h.replicaId).join() === 'fence-a,fence-b' ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: () => 'two holders of twin',
    });
    // Several heartbeats of hub A after the second claim: it keeps its tunnel (no ownership_lost, no 4001).
    const beats = metricValue(await hubA.metrics(), 'nowconnect_registry_op_seconds_count', { op: 'heartbeat' });
    await waitForMetric(hubA.httpUrl, 'nowconnect_registry_op_seconds_count', { op: 'heartbeat' }, (v) => v >= beats + 3, { timeoutMs: 15_000 });
    expect(hubA.proc.eventsSince(markA, 'ownership_lost')).toEqual([]);
    expect(hubA.proc.eventsSince(markA, 'agent_disconnected')).toEqual([]);
    await first.kill();
    await second.kill();
  });

  it('active mode: a stale holder epoch of the SAME replica is fenced: ownership_lost and a 4001 close', async () => {
    // What is left of the single-owner fence: this replica's holder entry carries a newer epoch than the
    // tunnel's (here: another process with the same replica id claims it, as a misconfigured twin would).
    const redis = await freshRedis();
    const secret = 'shared-secret-for-fencing-hubs-000000000';
    const hubA = await haHub('fence-a', 'active', { redisUrl: redis.url, ha: { lease_sec: 1 }, secret });
    const reg = await inspect(redis.url);
    const first = await startAgentConnected(hubA, { agentId: 'twin', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => first.kill());
    const markA = hubA.proc.mark();
    const newer = await reg.claimHolder('twin', 'fence-a');
    const lost = await hubA.proc.waitForEventSince(markA, 'ownership_lost', (e) => e.agent_id === 'twin', 15_000);
    const held = hubA.proc.events
      .slice(0, hubA.proc.events.indexOf(lost))
      .filter((e) => (e.event === 'ownership_claimed' || e.event === 'ownership_reasserted') && e.agent_id === 'twin')
      .map((e) => e.epoch as number);
    expect(held[0]).toBe(first.connected.epoch);
    expect(lost.epoch).toBe(held[held.length - 1]);
    expect(lost.epoch as number).toBeLessThan(newer);
    const gone = await hubA.proc.waitForEventSince(markA, 'agent_disconnected', (e) => e.agent_id === 'twin', 15_000);
    expect(gone.code).toBe(4001);
    expect(await waitForMetric(hubA.httpUrl, 'nowconnect_registry_ownership_lost_total', {}, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await waitForMetric(hubA.httpUrl, 'nowconnect_holder_releases_total', { reason: 'stale_epoch' }, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    await first.kill();
  });

  it('active mode: a hub paused past its lease re-claims its agent above the old epoch; a second holder elsewhere does not fence it', async () => {
    // What a stall on a loaded machine does, made deterministic with SIGSTOP/SIGCONT.
    const redis = await freshRedis();
    const secret = 'shared-secret-for-paused-hubs-0000000000';
    const ha = { lease_sec: 1 };
    const hubA = await haHub('pause-a', 'active', { redisUrl: redis.url, ha, secret });
    const hubB = await haHub('pause-b', 'active', { redisUrl: redis.url, ha, secret });
    const reg = await inspect(redis.url);
    const first = await startAgentConnected(hubA, { agentId: 'sleeper', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => first.kill());
    const e1 = first.connected.epoch as number;
    const markA = hubA.proc.mark();
    hubA.proc.signal('SIGSTOP');
    try {
      // Paused, hub A cannot heartbeat: its entries run out with the 1 s lease.
      await pollUntil(async () => ((await reg.getOwner('sleeper')) === undefined && (await reg.getHolders('sleeper')).length === 0 ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 50,
        what: () => 'holder lease expiry while hub A is paused',
      });
    } finally {
      hubA.proc.signal('SIGCONT');
    }
    const again = await hubA.proc.waitForEventSince(markA, 'ownership_reasserted', (e) => e.agent_id === 'sleeper', 15_000);
    expect(again.epoch as number).toBeGreaterThan(e1);
    expect(again.previous_epoch).toBe(e1);
    const second = await startAgentConnected(hubB, { agentId: 'sleeper', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => second.kill());
    expect(second.connected.epoch as number).toBeGreaterThan(again.epoch as number);
    const beats = metricValue(await hubA.metrics(), 'nowconnect_registry_op_seconds_count', { op: 'heartbeat' });
    await waitForMetric(hubA.httpUrl, 'nowconnect_registry_op_seconds_count', { op: 'heartbeat' }, (v) => v >= beats + 3, { timeoutMs: 15_000 });
    expect(hubA.proc.eventsSince(markA, 'ownership_lost')).toEqual([]);
    expect((await reg.getHolders('sleeper')).map((h) => h.replicaId)).toEqual(['pause-a', 'pause-b']);
    await first.kill();
  });

  it('the sweeper prunes dangling connector-index entries', async () => {
    const redis = await freshRedis();
    const hub = await haHub('hub-sweep', 'shadow', { redisUrl: redis.url, ha: { sweep_interval_sec: 1 } });
    const reg = await inspect(redis.url);
    // A member without an owner: what a crashed hub leaves once leases ran out.
    expect(await redisCommand(redis.port, ['SADD', 'nc:{conn:swept}:agents', 'ghost-agent'])).toBe(':1');
    await redisCommand(redis.port, ['SADD', 'nc:{connectors}', 'swept']);
    const swept = await hub.proc.waitForEvent('registry_swept', (e) => (e.index_entries as number) >= 1, 20_000);
    expect(swept.index_entries).toBeGreaterThanOrEqual(1);
    expect(await redisCommand(redis.port, ['SISMEMBER', 'nc:{conn:swept}:agents', 'ghost-agent'])).toBe(':0');
    expect(await reg.listAgents('swept')).toEqual([]);
    expect(await waitForMetric(hub.httpUrl, 'nowconnect_registry_swept_entries_total', { kind: 'connector_index' }, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
  });

  it('shadow mode keeps traffic local and counts what active mode would send across replicas', async () => {
    const redis = await freshRedis();
    const secret = 'shared-secret-for-shadow-hubs-0000000000';
    const hubA = await haHub('shadow-a', 'shadow', { redisUrl: redis.url, secret });
    const hubB = await haHub('shadow-b', 'shadow', { redisUrl: redis.url, secret });
    const agent = await startAgentConnected(hubA, { agentId: 'shadow-agent', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    await expectEcho(hubA.listenPort);
    expect(metricValue(await hubA.metrics(), 'nowconnect_flows_total', { path: 'local' })).toBe(1);
    // On hub B no local agent: refused at once, exactly as with HA off; the would-be route is counted.
    const closed = await connectAndReadUntilClose(hubB.listenPort, 10_000);
    expect(closed.bytes).toBe(0);
    const ev = await hubB.proc.waitForEvent('shadow_cross_replica');
    expect(ev).toMatchObject({ connector: CONNECTOR, agent_id: 'shadow-agent', owner_replica: 'shadow-a' });
    expect(await waitForMetric(hubB.httpUrl, 'nowconnect_shadow_cross_replica_total', { connector: CONNECTOR }, (v) => v === 1)).toBe(1);
    expect(metricValue(await hubB.metrics(), 'nowconnect_no_agent_total', { connector: CONNECTOR })).toBe(1);
    // Shadow mode never takes a hub out of rotation for HA reasons.
    const ready = await hubB.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', details: { registry: { status: 'up', healthy: true, kind: 'redis' } } });
  });

  it('active mode: an agent owned elsewhere, no mesh link to its hub: refused as mesh_unavailable at once; readyz degraded', async () => {
    const redis = await freshRedis();
    const secret = 'shared-secret-for-active-hubs-0000000000';
    // require_mtls (the default) on the plain port, upgrades not from the trusted ingress: every /mesh
    // upgrade is refused, so the peers see each other in the registry but no link comes up (docs/mesh.md).
    const hubA = await haHub('active-a', 'active', { redisUrl: redis.url, secret });
    const hubB = await haHub('active-b', 'active', { redisUrl: redis.url, secret });
    const agent = await startAgentConnected(hubA, { agentId: 'active-agent', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    await expectEcho(hubA.listenPort);
    await hubB.proc.waitForEvent('mesh_upgrade_refused', (e) => e.reason === 'untrusted_source');
    expect((await connectAndReadUntilClose(hubB.listenPort, 10_000)).bytes).toBe(0);
    expect(await hubB.proc.waitForEvent('cross_replica_refused')).toMatchObject({ reason: 'mesh_unavailable', owner_replica: 'active-a' });
    expect(await waitForMetric(hubB.httpUrl, 'nowconnect_cross_replica_refused_total', { connector: CONNECTOR, reason: 'mesh_unavailable' }, (v) => v === 1)).toBe(1);
    // A peer replica's lease is alive but no link is up: degraded (SPEC §6), and says why.
    await waitStatus(() => hubA.get('/readyz'), 503, { timeoutMs: 10_000 });
    const body = (await hubA.get('/readyz')).body;
    expect(body).toMatchObject({ status: 'degraded', impaired: ['mesh'], details: { mesh: { reason: 'no_link_up', live_peers: ['active-b'] } } });
  });
});

describe('Redis outage (kill -9 and restart)', () => {
  it('local flows keep flowing byte-exact; readyz degraded; cross-replica refused; recovery re-asserts with fresh epochs', async () => {
    const own = await freshRedis();
    const otherPort = await freePort();
    const hub = await haHub('outage-a', 'active', { redisUrl: own.url, ha: { lease_sec: 2 }, otherPort });
    const agent = await startAgentConnected(hub, { agentId: 'outage-agent', connectors: { [CONNECTOR]: `127.0.0.1:${echo.port}` } });
    closers.push(() => agent.kill());
    const e1 = agent.connected.epoch as number;
    const readyBefore = await hub.get('/readyz');
    expect(readyBefore).toMatchObject({ status: 200, body: { status: 'ready' } }); // registry fine, no peer: mesh fine

    // A flow in progress across the outage.
    const s = await connectTcp(hub.listenPort);
    const part1 = Buffer.alloc(512 * 1024, 1);
    const part2 = Buffer.alloc(512 * 1024, 2);
    s.write(part1);
    expect((await readExactly(s, part1.length, 15_000)).equals(part1)).toBe(true);

    const mark = hub.proc.mark();
    await own.kill();
    await hub.proc.waitForEventSince(mark, 'registry_degraded', undefined, 15_000);
    s.write(part2);
    expect((await readExactly(s, part2.length, 15_000)).equals(part2)).toBe(true);
    s.end();
    const end = await readUntilClose(s, 15_000);
    expect(end).toMatchObject({ error: undefined, bytes: 0, ended: true });
    // New local flows work while Redis is down; cross-replica work is refused at once.
    await expectEcho(hub.listenPort);
    expect((await connectAndReadUntilClose(otherPort, 10_000)).bytes).toBe(0);
    expect(await hub.proc.waitForEventSince(mark, 'cross_replica_refused')).toMatchObject({ connector: 'elsewhere', reason: 'registry_unavailable' });
    await waitStatus(() => hub.get('/readyz'), 503, { timeoutMs: 10_000 });
    const body = (await hub.get('/readyz')).body as { status: string; impaired: string[]; details: Record<string, { healthy?: boolean }> };
    expect(body.status).toBe('degraded');
    expect(body.impaired).toContain('registry');
    expect(body.details['registry']?.healthy).toBe(false);
    expect(await waitForMetric(hub.httpUrl, 'nowconnect_registry_up', {}, (v) => v === 0)).toBe(0);

    // Restart on the same port (empty: no persistence): the hub re-claims above the epoch it held.
    const markUp = hub.proc.mark();
    await own.restart();
    const recovered = await hub.proc.waitForEventSince(markUp, 'registry_recovered', undefined, 30_000);
    expect(recovered.reasserted).toBe(1);
    const reasserted = hub.proc.eventsNamed('ownership_reasserted').filter((e) => e.agent_id === 'outage-agent');
    expect(reasserted.length).toBeGreaterThanOrEqual(1);
    const e2 = reasserted[reasserted.length - 1]!.epoch as number;
    expect(e2).toBeGreaterThan(e1);
    const reg = await inspect(own.url);
    await expectOwner(reg, 'outage-agent', 'outage-a', e2);
    expect(await reg.listAgents(CONNECTOR)).toEqual(['outage-agent']);
    expect((await reg.listReplicas()).map((r) => r.replicaId)).toEqual(['outage-a']);
    // Registry healthy again: ready (no peer replica, so the mesh has nothing to link to).
    await pollUntil(async () => {
      const r = await hub.get('/readyz');
      return r.status === 200 && (r.body as { status?: string }).status === 'ready' ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50, what: () => 'registry back in /readyz' });
    expect(await waitForMetric(hub.httpUrl, 'nowconnect_registry_up', {}, (v) => v === 1)).toBe(1);
    // One registry_degraded per outage (a command timeout on a loaded machine is an outage too).
    expect(hub.proc.eventsNamed('registry_degraded').length).toBeLessThanOrEqual(hub.proc.eventsNamed('registry_recovered').length + 1);
    await expectEcho(hub.listenPort);
  });

  it('ha.readiness_degraded_code: 200 keeps a degraded hub in rotation, still saying degraded', async () => {
    const redis = await freshRedis();
    const hub = await haHub('degraded-200', 'active', { redisUrl: redis.url, ha: { readiness_degraded_code: 200 } });
    const mark = hub.proc.mark();
    await redis.kill();
    await hub.proc.waitForEventSince(mark, 'registry_degraded', undefined, 15_000);
    const r = await pollUntil(async () => {
      const res = await hub.get('/readyz');
      return (res.body as { status?: string }).status === 'degraded' ? res : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20, what: () => 'hub degraded' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'degraded', impaired: ['registry'] });
  });
});
