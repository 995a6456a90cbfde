import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { CaFiles, CertFiles, makeCa, makeCert } from '../../../test/support/tls';
import { cleanupTmpDirs, makeTmpDir } from '../../../test/support/tmp';
import { CertReloader, earliestNotAfter, TlsMaterial } from './cert-reloader';

/** Where the reloader reads (copies of generated files, so the tests can replace them). */
interface Live {
  dir: string;
  certFile: string;
  keyFile: string;
  caFile: string;
}

let ca: CaFiles;
let first: CertFiles;
let renewed: CertFiles;
let otherCa: CaFiles;
let foreign: CertFiles;

beforeAll(async () => {
  ca = await makeCa(makeTmpDir('nc-mesh-ca'));
  first = await makeCert(ca, { cn: 'hub-a', name: 'hub-a-1', clientAuth: true });
  renewed = await makeCert(ca, { cn: 'hub-a', name: 'hub-a-2', clientAuth: true });
  otherCa = await makeCa(makeTmpDir('nc-mesh-other-ca'), 'Other CA');
  foreign = await makeCert(otherCa, { cn: 'hub-a', name: 'foreign', clientAuth: true });
});

afterAll(() => cleanupTmpDirs());

function live(): Live {
  const dir = makeTmpDir('nc-mesh-live');
  const l = { dir, certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.pem') };
  fs.copyFileSync(first.certFile, l.certFile);
  fs.copyFileSync(first.keyFile, l.keyFile);
  fs.copyFileSync(ca.certFile, l.caFile);
  return l;
}

/** Replace a file the way a secret mount does: write aside, rename over. */
function replace(target: string, source: string | Buffer): void {
  const tmp = `${target}.tmp`;
  fs.writeFileSync(tmp, typeof source === 'string' ? fs.readFileSync(source) : source);
  fs.renameSync(tmp, target);
}

const files = (l: Live) => ({ certFile: l.certFile, keyFile: l.keyFile, caFile: l.caFile });

function serialOf(m: TlsMaterial): string {
  return new X509Certificate(m.cert!).serialNumber;
}

describe('CertReloader', () => {
  it('loads the files at construction and exposes a usable context and the PEM material', () => {
    const l = live();
    const r = new CertReloader({ files: files(l) });
    expect(r.generation).toBe(1);
    expect(r.material.cert?.equals(fs.readFileSync(first.certFile))).toBe(true);
    expect(r.material.ca?.equals(fs.readFileSync(ca.certFile))).toBe(true);
    expect(r.context).toBeDefined();
    let got: tls.SecureContext | undefined;
    r.sniCallback('hub-a', (err, ctx) => {
      expect(err).toBeNull();
      got = ctx;
    });
    expect(got).toBe(r.context);
  });

  it('throws at construction when a file is missing or not PEM (start-up error)', () => {
    const l = live();
    expect(() => new CertReloader({ files: { ...files(l), certFile: path.join(l.dir, 'absent.crt') } })).toThrow();
    fs.writeFileSync(l.certFile, 'garbage');
    expect(() => new CertReloader({ files: files(l) })).toThrow();
  });

  it('reload() is a no-op while the contents are unchanged (even when touched)', () => {
    const l = live();
    const r = new CertReloader({ files: files(l) });
    const ctx = r.context;
    replace(l.certFile, first.certFile);
    expect(r.reload()).toBe(false);
    expect(r.context).toBe(ctx);
    expect(r.generation).toBe(1);
  });

  it('reload() picks up a renewed cert and key: new context, generation + 1, onReload', () => {
    const l = live();
    const reloads: number[] = [];
    const r = new CertReloader({ files: files(l), onReload: (_m, g) => reloads.push(g) });
    const before = r.context;
    replace(l.certFile, renewed.certFile);
    replace(l.keyFile, renewed.keyFile);
    expect(r.reload()).toBe(true);
    expect(r.context).not.toBe(before);
    expect(serialOf(r.material)).toBe(serialOf({ cert: fs.readFileSync(renewed.certFile) }));
    expect(reloads).toEqual([2]);
  });

  it.each<[string, (l: Live) => void]>([
    ['a key that does not match the certificate', (l) => replace(l.keyFile, renewed.keyFile)],
    ['a garbage certificate', (l) => replace(l.certFile, Buffer.from('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n'))],
    ['a garbage key', (l) => replace(l.keyFile, Buffer.from('not a key'))],
    ['a CA bundle without certificates', (l) => replace(l.caFile, Buffer.from('hello'))],
    ['a deleted file', (l) => fs.rmSync(l.keyFile)],
  ])('keeps the old context and reports an error on %s', (_name, breakIt) => {
    const l = live();
    const errors: Error[] = [];
    const r = new CertReloader({ files: files(l), onError: (e) => errors.push(e) });
    const before = r.context;
    breakIt(l);
    expect(r.reload()).toBe(false);
    expect(errors).toHaveLength(1);
    expect(r.context).toBe(before);
    expect(r.material.cert?.equals(fs.readFileSync(first.certFile))).toBe(true);
    expect(r.generation).toBe(1);
  });

  it('after a bad write, the next good write is picked up', () => {
    const l = live();
    const r = new CertReloader({ files: files(l), onError: () => undefined });
    replace(l.keyFile, foreign.keyFile);
    expect(r.reload()).toBe(false);
    replace(l.certFile, foreign.certFile);
    expect(r.reload()).toBe(true);
    expect(serialOf(r.material)).toBe(serialOf({ cert: fs.readFileSync(foreign.certFile) }));
  });

  it('start(): a replaced certificate is picked up on its own (watch, with polling as fallback)', async () => {
    const l = live();
    let r: CertReloader | undefined;
    const reloaded = new Promise<number>((resolve) => {
      r = new CertReloader({ files: files(l), pollIntervalMs: 200, debounceMs: 20, onReload: (_m, g) => resolve(g), onError: () => undefined });
    });
    r!.start();
    try {
      replace(l.keyFile, renewed.keyFile);
      replace(l.certFile, renewed.certFile);
      await expect(reloaded).resolves.toBe(2);
      expect(serialOf(r!.material)).toBe(serialOf({ cert: fs.readFileSync(renewed.certFile) }));
    } finally {
      r!.stop();
    }
  });

  it('stop() is idempotent and start() twice does not double the watchers', () => {
    const l = live();
    const r = new CertReloader({ files: files(l) });
    r.start();
    r.start();
    r.stop();
    r.stop();
    expect(r.generation).toBe(1);
  });
});

describe('earliestNotAfter', () => {
  it('gives the earliest not-after of a bundle, in unix seconds, and undefined without certificates', async () => {
    const dir = makeTmpDir('nc-mesh-expiry');
    const ca2 = await makeCa(dir);
    const soon = await makeCert(ca2, { cn: 'soon', days: 2 });
    const later = await makeCert(ca2, { cn: 'later', days: 30 });
    const now = Date.now() / 1000;
    const day = 86_400;
    const tSoon = earliestNotAfter(Buffer.from(soon.certPem))!;
    const tLater = earliestNotAfter(Buffer.from(later.certPem))!;
    // openssl -days N: not-after is N days from now (to the second; a generous minute either way).
    expect(Math.abs(tSoon - (now + 2 * day))).toBeLessThan(60);
    expect(Math.abs(tLater - (now + 30 * day))).toBeLessThan(60);
    expect(earliestNotAfter(Buffer.from(later.certPem + soon.certPem))).toBe(tSoon);
    expect(earliestNotAfter(Buffer.from(soon.keyPem))).toBeUndefined();
    expect(earliestNotAfter(Buffer.from('-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n'))).toBeUndefined();
    expect(earliestNotAfter(undefined)).toBeUndefined();
  });
});
