import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { EventLog } from '@nowconnect/logging';
import { watchKeyFiles } from './key-file-watcher';
import { TunnelAuthenticator } from './tunnel-authenticator';

const dir = mkdtempSync(join(tmpdir(), 'nc-keywatch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function put(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(`${p}.tmp`, text);
  renameSync(`${p}.tmp`, p);
  return p;
}

const token = (secret: string): Promise<string> =>
  new SignJWT({ scope: 'connector:*' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('a1')
    .setAudience('nowconnect')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));

/** Resolves once `cond` holds, polling every 10 ms; rejects after 5 s. */
async function until(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached within 5 s');
}

describe('watchKeyFiles', () => {
  it('re-reads a changed secret file, and keeps the current key when the new content does not load', async () => {
    const path = put('secret', 'old-secret');
    const cfg = { audience: 'nowconnect', issuer: undefined, requireConnectorScope: true, clockSkewSec: 60, key: { kind: 'hs256_secret_file' as const, path } };
    const auth = await TunnelAuthenticator.fromConfig(cfg);
    const log = new EventLog();
    const events: string[] = [];
    jest.spyOn(log, 'info').mockImplementation((event: string) => void events.push(event));
    jest.spyOn(log, 'warn').mockImplementation((event: string) => void events.push(event));
    const watch = watchKeyFiles(auth, cfg.key, log, 20);
    await watch.ready;
    try {
      const ok = async (s: string): Promise<boolean> => (await auth.verify(`Bearer ${await token(s)}`)).ok;
      expect(await ok('old-secret')).toBe(true);
      put('secret', 'new-secret');
      await until(() => ok('new-secret'));
      expect(await ok('old-secret')).toBe(false);
      expect(events).toContain('auth_key_reloaded');
      put('secret', '   ');
      await until(async () => events.includes('auth_key_reload_failed'));
      expect(await ok('new-secret')).toBe(true);
    } finally {
      watch.stop();
    }
  });
});
