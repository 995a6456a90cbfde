import { stat } from 'node:fs/promises';
import type { AuthKeyConfig } from '@nowconnect/ha-config';
import type { EventLog } from '@nowconnect/logging';
import { counter } from '../metrics/hub-metrics';
import type { TunnelAuthenticator } from './tunnel-authenticator';
import { keyFilePaths } from './verification-key';

/** How often the key files are checked for a change (stat: inode, size, mtime). */
export const KEY_RELOAD_INTERVAL_MS = 2000;

/**
 * Re-reads the hub's key file(s) (`hs256_secret_file(s)`, `public_key_file`, `jwks_file`) when
 * one changes, without a restart: polled with stat, so an atomic rename (Kubernetes Secret
 * volumes swap a symlink) is seen too. A change that does not load (empty, not a key, half
 * written) keeps the current key and is retried on the next change; each outcome is counted in
 * nowconnect_auth_key_reloads_total{result="ok"|"failed"} and logged (`auth_key_reloaded` /
 * `auth_key_reload_failed`, naming the file, never its content).
 */
export interface KeyFileWatch {
  /** Resolves once the files' first state is recorded (changes after it are seen). */
  readonly ready: Promise<void>;
  stop(): void;
}

export function watchKeyFiles(auth: TunnelAuthenticator, key: AuthKeyConfig, log: EventLog, intervalMs = KEY_RELOAD_INTERVAL_MS): KeyFileWatch {
  const reloads = counter('nowconnect_auth_key_reloads_total', 'Re-reads of the hub key file(s) after a change, by result', ['result']);
  reloads.labels({ result: 'ok' }).inc(0);
  reloads.labels({ result: 'failed' }).inc(0);
  const paths = keyFilePaths(key);
  const stamps = new Map<string, string>();
  let busy = false;

  const stampOf = async (path: string): Promise<string> => {
    try {
      const s = await stat(path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      return `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
    }
  };
  const snapshot = async (): Promise<boolean> => {
    let changed = false;
    for (const path of paths) {
      const stamp = await stampOf(path);
      if (stamps.get(path) !== stamp) changed = stamps.size === paths.length || changed;
      stamps.set(path, stamp);
    }
    return changed;
  };
  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      if (!(await snapshot())) return;
      try {
        await auth.reload();
        reloads.labels({ result: 'ok' }).inc();
        log.info('auth_key_reloaded', { kind: key.kind, files: paths });
      } catch (err) {
        reloads.labels({ result: 'failed' }).inc();
        log.warn('auth_key_reload_failed', { kind: key.kind, files: paths, detail: err instanceof Error ? err.message : String(err) });
      }
    } finally {
      busy = false;
    }
  };
  busy = true;
  const ready = snapshot().then(() => {
    busy = false;
  });
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return { ready, stop: () => clearInterval(timer) };
}
