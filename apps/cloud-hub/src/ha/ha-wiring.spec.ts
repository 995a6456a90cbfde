import { Test } from '@nestjs/testing';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseCloudConfig, type CloudConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { MemoryOwnershipRegistry, OWNERSHIP_REGISTRY, REGISTRY_SWEEPER, RegistrySweeper, type HaRegistry } from '@nowconnect/registry';
import { MESH_CERT_RELOADER, MESH_LINK_FACTORY, MESH_PEER_SET_FACTORY, MeshLinkFactory, PeerSet, type PeerSetSelf } from '@nowconnect/mesh';
import { TunnelAuthenticator } from '../auth';
import { MeshManager } from '../mesh/mesh-manager';
import { HubModule } from '../hub.module';
import { HaCoordinator, type HeldTunnel } from './ha-coordinator';
import { HaMetrics } from './ha-metrics';

function hubConfig(ha: Record<string, unknown>): CloudConfig {
  const dir = mkdtempSync(join(tmpdir(), 'nc-ha-wiring-'));
  writeFileSync(join(dir, 'secret'), 'a-test-secret-that-is-long-enough-0123456789\n');
  return parseCloudConfig({ server: { bind: '127.0.0.1:0' }, auth: { hs256_secret_file: join(dir, 'secret') }, listeners: [], ha }, {});
}

/** The memory registry, recording the calls the hub makes (a fake is clearer than Redis for wiring). */
class RecordingRegistry extends MemoryOwnershipRegistry {
  readonly calls: string[] = [];
  closeCount = 0;
  override async claimHolder(...args: Parameters<MemoryOwnershipRegistry['claimHolder']>): Promise<number> {
    this.calls.push(`claim ${args[0]} ${args[1]}`);
    return super.claimHolder(...args);
  }
  override async releaseHolder(agentId: string, replicaId: string, epoch: number): Promise<boolean> {
    this.calls.push(`release ${agentId} ${epoch}`);
    return super.releaseHolder(agentId, replicaId, epoch);
  }
  override async removeReplica(replicaId: string): Promise<void> {
    this.calls.push(`removeReplica ${replicaId}`);
    return super.removeReplica(replicaId);
  }
  override async close(): Promise<void> {
    this.calls.push('close');
    this.closeCount++;
    return super.close();
  }
}

async function build(config: CloudConfig, registry?: HaRegistry) {
  const lines: string[] = [];
  const log = new EventLog(new Writable({ write: (c: Buffer, _e, cb) => (lines.push(...c.toString().split('\n').filter(Boolean)), cb()) }));
  let builder = Test.createTestingModule({ imports: [HubModule.forRoot(config, await TunnelAuthenticator.fromConfig(config.auth), log)] });
  if (registry !== undefined) builder = builder.overrideProvider(OWNERSHIP_REGISTRY).useValue(registry);
  const ref = await builder.compile();
  return { ref, events: () => lines.map((l) => JSON.parse(l) as { event: string }) };
}

const tunnel: HeldTunnel = { agentId: 'agent-1', connectors: ['db'], draining: false, close: () => undefined };

