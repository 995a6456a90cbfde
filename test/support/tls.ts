import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findBin } from './bins';

export interface CaFiles {
  dir: string;
  certFile: string;
  keyFile: string;
  certPem: string;
}

export interface CertFiles {
  certFile: string;
  keyFile: string;
  /** The issuing CA's certificate (what a verifying peer trusts). */
  caFile: string;
  certPem: string;
  keyPem: string;
}

export interface CertOptions {
  cn: string;
  /** openssl subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost'] (the default). */
  sans?: string[];
  /** Add clientAuth to extendedKeyUsage (for mTLS client certs); serverAuth is always present. */
  clientAuth?: boolean;
  /** Base file name (default derived from cn). */
  name?: string;
  days?: number;
}

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(findBin('openssl'), args, { timeout: 30_000, env: { ...process.env, OPENSSL_CONF: '/dev/null' } }, (err, _o, stderr) => {
      if (err) reject(new Error(`openssl ${args[0] ?? ''} failed: ${err.message}\n${String(stderr)}`));
      else resolve();
    });
  });
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A fresh self-signed CA (EC P-256) in dir: ca.crt / ca.key. */
export async function makeCa(dir: string, cn = 'NowConnect Test CA'): Promise<CaFiles> {
  fs.mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, 'ca.crt');
  const keyFile = path.join(dir, 'ca.key');
  await openssl([
    'req', '-x509', '-new', ...KEY_ARGS, '-keyout', keyFile, '-out', certFile, '-days', '3',
    '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash',
  ]);
  return { dir, certFile, keyFile, certPem: fs.readFileSync(certFile, 'utf8') };
}

/** A leaf certificate signed by `ca`, written next to the CA files. */
export async function makeCert(ca: CaFiles, opts: CertOptions): Promise<CertFiles> {
  const base = opts.name ?? opts.cn.replace(/[^a-zA-Z0-9_.-]/g, '_');
  const sans = opts.sans ?? ['IP:127.0.0.1', 'DNS:localhost'];
  const keyFile = path.join(ca.dir, `${base}.key`);
  const csrFile = path.join(ca.dir, `${base}.csr`);
  const certFile = path.join(ca.dir, `${base}.crt`);
  const extFile = path.join(ca.dir, `${base}.ext`);
  const eku = opts.clientAuth ? 'serverAuth,clientAuth' : 'serverAuth';
  fs.writeFileSync(
    extFile,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  await openssl(['req', '-new', ...KEY_ARGS, '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${opts.cn}`]);
  await openssl([
    'x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile,
    '-set_serial', `0x${crypto.randomBytes(12).toString('hex')}`,
    '-days', String(opts.days ?? 3), '-sha256', '-extfile', extFile, '-out', certFile,
  ]);
  return {
    certFile,
    keyFile,
    caFile: ca.certFile,
    certPem: fs.readFileSync(certFile, 'utf8'),
    keyPem: fs.readFileSync(keyFile, 'utf8'),
  };
}
