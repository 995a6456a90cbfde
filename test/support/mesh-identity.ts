import { encodeMeshHello, MeshFrameType, type MeshFrame } from '@nowconnect/frames';
import { helloTranscript, MeshKeyPair } from '@nowconnect/mesh';
import { DistributedRegistry } from '@nowconnect/registry';
import * as crypto from 'node:crypto';

type Hello = Extract<MeshFrame, { type: MeshFrameType.M_HELLO }>;

/**
 * A mesh replica played by the test (docs/mesh.md "Identity"): its key is registered in the hub's
 * Redis registry under a replica record with no mesh URL (so no hub dials it), and it speaks the
 * identity handshake by hand: first M_HELLO (nonce), then, given the hub's answer, the proof.
 */
export class TestMeshReplica {
  readonly nonce = crypto.randomBytes(16);
  private constructor(
    readonly replicaId: string,
    private readonly keys: MeshKeyPair,
    private readonly registry: DistributedRegistry | undefined,
    private readonly ownsRegistry: boolean,
  ) {}

  /** A registry client for many registrations (close it when done). */
  static async openRegistry(redisUrl: string): Promise<DistributedRegistry> {
    const registry = new DistributedRegistry({ url: redisUrl, lease_ms: 600_000 });
    await registry.waitReady(10_000);
    return registry;
  }

  /**
   * Registers `replicaId` with a fresh key (lease 10 min: no heartbeat needed for a test), through its own
   * registry client (a Redis URL) or a shared one.
   */
  static async register(redis: string | DistributedRegistry, replicaId: string): Promise<TestMeshReplica> {
    const registry = typeof redis === 'string' ? await TestMeshReplica.openRegistry(redis) : redis;
    const keys = MeshKeyPair.generate();
    await registry.registerReplica({ replicaId, meshUrl: '', startedAt: Date.now(), meshKey: keys.publicKeyText });
    return new TestMeshReplica(replicaId, keys, registry, typeof redis === 'string');
  }

  /** A peer whose key no registry holds (an impostor claiming `replicaId`). */
  static unregistered(replicaId: string): TestMeshReplica {
    return new TestMeshReplica(replicaId, MeshKeyPair.generate(), undefined, false);
  }

  /** The dialer's first M_HELLO. */
  hello(): Buffer {
    return encodeMeshHello(this.replicaId, { nonce: this.nonce, proof: undefined });
  }

  /** The dialer's second M_HELLO, answering the hub's (acceptor) hello. */
  proof(answer: MeshFrame): Buffer {
    const h = answer as Hello;
    if (h.type !== MeshFrameType.M_HELLO || h.identity === undefined) throw new Error('not an M_HELLO with identity fields');
    const proof = this.keys.sign(helloTranscript('dialer', this.replicaId, h.replicaId, this.nonce, Buffer.from(h.identity.nonce)));
    return encodeMeshHello(this.replicaId, { nonce: this.nonce, proof });
  }

  /** Removes the replica record (and closes the registry client when it is its own). */
  async remove(): Promise<void> {
    if (this.registry === undefined) return;
    await this.registry.removeReplica(this.replicaId).catch(() => undefined);
    if (this.ownsRegistry) await this.registry.close().catch(() => undefined);
  }
}
