import * as net from 'node:net';
import { findBin } from './bins';
import { freePort } from './ports';
import { Proc } from './proc';
import { makeTmpDir } from './tmp';

export interface RedisHandle {
  port: number;
  /** redis://127.0.0.1:<port>/0 */
  url: string;
  /** The current redis-server process (changes on restart). */
  readonly proc: Proc;
  /** SIGKILL (crash). */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** Start again on the same port (after kill/stop; stops a running one first). */
  restart(): Promise<void>;
}

/** A private, throwaway redis-server on a free 127.0.0.1 port (never the shared one on 6379). */
export async function startRedis(opts: { port?: number; timeoutMs?: number } = {}): Promise<RedisHandle> {
  const bin = findBin('redis-server');
  if (opts.port === 6379) throw new Error('startRedis: refusing to use port 6379 (shared redis)');
  let port = opts.port ?? (await freePort());
  const dir = makeTmpDir('nc-redis-');
  const timeoutMs = opts.timeoutMs ?? 15_000;

  const spawnOne = async (): Promise<Proc> => {
    const p = new Proc(
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
        '--dir', dir, '--protected-mode', 'no', '--logfile', ''],
      { name: `redis-server:${port}`, cwd: dir },
    );
    await p.waitForLine(/Ready to accept connections/, timeoutMs);
    return p;
  };

  // A free port can be taken by a parallel test worker before redis binds it: retry on a new port.
  let first: Proc | undefined;
  for (let attempt = 1; first === undefined; attempt++) {
    try {
      first = await spawnOne();
    } catch (e) {
      const exited = e instanceof Error && /exited \(code=/.test(e.message);
      if (opts.port !== undefined || attempt >= 3 || !exited) throw e;
      port = await freePort();
    }
  }
  let proc: Proc = first;
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get proc() {
      return proc;
    },
    kill: async () => {
      await proc.kill();
    },
    stop: async () => {
      await proc.stop('SIGTERM');
    },
    restart: async () => {
      if (proc.running) await proc.stop('SIGTERM');
      proc = await spawnOne();
    },
  };
}

/** Send one RESP command over a raw TCP connection and return the first reply line (e.g. '+PONG'). */
export function redisCommand(port: number, args: string[], timeoutMs = 5000): Promise<string> {
  const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`redis ${args[0] ?? ''} on ${port}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(payload));
    s.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\r\n');
      if (i !== -1) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.slice(0, i));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export function redisPing(port: number, timeoutMs = 5000): Promise<string> {
  return redisCommand(port, ['PING'], timeoutMs);
}