describe("the hub's HA wiring (HubModule, no process spawned)", () => {
  it('HA off: no registry, no sweeper, no HA metrics; start() does nothing', async () => {
    const { ref, events } = await build(hubConfig({ mode: 'off' }));
    expect(ref.get(OWNERSHIP_REGISTRY)).toBeNull();
    expect(ref.get(REGISTRY_SWEEPER)).toBeNull();
    expect(() => ref.get(HaMetrics)).toThrow();
    const ha = ref.get(HaCoordinator);
    await ha.start(1234);
    expect(ha.registryKind).toBe('none');
    expect(await ha.claim(tunnel)).toBeUndefined();
    expect(events().some((e) => e.event === 'ha_started')).toBe(false);
    expect(ref.get(MESH_CERT_RELOADER)).toBeNull();
    expect(ref.get(MESH_LINK_FACTORY)).toBeNull();
    expect(ref.get(MESH_PEER_SET_FACTORY)).toBeNull();
    await ref.get(MeshManager).start();
    expect(ref.get(MeshManager).running).toBe(false);
    await ref.close();
  });

  it('HA on without redis_url: the memory registry and a sweeper are provided and the coordinator uses them', async () => {
    const { ref } = await build(hubConfig({ enabled: true, mode: 'shadow', replica_id: 'hub-m' }));
    expect(ref.get(OWNERSHIP_REGISTRY)).toBeInstanceOf(MemoryOwnershipRegistry);
    expect(ref.get(REGISTRY_SWEEPER)).toBeInstanceOf(RegistrySweeper);
    expect(ref.get(HaMetrics)).toBeInstanceOf(HaMetrics);
    const ha = ref.get(HaCoordinator);
    await ha.start(1234);
    expect(ha.registryKind).toBe('memory');
    expect(ha.haMetrics).toBe(ref.get(HaMetrics));
    await ref.close();
  });

  it('an injected registry: a holder is claimed in it, released on shutdown, then closed by RegistryModule (in that order)', async () => {
    const fake = new RecordingRegistry({ leaseMs: 5000 });
    const { ref, events } = await build(hubConfig({ enabled: true, mode: 'active', replica_id: 'hub-f', mesh: { require_mtls: false } }), fake);
    const ha = ref.get(HaCoordinator);
    await ha.start(1234);
    await new Promise((r) => setImmediate(r)); // the log writes once per event-loop turn
    expect(events().find((e) => e.event === 'ha_started')).toMatchObject({ registry: 'memory', replica_id: 'hub-f', mode: 'active' });
    const epoch = await ha.claim(tunnel);
    expect(epoch).toBe(1);
    expect(fake.calls).toEqual(['claim agent-1 hub-f']);
    expect(ha.registryHealthy()).toBe(true);
    await ref.close();
    expect(fake.calls).toEqual(['claim agent-1 hub-f', 'removeReplica hub-f', 'release agent-1 1', 'close']);
    expect(fake.closeCount).toBe(1);
  });

  it("MeshManager gets its collaborators from MeshModule: the peer set factory (with this replica's mesh URL) and the link factory it dials with", async () => {
    const peer = 'ws://127.0.0.1:1/mesh'; // nothing listens: the dial fails, the reconnect timer is cleared on close
    const selves: PeerSetSelf[] = [];
    const config = hubConfig({ enabled: true, mode: 'shadow', replica_id: 'hub-w', mesh: { require_mtls: false, peers: [peer] } });
    const ref = await Test.createTestingModule({
      imports: [HubModule.forRoot(config, await TunnelAuthenticator.fromConfig(config.auth), new EventLog(new Writable({ write: (_c, _e, cb) => cb() })))],
    })
      .overrideProvider(MESH_PEER_SET_FACTORY)
      .useValue((self: PeerSetSelf) => (selves.push(self), new PeerSet(self, [peer])))
      .compile();
    expect(ref.get(MESH_CERT_RELOADER)).toBeNull(); // no ha.mesh.tls files
    const factory = ref.get<MeshLinkFactory>(MESH_LINK_FACTORY);
    expect(factory).toBeInstanceOf(MeshLinkFactory);
    expect(factory.defaults).toMatchObject({ localReplicaId: 'hub-w', maxFrameBytes: config.limits.maxFrameBytes, sendQueueDepth: config.ha.mesh.sendQueueDepth });
    const dial = jest.spyOn(factory, 'dial');
    const ha = ref.get(HaCoordinator);
    await ha.start(1234);
    const mesh = ref.get(MeshManager);
    await mesh.start();
    expect(mesh.running).toBe(true);
    expect(selves).toEqual([{ replicaId: 'hub-w', meshUrls: [ha.ownMeshUrl] }]);
    expect(dial).toHaveBeenCalledTimes(1);
    expect(dial.mock.calls[0]?.[0]).toBe(peer);
    await ref.close();
    expect(mesh.running).toBe(false);
  });
});
