import { cleanupTmpDirs } from '../../../test/support/tmp';
import { startRedisSentinel, type RedisSentinelHandle } from '../../../test/support/redis-cluster';
import { DistributedRegistry } from './distributed-registry';
import { runRegistryContract, waitFor } from './registry.contract';

/** The registry through Redis Sentinel (redis+sentinel:// URL): real master, replica and sentinel processes. */

let prefixSeq = 0;
const newPrefix = (): string => `ncs${process.pid}x${++prefixSeq}`;

async function makeRegistry(url: string, leaseMs: number, commandTimeoutMs = 1000): Promise<DistributedRegistry> {
  const r = new DistributedRegistry({ url, lease_ms: leaseMs, keyPrefix: newPrefix(), commandTimeoutMs, maxBackoffMs: 500 });
  try {
    await r.waitReady(10_000);
  } catch (e) {
    await r.close();
    throw e;
  }
  return r;
}

afterAll(() => cleanupTmpDirs());

describe('Redis Sentinel: master + sentinel', () => {
  let s: RedisSentinelHandle;
  beforeAll(async () => {
    s = await startRedisSentinel();
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  runRegistryContract('redis sentinel', ({ leaseMs }) => makeRegistry(s.url, leaseMs));

  it('connects to the master the sentinel names', async () => {
    const r = await makeRegistry(s.url, 60_000);
    try {
      expect(r.store.kind).toBe('sentinel');
      const e = await r.claimOwnership('via-sentinel', 'hub-a');
      expect(e).toBeGreaterThan(0);
      const info = await r.store.run('info', (c) => c.info('server'));
      expect(info).toContain(`tcp_port:${s.masterPort}`);
    } finally {
      await r.close();
    }
  });

  it("revives a client that reached ioredis' terminal 'end' status", async () => {
    const r = await makeRegistry(s.url, 60_000);
    const events: string[] = [];
    r.on('degraded', () => events.push('degraded'));
    r.on('recovered', () => events.push('recovered'));
    try {
      r.store.client.disconnect(); // no reconnect by ioredis itself: status 'end'
      await waitFor(() => events.includes('degraded'), 5000, "'degraded'");
      await waitFor(() => events.includes('recovered'), 10_000, "'recovered' after the revive");
      expect(events).toEqual(['degraded', 'recovered']);
      expect(await r.claimOwnership('revived', 'hub-a')).toBeGreaterThan(0);
    } finally {
      await r.close();
    }
  });
});

describe('Redis Sentinel: failover', () => {
  let s: RedisSentinelHandle;
  beforeAll(async () => {
    s = await startRedisSentinel({ replica: true, downAfterMs: 1000 });
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('degrades when the master is killed and recovers on the promoted replica; claims re-assert with minEpoch', async () => {
    const r = await makeRegistry(s.url, 60_000, 500);
    const events: string[] = [];
    r.on('degraded', () => events.push('degraded'));
    r.on('recovered', () => events.push('recovered'));
    try {
      const before = await r.claimOwnership('failover-a', 'hub-a');
      await r.addConnectors('failover-a', ['ldap']);
      expect(await s.currentMasterPort()).toBe(s.masterPort);

      const killedAt = Date.now();
      await s.master.kill(); // SIGKILL
      await waitFor(() => events.includes('degraded'), 5000, "'degraded'");
      expect(r.isHealthy()).toBe(false);
      const t = Date.now();
      await expect(r.claimOwnership('failover-a', 'hub-a')).rejects.toThrow();
      expect(Date.now() - t).toBeLessThan(1500);

      // Sentinel: down-after 1 s, then it promotes the replica; ioredis re-asks the sentinel.
      await waitFor(() => events.includes('recovered'), 30_000, "'recovered' after the sentinel failover").catch((e: Error) => {
        throw new Error(`${e.message}; client status ${r.store.client.status}\n${s.sentinel.tail(40)}\n${s.replica?.tail(20) ?? ''}`);
      });
      const recoveredMs = Date.now() - killedAt;
      expect(events).toEqual(['degraded', 'recovered']);
      expect(r.isHealthy()).toBe(true);
      expect(await s.currentMasterPort()).toBe(s.replicaPort);
      const info = await r.store.run('info', (c) => c.info('replication'));
      expect(info).toContain('role:master');

      const after = await r.claimOwnership('failover-a', 'hub-a', { minEpoch: before });
      expect(after).toBeGreaterThan(before);
      expect(await r.getOwner('failover-a')).toEqual({ replicaId: 'hub-a', epoch: after });
      console.log(
        `sentinel failover (down-after-milliseconds 1000): master SIGKILLed -> 'recovered' on the promoted replica ` +
          `after ${recoveredMs} ms; epoch ${before} before, ${after} after the re-assert with minEpoch`,
      );
    } finally {
      await r.close();
    }
  }, 60_000);
});
