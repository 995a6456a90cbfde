import { readFileSync } from 'node:fs';
import type { CloudConfig, PremiseConfig } from './config.types';
import { ConfigError } from './config-error';
import { envValue } from './fields';

/**
 * Every file a parsed config names, with the key (or env var) that named it. Start-up reads them
 * all before any port is bound, so a missing certificate is `ha.mesh.tls.cert_file: cannot read
 * /certs/hub.crt (ENOENT)` and exit 2, not a bare ENOENT after the HTTP port is already up.
 */

type Env = Readonly<Record<string, string | undefined>>;

export interface NamedFile {
  /** Key path or env var, as in ConfigError paths. */
  readonly key: string;
  readonly path: string;
}

export function cloudConfigFiles(config: CloudConfig, env: Env): NamedFile[] {
  const files: NamedFile[] = [];
  const tls = config.server.tls;
  if (tls !== undefined) files.push({ key: 'server.tls.cert_file', path: tls.certFile }, { key: 'server.tls.key_file', path: tls.keyFile });
  const authKey = envValue(env, 'NC_JWT_SECRET_FILE') !== undefined ? 'NC_JWT_SECRET_FILE' : `auth.${config.auth.key.kind}`;
  const key = config.auth.key;
  if (key.kind === 'hs256_secret_files') key.paths.forEach((path, i) => files.push({ key: `auth.hs256_secret_files[${i}]`, path }));
  else files.push({ key: authKey, path: key.path });
  if (config.ha.enabled) {
    const m = config.ha.mesh.tls;
    if (m.caBundle !== undefined) files.push({ key: 'ha.mesh.tls.ca_bundle', path: m.caBundle });
    if (m.certFile !== undefined) files.push({ key: 'ha.mesh.tls.cert_file', path: m.certFile });
    if (m.keyFile !== undefined) files.push({ key: 'ha.mesh.tls.key_file', path: m.keyFile });
  }
  return files;
}

export function premiseConfigFiles(config: PremiseConfig, env: Env): NamedFile[] {
  const files: NamedFile[] = [];
  if (config.token.kind === 'file') {
    files.push({ key: envValue(env, 'NC_TOKEN_FILE') !== undefined ? 'NC_TOKEN_FILE' : 'token_file', path: config.token.path });
  }
  if (config.caFile !== undefined) files.push({ key: envValue(env, 'NC_CA_FILE') !== undefined ? 'NC_CA_FILE' : 'ca_file', path: config.caFile });
  return files;
}

/** Reads each file once; the first unreadable one throws ConfigError naming its key. */
export function checkFilesReadable(files: readonly NamedFile[]): void {
  for (const { key, path } of files) {
    try {
      readFileSync(path);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      throw new ConfigError(key, `cannot read ${path} (${typeof code === 'string' ? code : 'error'})`);
    }
  }
}
