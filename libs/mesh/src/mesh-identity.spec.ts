import * as fs from 'node:fs';
import { encodeMeshHello, MeshFrame, MeshFrameType } from '@nowconnect/frames';
import WebSocket from 'ws';
import { CaFiles, makeCa, makeCert } from '../../../test/support/tls';
import { cleanupTmpDirs, makeTmpDir } from '../../../test/support/tmp';
import { LinkState } from './link-state';
import { helloTranscript, MeshIdentity, MeshKeyPair, parseMeshKey, PeerKeyLookup, REPLICA_SAN_PREFIX, verifyMeshProof } from './mesh-identity';
import { MeshLink, MeshLinkOptions } from './mesh-link';
import { linkOptions, MeshServer, RawPeer, Recorder, RecordingMetrics, stopMeshServers } from './mesh-link.test-util';

/** Issue 13 finding 2: a mesh peer proves its replica id (registered per-instance key, optional per-replica certificate). */

jest.setTimeout(20_000);
afterEach(() => stopMeshServers());
afterAll(() => cleanupTmpDirs());

/** A registry of replica keys, as the hub reads it from the replica records. */
class FakeRegistry {
  readonly keys = new Map<string, string>();
  down = false;
  register(id: string): MeshKeyPair {
    const k = MeshKeyPair.generate();
    this.keys.set(id, k.publicKeyText);
    return k;
  }
  identity(pair: MeshKeyPair): MeshIdentity {
    return {
      sign: (t) => pair.sign(t),
      peerKey: async (id): Promise<PeerKeyLookup> => {
        if (this.down) throw new Error('registry down');
        const key = parseMeshKey(this.keys.get(id));
        return key === undefined ? { key: undefined, why: 'unknown_replica' } : { key };
      },
    };
  }
}

async function acceptor(over: Partial<MeshLinkOptions>, tls?: object) {
  const a = new Recorder();
  const am = new RecordingMetrics();
  const links: MeshLink[] = [];
  const server = await MeshServer.start((ws) => {
    links.push(new MeshLink(ws, linkOptions({ role: 'acceptor', localReplicaId: 'hub-b', metrics: am, ...over }), a));
  }, tls);
  return { server, a, am, links };
}

function dial(url: string, over: Partial<MeshLinkOptions>, wsOptions: WebSocket.ClientOptions = {}) {
  const d = new Recorder();
  const dm = new RecordingMetrics();
  const link = new MeshLink(new WebSocket(url, { perMessageDeflate: false, ...wsOptions }), linkOptions({ role: 'dialer', localReplicaId: 'hub-a', metrics: dm, ...over }), d);
  return { d, dm, link };
}

describe('mesh identity: keys and transcripts', () => {
  it('a proof verifies only with the signer`s key, for the same transcript', () => {
    const k1 = MeshKeyPair.generate();
    const k2 = MeshKeyPair.generate();
    const t = helloTranscript('dialer', 'hub-a', 'hub-b', Buffer.alloc(16, 1), Buffer.alloc(16, 2));
    const proof = k1.sign(t);
    expect(verifyMeshProof(parseMeshKey(k1.publicKeyText)!, t, proof)).toBe(true);
    expect(verifyMeshProof(parseMeshKey(k2.publicKeyText)!, t, proof)).toBe(false);
    expect(verifyMeshProof(parseMeshKey(k1.publicKeyText)!, helloTranscript('acceptor', 'hub-a', 'hub-b', Buffer.alloc(16, 1), Buffer.alloc(16, 2)), proof)).toBe(false);
    expect(verifyMeshProof(parseMeshKey(k1.publicKeyText)!, helloTranscript('dialer', 'hub-a', 'hub-b', Buffer.alloc(16, 1), Buffer.alloc(16, 3)), proof)).toBe(false);
    expect(parseMeshKey('not-a-key')).toBeUndefined();
    expect(parseMeshKey(undefined)).toBeUndefined();
  });
});

