import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type * as https from 'node:https';
import type { IncomingMessage } from 'node:http';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { CaFiles, CertFiles, makeCa, makeCert } from '../../../test/support/tls';
import { cleanupTmpDirs, makeTmpDir } from '../../../test/support/tmp';
import { CertReloader } from './cert-reloader';
import { MeshLink } from './mesh-link';
import { linkOptions, MeshServer, Recorder, RecordingMetrics, stopMeshServers } from './mesh-link.test-util';

/** mTLS between hubs with real certificates made by openssl (test/support/tls). */

let ca: CaFiles;
let otherCa: CaFiles;
let hubA: CertFiles; // the dialer's client certificate
let hubA2: CertFiles; // its renewal
let hubB: CertFiles; // the acceptor's server certificate
let hubB2: CertFiles;
let foreignClient: CertFiles;
let foreignServer: CertFiles;
let cnOnly: CertFiles;

beforeAll(async () => {
  ca = await makeCa(makeTmpDir('nc-mesh-tls-ca'));
  otherCa = await makeCa(makeTmpDir('nc-mesh-tls-other'), 'Rogue CA');
  [hubA, hubA2, hubB, hubB2, foreignClient, foreignServer, cnOnly] = await Promise.all([
    makeCert(ca, { cn: 'hub-a', name: 'hub-a', clientAuth: true }),
    makeCert(ca, { cn: 'hub-a', name: 'hub-a-renewed', clientAuth: true }),
    makeCert(ca, { cn: 'hub-b', name: 'hub-b', clientAuth: true }),
    makeCert(ca, { cn: 'hub-b', name: 'hub-b-renewed', clientAuth: true }),
    makeCert(otherCa, { cn: 'hub-a', name: 'rogue-client', clientAuth: true }),
    makeCert(otherCa, { cn: 'hub-b', name: 'rogue-server', clientAuth: true }),
    // CN says 127.0.0.1 but the only SAN is another name: must be refused (SANs, not CN).
    makeCert(ca, { cn: '127.0.0.1', name: 'cn-only', sans: ['DNS:other.example'], clientAuth: true }),
  ]);
});

afterAll(() => cleanupTmpDirs());

// Every wait below is for an event; a missing one fails the test here rather than at jest's global 120 s.
jest.setTimeout(20_000);

afterEach(async () => {
  await stopMeshServers();
});

/** Copies a cert/key pair plus the CA into a fresh directory the reloader watches. */
function liveFiles(cert: CertFiles, caFile = ca.certFile): { certFile: string; keyFile: string; caFile: string } {
  const dir = makeTmpDir('nc-mesh-tls-live');
  const f = { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.pem') };
  fs.copyFileSync(cert.certFile, f.certFile);
  fs.copyFileSync(cert.keyFile, f.keyFile);
  fs.copyFileSync(caFile, f.caFile);
  return f;
}

interface Accepted {
  link: MeshLink;
  clientCn: string;
  clientSerial: string;
}

/** An mTLS /mesh server: requires a client certificate from `ca`. */
async function mtlsServer(server: CertReloader): Promise<{ mesh: MeshServer; accepted: Accepted[]; a: Recorder; next: () => Promise<Accepted> }> {
  const a = new Recorder();
  const accepted: Accepted[] = [];
  const waiters: Array<(x: Accepted) => void> = [];
  const mesh = await MeshServer.start(
    (ws, req: IncomingMessage) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const x = {
        link: new MeshLink(ws, linkOptions({ role: 'acceptor', localReplicaId: 'hub-b' }), a),
        clientCn: String(peer.subject?.CN),
        clientSerial: peer.serialNumber,
      };
      accepted.push(x);
      waiters.shift()?.(x);
    },
    { ...server.material, requestCert: true, rejectUnauthorized: true },
  );
  const next = (): Promise<Accepted> => new Promise((resolve) => waiters.push(resolve));
  return { mesh, accepted, a, next };
}

function dial(url: string, client: CertReloader | undefined, d: Recorder, metrics = new RecordingMetrics()): { link: MeshLink; ws: WebSocket } {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...(client?.material ?? { ca: fs.readFileSync(ca.certFile) }) });
  return { ws, link: new MeshLink(ws, linkOptions({ role: 'dialer', localReplicaId: 'hub-a', metrics }), d) };
}

