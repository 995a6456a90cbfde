import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { RedisHandle, startRedis } from '../../../test/support/redis';
import { DistributedRegistry } from './distributed-registry';
import { MemoryOwnershipRegistry } from './memory-registry';
import { waitFor } from './registry.contract';
import { RegistrySweeper, type SweepResult } from './registry-sweeper';
import { type HaRegistry, OWNERSHIP_REGISTRY, REGISTRY_SWEEPER, RegistryModule } from './registry.module';

/** Connections to the redis-server other than the one asking. */
async function clients(port: number): Promise<number> {
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const list = String(await probe.client('LIST'));
    return list.split('\n').filter((l) => l.includes('id=')).length - 1;
  } finally {
    probe.disconnect();
  }
}

const LEASE = { leaseMs: 5000, sweepIntervalMs: 60_000 };

/** A module the factory injects from, as the hub's config module is. */
const SETTINGS = 'TEST_REGISTRY_SETTINGS';
@Module({ providers: [{ provide: SETTINGS, useValue: { lease: 5 } }], exports: [SETTINGS] })
class SettingsModule {}

describe('RegistryModule', () => {
  it('HA off (factory returns null): no registry, no sweeper', async () => {
    const ref = await Test.createTestingModule({ imports: [RegistryModule.forRootAsync({ useFactory: () => null })] }).compile();
    expect(ref.get(OWNERSHIP_REGISTRY)).toBeNull();
    expect(ref.get(REGISTRY_SWEEPER)).toBeNull();
    await ref.close();
  });

  it('without a Redis URL provides the memory registry and a sweeper on it, with injected factory deps', async () => {
    const sweeps: (SweepResult | undefined)[] = [];
    const ref = await Test.createTestingModule({
      imports: [
        RegistryModule.forRootAsync({
          imports: [SettingsModule],
          inject: [SETTINGS],
          useFactory: (s: { lease: number }) => ({ ...LEASE, leaseMs: s.lease * 1000, onSweep: (r: SweepResult | undefined) => sweeps.push(r) }),
        }),
      ],
    }).compile();
    const registry = ref.get<HaRegistry>(OWNERSHIP_REGISTRY);
    expect(registry).toBeInstanceOf(MemoryOwnershipRegistry);
    expect((registry as unknown as { leaseMs: number }).leaseMs).toBe(5000);
    const epoch = await registry.claimOwnership('agent-1', 'hub-a');
    expect(await registry.getOwner('agent-1')).toEqual({ replicaId: 'hub-a', epoch });
    const sweeper = ref.get<RegistrySweeper>(REGISTRY_SWEEPER);
    expect(sweeper).toBeInstanceOf(RegistrySweeper);
    expect(await sweeper.sweepOnce()).toEqual({ removedIndexEntries: 0, removedReplicas: 0 });
    await ref.close();
  });

  it('a consumer can be given a fake registry with overrideProvider', async () => {
    const fake = { isHealthy: () => false, close: jest.fn(async () => undefined) } as unknown as HaRegistry;
    const ref = await Test.createTestingModule({ imports: [RegistryModule.forRootAsync({ useFactory: () => LEASE })] })
      .overrideProvider(OWNERSHIP_REGISTRY)
      .useValue(fake)
      .compile();
    expect(ref.get(OWNERSHIP_REGISTRY)).toBe(fake);
    await ref.close();
    expect(fake.close).toHaveBeenCalledTimes(1);
  });

  describe('with a real redis-server', () => {
    let redis: RedisHandle;
    beforeAll(async () => {
      redis = await startRedis();
    });
    let closeApp: (() => Promise<void>) | undefined;
    afterAll(async () => {
      await closeApp?.();
      await redis?.kill();
    });

    it('provides the Redis registry (ops reported), and closes its connection on application shutdown', async () => {
      const ops: string[] = [];
      const ref = await Test.createTestingModule({
        imports: [RegistryModule.forRootAsync({ useFactory: () => ({ ...LEASE, redisUrl: redis.url, onOp: (op: string, _s: number, ok: boolean) => ok && ops.push(op) }) })],
      }).compile();
      const app = ref.createNestApplication({ logger: false });
      await app.init();
      closeApp = () => app.close();
      const registry = app.get<DistributedRegistry>(OWNERSHIP_REGISTRY);
      expect(registry).toBeInstanceOf(DistributedRegistry);
      await registry.waitReady(5000);
      const epoch = await registry.claimOwnership('agent-r', 'hub-r');
      expect(await registry.getOwner('agent-r')).toEqual({ replicaId: 'hub-r', epoch });
      expect(ops).toContain('claim');
      await registry.release('agent-r', epoch);
      expect(await clients(redis.port)).toBeGreaterThan(0);
      await app.close();
      expect(registry.isHealthy()).toBe(false);
      await waitFor(async () => (await clients(redis.port)) === 0, 5000, 'the registry connection to close');
    });
  });
});
