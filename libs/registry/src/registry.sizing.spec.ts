import { cleanupTmpDirs } from '../../../test/support/tmp';
import { startRedis, type RedisHandle } from '../../../test/support/redis';
import { DistributedRegistry } from './distributed-registry';

/**
 * Sizing figures for docs/registry.md, measured on a fresh redis-server: memory per agent
 * (10,000 agents, 2 connectors each) and heartbeat throughput. Prints the figures; asserts only
 * loose sanity bounds (the numbers depend on the machine).
 */

const AGENTS = 10_000;
const CONNECTORS = 100; // agent i announces conn-(i % 100) and conn-((i + 1) % 100): 200 agents per connector
const BATCH = 500;

let redis: RedisHandle;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.kill();
  cleanupTmpDirs();
});

async function inBatches(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < n; start += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, n - start) }, (_, k) => fn(start + k)));
  }
}

describe('registry sizing (fresh redis-server)', () => {
  it(`measures Redis memory for ${AGENTS} agents with 2 connectors each, and heartbeat throughput`, async () => {
    const r = new DistributedRegistry({ url: redis.url, lease_ms: 15_000, keyPrefix: 'nc', commandTimeoutMs: 5000 });
    try {
      await r.waitReady(10_000);
      const usedMemory = async (): Promise<number> => {
        const info = await r.store.run('info', (c) => c.info('memory'));
        return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
      };
      const agent = (i: number): string => `agent-${String(i).padStart(5, '0')}`;
      await r.registerReplica({ replicaId: 'hub-a', meshUrl: 'wss://hub-a.example/mesh', startedAt: Date.now() });

      const m0 = await usedMemory();
      let t0 = process.hrtime.bigint();
      await inBatches(AGENTS, (i) => r.claimOwnership(agent(i), 'hub-a'));
      const claimSec = Number(process.hrtime.bigint() - t0) / 1e9;
      const m1 = await usedMemory();
      t0 = process.hrtime.bigint();
      await inBatches(AGENTS, (i) => r.addConnectors(agent(i), [`conn-${i % CONNECTORS}`, `conn-${(i + 1) % CONNECTORS}`]));
      const connSec = Number(process.hrtime.bigint() - t0) / 1e9;
      const m2 = await usedMemory();
      const dbsize = await r.store.run('dbsize', (c) => c.dbsize());

      const perAgentOwner = (m1 - m0) / AGENTS;
      const perAgentTotal = (m2 - m0) / AGENTS;
      console.log(
        [
          `sizing: ${AGENTS} agents x 2 connectors (${CONNECTORS} connectors), redis-server ${await redisVersion(r)}, keys=${dbsize}`,
          `  used_memory before=${m0} after claims=${m1} after addConnectors=${m2}`,
          `  per agent: owner+epoch ${perAgentOwner.toFixed(0)} B, + 2 index entries ${((m2 - m1) / AGENTS).toFixed(0)} B, total ${perAgentTotal.toFixed(0)} B`,
          `  claims: ${(AGENTS / claimSec).toFixed(0)}/s, addConnectors: ${(AGENTS / connSec).toFixed(0)}/s (batches of ${BATCH} in flight, one client)`,
        ].join('\n'),
      );
      expect(dbsize).toBe(2 * AGENTS + CONNECTORS + 2); // owner+epoch per agent, connector sets, {connectors}, {replicas}
      expect(perAgentTotal).toBeGreaterThan(50);
      expect(perAgentTotal).toBeLessThan(2000);

      const lines: string[] = [];
      for (const n of [1000, AGENTS]) {
        const ids = Array.from({ length: n }, (_, i) => agent(i));
        const rounds: number[] = [];
        for (let k = 0; k < 5; k++) {
          const t = process.hrtime.bigint();
          const res = await r.heartbeat('hub-a', ids);
          rounds.push(Number(process.hrtime.bigint() - t) / 1e9);
          expect(res).toEqual({ missing: [], lost: [] });
        }
        rounds.sort((a, b) => a - b);
        const med = rounds[2]!;
        lines.push(
          `  heartbeat of ${n} agents: median ${(med * 1000).toFixed(1)} ms per heartbeat (${((n + 1) / med).toFixed(0)} scripts/s); ` +
            `at lease 15 s / heartbeat every 5 s that is ${((n + 1) / 5).toFixed(0)} scripts/s needed`,
        );
      }
      console.log(`sizing: heartbeat throughput (one client, all refresh scripts in flight)\n${lines.join('\n')}`);
    } finally {
      await r.close();
    }
  }, 120_000);

  it(`measures Redis memory and heartbeat of holder entries: ${AGENTS} agents with links to 2 replicas`, async () => {
    const r = new DistributedRegistry({ url: redis.url, lease_ms: 15_000, keyPrefix: 'nch', commandTimeoutMs: 5000 });
    try {
      await r.waitReady(10_000);
      const usedMemory = async (): Promise<number> => Number(/^used_memory:(\d+)/m.exec(await r.store.run('info', (c) => c.info('memory')))?.[1]);
      const agent = (i: number): string => `agent-${String(i).padStart(5, '0')}`;
      const m0 = await usedMemory();
      let t0 = process.hrtime.bigint();
      const epochA = new Map<string, number>();
      await inBatches(AGENTS, async (i) => epochA.set(agent(i), await r.claimHolder(agent(i), 'hub-a')));
      const claimSec = Number(process.hrtime.bigint() - t0) / 1e9;
      const m1 = await usedMemory();
      await inBatches(AGENTS, (i) => r.claimHolder(agent(i), 'hub-b'));
      const m2 = await usedMemory();
      const held = [...epochA].map(([agentId, epoch]) => ({ agentId, epoch }));
      const rounds: number[] = [];
      for (let k = 0; k < 5; k++) {
        t0 = process.hrtime.bigint();
        const res = await r.heartbeatHolders('hub-a', held);
        rounds.push(Number(process.hrtime.bigint() - t0) / 1e9);
        expect(res.refreshed).toHaveLength(AGENTS);
      }
      rounds.sort((a, b) => a - b);
      const med = rounds[2]!;
      console.log(
        [
          `sizing: holders, ${AGENTS} agents, redis-server ${await redisVersion(r)}`,
          `  used_memory before=${m0} after 1 holder each=${m1} after 2 holders each=${m2}`,
          `  per agent: epoch+owner+holders (1 link) ${((m1 - m0) / AGENTS).toFixed(0)} B, second link +${((m2 - m1) / AGENTS).toFixed(0)} B`,
          `  claimHolder: ${(AGENTS / claimSec).toFixed(0)}/s (batches of ${BATCH} in flight, one client)`,
          `  heartbeatHolders of ${AGENTS} agents: median ${(med * 1000).toFixed(1)} ms (${((AGENTS + 1) / med).toFixed(0)} scripts/s)`,
        ].join('\n'),
      );
      expect((m2 - m0) / AGENTS).toBeLessThan(3000);
    } finally {
      await r.close();
    }
  }, 120_000);
});

async function redisVersion(r: DistributedRegistry): Promise<string> {
  const info = await r.store.run('info', (c) => c.info('server'));
  return /^redis_version:(.*)$/m.exec(info)?.[1]?.trim() ?? '?';
}