describe('MeshLink over mTLS', () => {
  it('links two hubs whose certificates come from the mesh CA; the server sees the dialer`s certificate', async () => {
    const server = new CertReloader({ files: liveFiles(hubB) });
    const client = new CertReloader({ files: liveFiles(hubA) });
    const { mesh, a, next } = await mtlsServer(server);
    const d = new Recorder();
    const acceptedP = next();
    dial(mesh.url, client, d);
    await Promise.all([d.waitFor('up'), a.waitFor('up')]);
    expect((await acceptedP).clientCn).toBe('hub-a');
  });

  it.each<[string, () => CertFiles | undefined]>([
    ['a client certificate from another CA', () => foreignClient],
    ['no client certificate', () => undefined],
  ])('refuses %s: no link, the server never sees a socket', async (_name, cert) => {
    const server = new CertReloader({ files: liveFiles(hubB) });
    const { mesh, accepted } = await mtlsServer(server);
    const d = new Recorder();
    const c = cert();
    const client = c === undefined ? undefined : new CertReloader({ files: liveFiles(c, ca.certFile) });
    const { link } = dial(mesh.url, client, d);
    await Promise.race([d.waitFor('down'), d.waitFor('up')]);
    expect(d.count('up')).toBe(0);
    expect(link.peerId).toBeUndefined();
    expect(accepted).toHaveLength(0);
  });

  it.each<[string, () => CertFiles]>([
    ['a server certificate from another CA', () => foreignServer],
    ['a server certificate whose CN matches but whose SANs do not', () => cnOnly],
  ])('the dialer refuses %s', async (_name, cert) => {
    const server = new CertReloader({ files: liveFiles(cert(), ca.certFile) });
    const { mesh } = await mesh2(server);
    const d = new Recorder();
    dial(mesh.url, new CertReloader({ files: liveFiles(hubA) }), d);
    await Promise.race([d.waitFor('down'), d.waitFor('up')]);
    expect(d.count('up')).toBe(0);
  });

  it('renewed certificates are picked up for new links while the established link stays up', async () => {
    const serverFiles = liveFiles(hubB);
    const clientFiles = liveFiles(hubA);
    const server = new CertReloader({ files: serverFiles });
    let clientReloaded: () => void = () => undefined;
    const clientReload = new Promise<void>((resolve) => (clientReloaded = resolve));
    const client = new CertReloader({ files: clientFiles, debounceMs: 20, pollIntervalMs: 200, onReload: () => clientReloaded() });
    const { mesh, next } = await mtlsServer(server);

    const d1 = new Recorder();
    const m1 = new RecordingMetrics();
    const first = next();
    const { link: old } = dial(mesh.url, client, d1, m1);
    await d1.waitFor('up');
    expect((await first).clientSerial).toBe(serialOf(hubA));

    // Renew the dialer's files on disk (as a secret mount would): its reloader notices by itself.
    client.start();
    try {
      fs.copyFileSync(hubA2.keyFile, clientFiles.keyFile);
      fs.copyFileSync(hubA2.certFile, clientFiles.certFile);
      await clientReload;
    } finally {
      client.stop();
    }
    // The acceptor's renewal, applied to its listening server for new handshakes.
    fs.copyFileSync(hubB2.keyFile, serverFiles.keyFile);
    fs.copyFileSync(hubB2.certFile, serverFiles.certFile);
    expect(server.reload()).toBe(true);
    (mesh.server as https.Server).setSecureContext({ ...server.material });

    const d2 = new Recorder();
    const second = next();
    const { ws } = dial(mesh.url, client, d2);
    const serverSerial = new Promise<string>((resolve) =>
      ws.once('upgrade', (res: IncomingMessage) => resolve((res.socket as TLSSocket).getPeerCertificate().serialNumber)),
    );
    await d2.waitFor('up');
    expect((await second).clientSerial).toBe(serialOf(hubA2));
    expect(await serverSerial).toBe(serialOf(hubB2));

    // The first link never dropped: it still answers a ping.
    const rtt = m1.nextRtt();
    old.ping();
    await expect(rtt).resolves.toBeGreaterThanOrEqual(0);
    expect(d1.count('down')).toBe(0);
  });
});

/** A TLS server that does not ask for client certificates (to test what the dialer verifies). */
async function mesh2(server: CertReloader): Promise<{ mesh: MeshServer }> {
  const a = new Recorder();
  const mesh = await MeshServer.start((ws) => new MeshLink(ws, linkOptions({ role: 'acceptor', localReplicaId: 'hub-b' }), a), { ...server.material });
  return { mesh };
}

function serialOf(c: CertFiles): string {
  return new X509Certificate(c.certPem).serialNumber;
}
