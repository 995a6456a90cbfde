import * as fs from 'node:fs';
import * as path from 'node:path';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CaFiles, CertFiles, makeCa, makeCert } from '../../../test/support/tls';
import { cleanupTmpDirs, makeTmpDir } from '../../../test/support/tmp';
import { CertReloader, type TlsMaterial } from './cert-reloader';
import { LinkState } from './link-state';
import type { MeshLink } from './mesh-link';
import { MeshServer, Recorder, stopMeshServers } from './mesh-link.test-util';
import {
  MESH_CERT_RELOADER,
  MESH_LINK_FACTORY,
  MESH_PEER_SET_FACTORY,
  MeshCertReloader,
  MeshLinkFactory,
  MeshModule,
  type MeshModuleOptions,
  type PeerSetFactory,
} from './mesh.module';

const link: MeshModuleOptions['link'] = {
  localReplicaId: 'hub-a',
  maxFrameBytes: 256 * 1024,
  sendQueueDepth: 1000,
  perLinkMaxInflightBytes: 8 * 1024 * 1024,
  keepaliveMs: 60_000,
  helloTimeoutMs: 10_000,
  flowWindowBytes: 64 * 1024,
};

function options(over: Partial<MeshModuleOptions> = {}): MeshModuleOptions {
  return { staticPeers: ['ws://hub-b:8443/mesh', 'ws://hub-a:8443/mesh'], link, maxPayloadBytes: 256 * 1024 + 65536, ...over };
}

/** A config provider module, as the hub's ConfigModule is for its factory. */
const OPTS = Symbol('opts');
function configModule(value: MeshModuleOptions | null) {
  @Module({ providers: [{ provide: OPTS, useValue: value }], exports: [OPTS] })
  class FakeConfigModule {}
  return FakeConfigModule;
}

function meshModule(value: MeshModuleOptions | null) {
  return MeshModule.forRootAsync({ imports: [configModule(value)], inject: [OPTS], useFactory: (o: MeshModuleOptions | null) => o });
}

let ca: CaFiles;
let first: CertFiles;
let renewed: CertFiles;

beforeAll(async () => {
  ca = await makeCa(makeTmpDir('nc-meshmod-ca'));
  first = await makeCert(ca, { cn: 'hub-a', name: 'hub-a-1', clientAuth: true });
  renewed = await makeCert(ca, { cn: 'hub-a', name: 'hub-a-2', clientAuth: true });
});

afterEach(() => stopMeshServers());
afterAll(() => cleanupTmpDirs());

