import { createHash, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';

/** The ha.mesh.tls files; any may be absent (no client certificate, system CAs). */
export interface CertFilesConfig {
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly caFile?: string | undefined;
}

/** The PEM bytes currently in use: spread into `tls.createServer`, `server.setSecureContext` or ws dial options. */
export interface TlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
}

export interface CertReloaderOptions {
  readonly files: CertFilesConfig;
  /** Polling fallback (fs.watch misses events on some filesystems); default 5000 ms. */
  readonly pollIntervalMs?: number;
  /** Wait after a watch event so a cert and key written one after the other are read together; default 100 ms. */
  readonly debounceMs?: number;
  /** A new context is in use. */
  readonly onReload?: (material: TlsMaterial, generation: number) => void;
  /** New files were unreadable or invalid; the previous context stays in use. */
  readonly onError?: (err: Error) => void;
}

/**
 * Keeps a tls.SecureContext built from the mesh certificate files and
 * rebuilds it when they change (fs.watch on their directories, which also
 * sees Kubernetes' atomic symlink swaps, plus polling of mtime/size/inode;
 * a content hash decides whether anything really changed). New files are
 * validated by building the context (bad PEM, key not matching the cert);
 * when that fails the old context stays and `onError` is called. Established
 * TLS connections keep the context they started with, so no link drops; new
 * handshakes (server via `setSecureContext`/`SNICallback`, dials via
 * `secureContext`) use the new one.
 */
export class CertReloader {
  private ctx: tls.SecureContext;
  private current: TlsMaterial;
  private hash: string;
  private stamp: string;
  private gen = 1;
  private readonly watchers: fs.FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;

  /** Loads the files now; throws when they are missing or invalid (a start-up error). */
  constructor(private readonly options: CertReloaderOptions) {
    const material = readMaterial(options.files);
    this.ctx = tls.createSecureContext(material);
    this.current = material;
    this.hash = hashOf(material);
    this.stamp = statStamp(options.files);
  }

  get context(): tls.SecureContext {
    return this.ctx;
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** 1 at start, +1 per applied reload. */
  get generation(): number {
    return this.gen;
  }

  /** For `tls.createServer({ SNICallback })`: always the current context. */
  readonly sniCallback = (_servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    cb(null, this.ctx);
  };

  start(): void {
    if (this.pollTimer !== undefined) return;
    const dirs = new Set(filesOf(this.options.files).map((f) => path.dirname(f)));
    for (const dir of dirs) {
      try {
        const w = fs.watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', () => w.close());
        this.watchers.push(w);
      } catch {
        /* no watch support here: polling covers it */
      }
    }
    this.pollTimer = setInterval(() => this.poll(), this.options.pollIntervalMs ?? 5000);
    this.pollTimer.unref();
  }

  stop(): void {
    for (const w of this.watchers.splice(0)) w.close();
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer);
    this.pollTimer = undefined;
    this.debounceTimer = undefined;
  }

  /**
   * Reads the files now. Returns true when they changed and the new context is
   * in use; false when unchanged or invalid (then `onError` was called).
   */
  reload(): boolean {
    this.stamp = statStamp(this.options.files);
    let material: TlsMaterial;
    let ctx: tls.SecureContext;
    try {
      material = readMaterial(this.options.files);
      const hash = hashOf(material);
      if (hash === this.hash) return false;
      ctx = tls.createSecureContext(material);
      this.hash = hash;
    } catch (err) {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
    this.ctx = ctx;
    this.current = material;
    this.gen++;
    this.options.onReload?.(material, this.gen);
    return true;
  }

  private schedule(): void {
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.reload();
    }, this.options.debounceMs ?? 100);
    this.debounceTimer.unref();
  }

  private poll(): void {
    if (statStamp(this.options.files) !== this.stamp) this.reload();
  }
}

function filesOf(files: CertFilesConfig): string[] {
  return [files.certFile, files.keyFile, files.caFile].filter((f): f is string => f !== undefined);
}

function readMaterial(files: CertFilesConfig): TlsMaterial {
  const read = (f: string | undefined): Buffer | undefined => (f === undefined ? undefined : fs.readFileSync(f));
  const cert = read(files.certFile);
  const key = read(files.keyFile);
  const ca = read(files.caFile);
  if (cert !== undefined) new X509Certificate(cert); // throws on a file that is not a certificate
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('ca bundle holds no PEM certificate');
  return { ...(cert && { cert }), ...(key && { key }), ...(ca && { ca }) };
}

function hashOf(m: TlsMaterial): string {
  const h = createHash('sha256');
  for (const part of [m.cert, m.key, m.ca]) {
    h.update(part === undefined ? '-' : `${part.length}:`);
    if (part !== undefined) h.update(part);
  }
  return h.digest('hex');
}

/** mtime, size and inode of each file ("" for a missing one): cheap to compare on every poll. */
function statStamp(files: CertFilesConfig): string {
  return filesOf(files)
    .map((f) => {
      try {
        const s = fs.statSync(f);
        return `${s.mtimeMs}/${s.size}/${s.ino}`;
      } catch {
        return '';
      }
    })
    .join('|');
}

/**
 * The earliest not-after (unix seconds) of the PEM certificates in `pem` (a cert file or a CA bundle),
 * or undefined when it holds none that parse.
 */
export function earliestNotAfter(pem: Buffer | undefined): number | undefined {
  if (pem === undefined) return undefined;
  let earliest: number | undefined;
  for (const block of pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      const t = Date.parse(new X509Certificate(block).validTo) / 1000;
      if (Number.isFinite(t) && (earliest === undefined || t < earliest)) earliest = t;
    } catch {
      /* not a certificate: skipped */
    }
  }
  return earliest;
}
