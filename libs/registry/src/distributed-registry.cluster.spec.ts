import { cleanupTmpDirs } from '../../../test/support/tmp';
import { redisReply, startRedisCluster, type RedisClusterHandle } from '../../../test/support/redis-cluster';
import { DistributedRegistry } from './distributed-registry';
import { LuaScript, RedisStore } from './redis-store';
import { runRegistryContract, waitFor } from './registry.contract';

/** The registry on a real 3-master Redis Cluster (redis+cluster:// URL, two seed nodes). */

let cluster: RedisClusterHandle;
let prefixSeq = 0;
const newPrefix = (): string => `ncc${process.pid}x${++prefixSeq}`;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  cleanupTmpDirs();
});

async function makeRegistry(leaseMs: number, keyPrefix = newPrefix()): Promise<DistributedRegistry> {
  const r = new DistributedRegistry({ url: cluster.url, lease_ms: leaseMs, keyPrefix, commandTimeoutMs: 1000 });
  try {
    await r.waitReady(10_000);
  } catch (e) {
    await r.close();
    throw e;
  }
  return r;
}

runRegistryContract('redis cluster', ({ leaseMs }) => makeRegistry(leaseMs));

describe('DistributedRegistry on Redis Cluster', () => {
  it('uses a Cluster client for a redis+cluster:// URL', async () => {
    const r = await makeRegistry(60_000);
    try {
      expect(r.store.kind).toBe('cluster');
      expect((r.store.client as { isCluster?: boolean }).isCluster).toBe(true);
      expect(r.isHealthy()).toBe(true);
    } finally {
      await r.close();
    }
  });

  it('spreads agents over slots and nodes; each agent keeps its keys in one slot', async () => {
    const prefix = newPrefix();
    const r = await makeRegistry(60_000, prefix);
    try {
      const dbsizes = (): Promise<number[]> => Promise.all(cluster.ports.map(async (p) => Number(await redisReply(p, ['DBSIZE']))));
      const before = await dbsizes();
      const agents = Array.from({ length: 50 }, (_, i) => `spread-${i}`);
      const epochs = await Promise.all(agents.map((a) => r.claimOwnership(a, 'hub-a')));
      await Promise.all(agents.map((a) => r.addConnectors(a, ['ldap', 'smb'])));
      expect(epochs.every((e) => e >= 1)).toBe(true);

      const slotOf = async (key: string): Promise<number> => Number(await redisReply(cluster.ports[0]!, ['CLUSTER', 'KEYSLOT', key]));
      const slots = new Set<number>();
      for (const a of agents) {
        const s1 = await slotOf(r.ownerKey(a));
        expect(await slotOf(r.epochKey(a))).toBe(s1); // the CLAIM script's two keys: one slot
        slots.add(s1);
      }
      expect(slots.size).toBeGreaterThan(40);

      const grew = (await dbsizes()).map((n, i) => n - before[i]!);
      console.log(`cluster: 50 agents -> ${slots.size} distinct slots; new keys per node: ${grew.join(', ')}`);
      expect(grew.filter((g) => g > 0).length).toBeGreaterThan(1);
      // owner + epoch per agent, 2 connector sets, the {connectors} set
      expect(grew.reduce((a, b) => a + b, 0)).toBe(50 * 2 + 2 + 1);

      expect(await r.listAgents('ldap')).toHaveLength(50);
      const owners = await r.listOwners('smb');
      expect(owners).toHaveLength(50);
      expect(owners.every((o) => o.replicaId === 'hub-a')).toBe(true);
      expect(await r.heartbeat('hub-a', agents)).toEqual({ missing: [], lost: [] });
    } finally {
      await r.close();
    }
  });

  it('falls back from EVALSHA to EVAL on each node after SCRIPT FLUSH everywhere', async () => {
    const r = await makeRegistry(60_000);
    const probe = new LuaScript('probe', 1, `return redis.call('INCR', KEYS[1])`);
    try {
      await Promise.all(cluster.ports.map((p) => redisReply(p, ['SCRIPT', 'FLUSH'])));
      const keys = Array.from({ length: 30 }, (_, i) => `${newPrefix()}:{probe:${i}}:n`);
      const run = (): Promise<unknown[]> =>
        r.store.run('probe', (c) => Promise.all(keys.map((k) => r.store.evalScript(c, probe, [k], []))));
      expect(await run()).toEqual(keys.map(() => 1)); // NOSCRIPT on every node -> EVAL
      expect(await run()).toEqual(keys.map(() => 2)); // EVALSHA hits now
      const cached = await Promise.all(cluster.ports.map((p) => redisReply(p, ['SCRIPT', 'EXISTS', probe.sha])));
      expect(cached).toEqual(cluster.ports.map(() => [1])); // 30 slots cover every node
      // The registry's own scripts recover the same way.
      await Promise.all(cluster.ports.map((p) => redisReply(p, ['SCRIPT', 'FLUSH'])));
      const agents = Array.from({ length: 30 }, (_, i) => `flush-${i}`);
      const first = await Promise.all(agents.map((a) => r.claimOwnership(a, 'hub-a')));
      const second = await Promise.all(agents.map((a) => r.claimOwnership(a, 'hub-b')));
      second.forEach((e, i) => expect(e).toBeGreaterThan(first[i]!));
      expect(r.isHealthy()).toBe(true);
    } finally {
      await r.close();
    }
  });

  it('degrades once and rejects fast while the whole cluster is down; recovers when it is back', async () => {
    // A cluster of its own so that the shared one stays up for the other tests.
    const c2 = await startRedisCluster({ masters: 3 });
    const store = new RedisStore({ url: c2.url, commandTimeoutMs: 500, maxBackoffMs: 500 });
    const events: string[] = [];
    store.on('degraded', () => events.push('degraded'));
    store.on('recovered', () => events.push('recovered'));
    try {
      await store.waitReady(10_000);
      await store.run('set', (c) => c.set('{probe}:k', 'v'));
      await c2.stop();
      await expect(store.run('get', (c) => c.get('{probe}:k'))).rejects.toThrow();
      await waitFor(() => events.includes('degraded'), 10_000, "'degraded'");
      expect(store.isHealthy()).toBe(false);
      for (let i = 0; i < 5; i++) {
        const t = Date.now();
        await expect(store.run('get', (c) => c.get('{probe}:k'))).rejects.toThrow();
        expect(Date.now() - t).toBeLessThan(1500);
      }
      expect(events).toEqual(['degraded']);

      await c2.restart(); // same ports and nodes.conf: the cluster re-forms, data is gone (no persistence)
      await waitFor(
        async () => {
          if (store.isHealthy()) return true;
          // Health also comes back with the first successful command (ready may not be re-emitted).
          await store.run('ping', (c) => c.set('{probe}:k', 'v2')).catch(() => undefined);
          return store.isHealthy();
        },
        20_000,
        'cluster client healthy again',
      );
      expect(events).toEqual(['degraded', 'recovered']);
      await store.run('set', (c) => c.set('{probe}:k', 'v3'));
      expect(await store.run('get', (c) => c.get('{probe}:k'))).toBe('v3');
    } finally {
      await store.close();
      await c2.stop();
    }
  }, 90_000);
});