describe('mesh identity: the handshake', () => {
  it('two replicas with registered keys link; each knows the other`s proven id', async () => {
    const reg = new FakeRegistry();
    const [ka, kb] = [reg.register('hub-a'), reg.register('hub-b')];
    const { server, a, links } = await acceptor({ identity: reg.identity(kb) });
    const { d, link } = dial(server.url, { identity: reg.identity(ka) });
    await Promise.all([d.waitFor('up'), a.waitFor('up')]);
    expect([link.peerId, links[0]!.peerId]).toEqual(['hub-b', 'hub-a']);
  });

  it('an impostor claiming hub-a with another key is refused: 1008, identity (bad_proof), counted; never up', async () => {
    const reg = new FakeRegistry();
    reg.register('hub-a');
    const kb = reg.register('hub-b');
    const rogue = MeshKeyPair.generate();
    const { server, a, am, links } = await acceptor({ identity: reg.identity(kb) });
    const { d } = dial(server.url, { identity: { sign: (t) => rogue.sign(t), peerKey: reg.identity(kb).peerKey } });
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'identity' });
    expect(links[0]!.failureDetail).toBe('bad_proof');
    expect(links[0]!.claimedPeerId).toBe('hub-a');
    expect(am.failures).toEqual(['identity']);
    expect(a.count('up')).toBe(0);
    await d.waitFor('down');
  });

  it('the dialer refuses an acceptor that cannot prove its id', async () => {
    const reg = new FakeRegistry();
    const ka = reg.register('hub-a');
    reg.register('hub-b');
    const rogue = MeshKeyPair.generate();
    const { server } = await acceptor({ identity: { sign: (t) => rogue.sign(t), peerKey: reg.identity(ka).peerKey } });
    const { d, dm, link } = dial(server.url, { identity: reg.identity(ka) });
    await expect(d.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'identity' });
    expect(link.failureDetail).toBe('bad_proof');
    expect(dm.failures).toEqual(['identity']);
  });

  it.each<[string, string, (reg: FakeRegistry) => void]>([
    ['a replica the registry does not know', 'unknown_replica', (reg) => reg.keys.delete('hub-a')],
    ['the registry unavailable (fail closed)', 'registry_unavailable', (reg) => (reg.down = true)],
  ])('%s is refused: identity (%s)', async (_what, detail, change) => {
    const reg = new FakeRegistry();
    const ka = reg.register('hub-a');
    const kb = reg.register('hub-b');
    const { server, a, links } = await acceptor({ identity: reg.identity(kb) });
    change(reg);
    dial(server.url, { identity: reg.identity(ka) });
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'identity' });
    expect(links[0]!.failureDetail).toBe(detail);
  });

  it('an identity-less M_HELLO (protocol 1, or a stranger) is refused 1008 identity (no_proof)', async () => {
    const reg = new FakeRegistry();
    const { server, a, links } = await acceptor({ identity: reg.identity(reg.register('hub-b')) });
    const peer = await RawPeer.connect(server.url);
    peer.send(encodeMeshHello('hub-a'));
    expect(await peer.closed).toBe(1008);
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'identity' });
    expect(links[0]!.failureDetail).toBe('no_proof');
  });

  it('a proof bound to another handshake`s nonce (a replay) is refused even when signed with the right key', async () => {
    const reg = new FakeRegistry();
    const ka = reg.register('hub-a');
    const { server, a, links } = await acceptor({ identity: reg.identity(reg.register('hub-b')) });
    const peer = await RawPeer.connect(server.url);
    const nonce = Buffer.alloc(16, 9);
    peer.send(encodeMeshHello('hub-a', { nonce, proof: undefined }));
    const answer = (await peer.waitFor((f) => f.type === MeshFrameType.M_HELLO)) as Extract<MeshFrame, { type: MeshFrameType.M_HELLO }>;
    expect(answer.identity?.proof).toBeDefined();
    const staleAcceptorNonce = Buffer.alloc(16, 1); // what an earlier handshake had
    peer.send(encodeMeshHello('hub-a', { nonce, proof: ka.sign(helloTranscript('dialer', 'hub-a', 'hub-b', nonce, staleAcceptorNonce)) }));
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'identity' });
    expect(links[0]!.failureDetail).toBe('bad_proof');
    // control: the same peer signing this handshake's transcript would have passed
    expect(verifyMeshProof(parseMeshKey(ka.publicKeyText)!, helloTranscript('dialer', 'hub-a', 'hub-b', nonce, answer.identity!.nonce), ka.sign(helloTranscript('dialer', 'hub-a', 'hub-b', nonce, answer.identity!.nonce)))).toBe(true);
  });

  it('no frame may come while the registry is asked: an early second M_HELLO is a protocol error', async () => {
    const reg = new FakeRegistry();
    reg.register('hub-a');
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const kb = reg.register('hub-b');
    const slow: MeshIdentity = { sign: (t) => kb.sign(t), peerKey: async (id) => (await gate, reg.identity(kb).peerKey(id)) };
    const { server, a } = await acceptor({ identity: slow });
    const peer = await RawPeer.connect(server.url);
    peer.send(encodeMeshHello('hub-a', { nonce: Buffer.alloc(16, 4), proof: undefined }), encodeMeshHello('hub-a', { nonce: Buffer.alloc(16, 4), proof: Buffer.alloc(64) }));
    await expect(a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'protocol_error' });
    release();
  });
});

