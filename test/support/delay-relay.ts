import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

/**
 * A TCP relay that delays every byte by `oneWayMs` in each direction (a WAN round trip of 2 x oneWayMs
 * between two loopback endpoints): the bench's own relay, `bench/delay-relay.js`, in a process of its
 * own (order kept, backpressure kept, no rate limit). Resolves once it prints `relay_ready`.
 */
export interface DelayRelay {
  readonly port: number;
  close(): Promise<void>;
}

const RELAY = path.resolve(__dirname, '../../bench/delay-relay.js');
const READY_TIMEOUT_MS = 10_000;

export async function startDelayRelay(targetPort: number, oneWayMs: number): Promise<DelayRelay> {
  const child = spawn(process.execPath, [RELAY, String(targetPort), String(oneWayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = readline.createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('delay relay: no relay_ready within 10 s')), READY_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`delay relay exited (${code}) before relay_ready`));
    });
    lines.on('line', (line) => {
      try {
        const e = JSON.parse(line) as { event?: string; port?: number };
        if (e.event === 'relay_ready' && typeof e.port === 'number') {
          clearTimeout(timer);
          resolve(e.port);
        }
      } catch {
        /* not a JSON line */
      }
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    port,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