function liveTls(): { certFile: string; keyFile: string; caFile: string } {
  const dir = makeTmpDir('nc-meshmod-live');
  const f = { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.pem') };
  fs.copyFileSync(first.certFile, f.certFile);
  fs.copyFileSync(first.keyFile, f.keyFile);
  fs.copyFileSync(ca.certFile, f.caFile);
  return f;
}

describe('MeshModule.forRootAsync', () => {
  it('HA off (factory returns null): nothing provided, nothing started, closes cleanly', async () => {
    const before = process.getActiveResourcesInfo().length;
    const ref = await Test.createTestingModule({ imports: [meshModule(null)] }).compile();
    await ref.init();
    expect(ref.get(MESH_CERT_RELOADER)).toBeNull();
    expect(ref.get(MESH_LINK_FACTORY)).toBeNull();
    expect(ref.get(MESH_PEER_SET_FACTORY)).toBeNull();
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(before);
    await ref.close();
  });

  it('HA on without TLS files: no cert reloader; a link factory and a peer set factory of the static peers', async () => {
    const ref = await Test.createTestingModule({ imports: [meshModule(options())] }).compile();
    expect(ref.get(MESH_CERT_RELOADER)).toBeNull();
    const factory = ref.get<MeshLinkFactory>(MESH_LINK_FACTORY);
    expect(factory).toBeInstanceOf(MeshLinkFactory);
    expect(factory.maxPayloadBytes).toBe(256 * 1024 + 65536);
    const opts = factory.options('dialer', 'hub-b', { ownerEpoch: () => 7 });
    expect(opts).toMatchObject({ ...link, role: 'dialer', expectedPeerId: 'hub-b' });
    expect(opts.ownerEpoch('x')).toBe(7);
    expect('expectedPeerId' in factory.options('acceptor', undefined, { ownerEpoch: () => undefined })).toBe(false);
    const peers = ref.get<PeerSetFactory>(MESH_PEER_SET_FACTORY)({ replicaId: 'hub-a', meshUrls: ['ws://hub-a:8443/mesh'] });
    expect(peers.targets().map((t) => t.url)).toEqual(['ws://hub-b:8443/mesh']); // self excluded
    await ref.close();
  });

  it('with ha.mesh.tls files: a loaded CertReloader is provided, reloads reach the handlers set later, and it is stopped on close', async () => {
    const files = liveTls();
    const ref = await Test.createTestingModule({ imports: [meshModule(options({ tls: files }))] }).compile();
    await ref.init();
    const reloader = ref.get<MeshCertReloader>(MESH_CERT_RELOADER);
    expect(reloader).toBeInstanceOf(CertReloader);
    expect(reloader.material.cert?.equals(fs.readFileSync(first.certFile))).toBe(true);
    const seen: number[] = [];
    reloader.setHandlers({ onReload: (_m: TlsMaterial, generation: number) => seen.push(generation) });
    reloader.start();
    fs.copyFileSync(renewed.certFile, files.certFile);
    fs.copyFileSync(renewed.keyFile, files.keyFile);
    expect(reloader.reload()).toBe(true);
    expect(seen).toEqual([2]);
    const stop = jest.spyOn(reloader, 'stop');
    await ref.close();
    expect(stop).toHaveBeenCalledTimes(1);
  });

  it('a missing TLS file fails the module build (a start-up error, as in MeshManager.start before)', async () => {
    const files = { ...liveTls(), certFile: path.join(makeTmpDir('nc-meshmod-none'), 'absent.crt') };
    await expect(Test.createTestingModule({ imports: [meshModule(options({ tls: files }))] }).compile()).rejects.toThrow();
  });

  it('overrideProvider: a fake reloader is injected, and it is what shutdown stops', async () => {
    const material: TlsMaterial = { cert: Buffer.from('c'), key: Buffer.from('k'), ca: Buffer.from('a') };
    const fake = { material, stop: jest.fn() };
    const ref = await Test.createTestingModule({ imports: [meshModule(options())] })
      .overrideProvider(MESH_CERT_RELOADER)
      .useValue(fake)
      .compile();
    expect(ref.get(MESH_CERT_RELOADER)).toBe(fake);
    await ref.close();
    expect(fake.stop).toHaveBeenCalledTimes(1);
  });

  it('the link factory creates a dialer and an acceptor link that come up over a real WebSocket', async () => {
    const ref = await Test.createTestingModule({ imports: [meshModule(options())] }).compile();
    const factory = ref.get<MeshLinkFactory>(MESH_LINK_FACTORY);
    const a = new Recorder();
    const d = new Recorder();
    let accepted: MeshLink | undefined;
    const server = await MeshServer.start((ws) => {
      accepted = new MeshLinkFactory({ ...link, localReplicaId: 'hub-b' }, factory.maxPayloadBytes).accept(ws, { ownerEpoch: () => undefined }, a);
    });
    const dialer = factory.dial(server.url, 'hub-b', { ownerEpoch: () => undefined }, d);
    await Promise.all([d.waitFor('up'), a.waitFor('up')]);
    expect(dialer.state).toBe(LinkState.UP);
    expect(dialer.peerId).toBe('hub-b');
    expect(accepted?.peerId).toBe('hub-a');
    dialer.close('test');
    accepted?.close('test');
    await ref.close();
  });
});