describe('mesh identity: per-replica certificates (URI SAN urn:nowconnect:replica:<id>)', () => {
  let ca: CaFiles;
  beforeAll(async () => {
    ca = await makeCa(makeTmpDir('nc-mesh-id-ca'));
  });

  async function mtls(clientSans: string[], reg: FakeRegistry, kb: MeshKeyPair) {
    const serverSans = ['IP:127.0.0.1', `URI:${REPLICA_SAN_PREFIX}hub-b`];
    const server = await makeCert(ca, { cn: 'hub-b', name: `srv-${Math.random().toString(36).slice(2)}`, sans: serverSans, clientAuth: true });
    const client = await makeCert(ca, { cn: 'hub-a', name: `cli-${Math.random().toString(36).slice(2)}`, sans: clientSans, clientAuth: true });
    const tls = { cert: fs.readFileSync(server.certFile), key: fs.readFileSync(server.keyFile), ca: fs.readFileSync(ca.certFile), requestCert: true, rejectUnauthorized: true };
    const acc = await acceptor({ identity: reg.identity(kb) }, tls);
    const wsOptions = { cert: fs.readFileSync(client.certFile), key: fs.readFileSync(client.keyFile), ca: fs.readFileSync(ca.certFile) };
    return { acc, wsOptions };
  }

  it('a certificate naming another replica refuses the claim (cert_mismatch), even with a good key proof', async () => {
    const reg = new FakeRegistry();
    const ka = reg.register('hub-a');
    const kb = reg.register('hub-b');
    const { acc, wsOptions } = await mtls([`URI:${REPLICA_SAN_PREFIX}hub-z`], reg, kb);
    dial(acc.server.url, { identity: reg.identity(ka) }, wsOptions);
    await expect(acc.a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'identity' });
    expect(acc.links[0]!.failureDetail).toBe('cert_mismatch');
  });

  it('a certificate naming the replica links; a shared certificate naming none relies on the key alone', async () => {
    const reg = new FakeRegistry();
    const ka = reg.register('hub-a');
    const kb = reg.register('hub-b');
    for (const sans of [[`URI:${REPLICA_SAN_PREFIX}hub-a`, 'DNS:hub-a.mesh'], ['DNS:mesh.example']]) {
      const { acc, wsOptions } = await mtls(sans, reg, kb);
      const { d } = dial(acc.server.url, { identity: reg.identity(ka) }, wsOptions);
      await Promise.all([d.waitFor('up'), acc.a.waitFor('up')]);
      expect(acc.links[0]!.state).toBe(LinkState.UP);
    }
  });

  it('with the registry unavailable, a certificate naming the replica is the proof (a shared one is not)', async () => {
    const reg = new FakeRegistry();
    const ka = reg.register('hub-a');
    const kb = reg.register('hub-b');
    const named = await mtls([`URI:${REPLICA_SAN_PREFIX}hub-a`], reg, kb);
    const shared = await mtls(['DNS:mesh.example'], reg, kb);
    reg.down = true;
    const one = dial(named.acc.server.url, { identity: reg.identity(ka) }, named.wsOptions);
    await Promise.all([one.d.waitFor('up'), named.acc.a.waitFor('up')]);
    dial(shared.acc.server.url, { identity: reg.identity(ka) }, shared.wsOptions);
    await expect(shared.acc.a.waitFor('down')).resolves.toEqual({ kind: 'down', reason: 'identity' });
    expect(shared.acc.links[0]!.failureDetail).toBe('registry_unavailable');
  });
});
