import { MemoryOwnershipRegistry } from './memory-registry';
import { runRegistryContract } from './registry.contract';
import { RegistrySweeper } from './registry-sweeper';

runRegistryContract('memory', async ({ leaseMs }) => new MemoryOwnershipRegistry({ leaseMs }));

describe('MemoryOwnershipRegistry (injectable clock)', () => {
  it('expires leases exactly at the lease boundary of the injected clock', async () => {
    let now = 1_000;
    const r = new MemoryOwnershipRegistry({ leaseMs: 100, now: () => now });
    const e = await r.claimOwnership('a', 'hub-a');
    await r.registerReplica({ replicaId: 'hub-a', meshUrl: 'wss://a', startedAt: 1 });
    now = 1_099;
    expect(await r.getOwner('a')).toEqual({ replicaId: 'hub-a', epoch: e });
    await r.heartbeat('hub-a', ['a']); // lease now runs to 1_199
    now = 1_198;
    expect(await r.getOwner('a')).toBeDefined();
    expect((await r.listReplicas()).map((x) => x.replicaId)).toEqual(['hub-a']);
    now = 1_199;
    expect(await r.getOwner('a')).toBeUndefined();
    expect(await r.listReplicas()).toEqual([]);
    expect(await r.claimOwnership('a', 'hub-b')).toBe(e + 1);
    await r.close();
    expect(r.isHealthy()).toBe(false);
    await expect(r.claimOwnership('a', 'hub-a')).rejects.toThrow(/closed/);
  });

  it('sweeper runs on the injected interval and does not overlap', async () => {
    let now = 0;
    const r = new MemoryOwnershipRegistry({ leaseMs: 10, now: () => now });
    await r.addConnectors('ghost', ['c']);
    await r.registerReplica({ replicaId: 'old', meshUrl: 'u', startedAt: 0 });
    now = 50;
    let tick: (() => void) | undefined;
    let cleared = false;
    const results: unknown[] = [];
    const s = new RegistrySweeper(r, {
      intervalMs: 5,
      setInterval: (fn) => {
        tick = fn;
        return 'h';
      },
      clearInterval: () => {
        cleared = true;
      },
      onSweep: (res) => results.push(res),
    });
    s.start();
    expect(tick).toBeDefined();
    tick?.();
    await waitForLength(results, 1);
    expect(results[0]).toEqual({ removedIndexEntries: 1, removedReplicas: 1 });
    s.stop();
    expect(cleared).toBe(true);
  });
});

async function waitForLength(arr: unknown[], n: number): Promise<void> {
  const end = Date.now() + 2000;
  while (arr.length < n) {
    if (Date.now() > end) throw new Error('sweep did not report');
    await new Promise((r) => setImmediate(r));
  }
}
