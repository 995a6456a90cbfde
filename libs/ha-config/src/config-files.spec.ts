import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCloudConfig } from './cloud-config';
import { checkFilesReadable, cloudConfigFiles, premiseConfigFiles } from './config-files';
import { ConfigError } from './config-error';
import { parsePremiseConfig } from './premise-config';

describe('config files are checked before start-up', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nc-files-'));
  const secret = join(dir, 'secret');
  writeFileSync(secret, 's3cret');

  function failure(fn: () => unknown): ConfigError {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) return err;
      throw err;
    }
    throw new Error('expected a ConfigError');
  }

  it('a missing mesh certificate names its key (only when HA is enabled)', () => {
    const raw = { auth: { hs256_secret_file: secret }, ha: { enabled: true, mesh: { tls: { cert_file: join(dir, 'nope.crt'), key_file: secret } } } };
    const err = failure(() => checkFilesReadable(cloudConfigFiles(parseCloudConfig(raw, {}), {})));
    expect(err.message).toBe(`ha.mesh.tls.cert_file: cannot read ${join(dir, 'nope.crt')} (ENOENT)`);
    const off = { ...raw, ha: { ...raw.ha, enabled: false } };
    expect(() => checkFilesReadable(cloudConfigFiles(parseCloudConfig(off, {}), {}))).not.toThrow();
  });

  it('names the env var when env supplied the file', () => {
    const config = parseCloudConfig({ auth: { hs256_secret_file: secret } }, { NC_JWT_SECRET_FILE: join(dir, 'missing') });
    expect(failure(() => checkFilesReadable(cloudConfigFiles(config, { NC_JWT_SECRET_FILE: 'x' }))).path).toBe('NC_JWT_SECRET_FILE');
  });

  it('agent: token_file and ca_file; an inline NC_TOKEN names no file', () => {
    const raw = { cloud_url: 'ws://h/tunnel', agent_id: 'a', token_file: join(dir, 'tok'), ca_file: secret, connectors: [{ name: 'c', target: 'h:1' }] };
    expect(failure(() => checkFilesReadable(premiseConfigFiles(parsePremiseConfig(raw, {}), {}))).path).toBe('token_file');
    const inline = parsePremiseConfig(raw, { NC_TOKEN: 't' });
    expect(premiseConfigFiles(inline, { NC_TOKEN: 't' })).toEqual([{ key: 'ca_file', path: secret }]);
  });
});
