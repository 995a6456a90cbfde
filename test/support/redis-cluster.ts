import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { findBin } from './bins';
import { freePorts } from './ports';
import { Proc } from './proc';
import { makeTmpDir } from './tmp';

/**
 * Throwaway Redis Cluster / Sentinel topologies on free 127.0.0.1 ports (never 6379), for the
 * registry's scale-path tests. Every process is a `Proc`; `stop()` kills them by pid.
 */

const READY = /Ready to accept connections/;

function assertNot6379(ports: number[]): void {
  if (ports.includes(6379) || ports.includes(26379)) {
    throw new Error('redis test topology: refusing ports 6379/26379 (shared redis)');
  }
}

/** Poll `pred` every 50 ms until it holds; throw naming `what` after `deadlineMs`. */
async function until(pred: () => Promise<boolean>, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      if (await pred()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type RespValue = string | number | null | RespValue[] | Error;

/** Parse one RESP2 value at `off`; undefined when the buffer does not hold all of it yet. */
function parseResp(buf: Buffer, off: number): { v: RespValue; next: number } | undefined {
  const eol = buf.indexOf('\r\n', off);
  if (eol === -1) return undefined;
  const type = String.fromCharCode(buf[off]!);
  const line = buf.subarray(off + 1, eol).toString('utf8');
  const after = eol + 2;
  switch (type) {
    case '+':
      return { v: line, next: after };
    case '-':
      return { v: new Error(line), next: after };
    case ':':
      return { v: Number(line), next: after };
    case '$': {
      const len = Number(line);
      if (len < 0) return { v: null, next: after };
      if (buf.length < after + len + 2) return undefined;
      return { v: buf.subarray(after, after + len).toString('utf8'), next: after + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { v: null, next: after };
      const out: RespValue[] = [];
      let next = after;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buf, next);
        if (item === undefined) return undefined;
        out.push(item.v);
        next = item.next;
      }
      return { v: out, next };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

/** Send one command over a raw connection and return the whole parsed reply (error replies as Error). */
export function redisReply(port: number, args: string[], timeoutMs = 5000): Promise<RespValue> {
  const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`redis ${args[0] ?? ''} on ${port}: no full reply within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(payload));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let parsed: { v: RespValue } | undefined;
      try {
        parsed = parseResp(buf, 0);
      } catch (e) {
        clearTimeout(timer);
        s.destroy();
        reject(e as Error);
        return;
      }
      if (parsed === undefined) return;
      clearTimeout(timer);
      s.destroy();
      resolve(parsed.v);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** The text of a bulk-string reply (INFO, CLUSTER INFO); throws on an error reply. */
export async function redisBulk(port: number, args: string[], timeoutMs = 5000): Promise<string> {
  const v = await redisReply(port, args, timeoutMs);
  if (v instanceof Error) throw v;
  if (typeof v !== 'string') throw new Error(`redis ${args.join(' ')}: expected a bulk string, got ${JSON.stringify(v)}`);
  return v;
}

/** One `field:value` of an INFO-style reply. */
export function infoField(info: string, field: string): string | undefined {
  const m = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return m?.[1]?.trim();
}

function spawnRedis(bin: string, args: string[], name: string, cwd: string): Proc {
  return new Proc(bin, args, { name, cwd });
}

export interface RedisClusterHandle {
  /** Data ports of the master nodes. */
  ports: number[];
  /** redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2> (two seeds, as an operator would write). */
  url: string;
  /** The current redis-server processes (change on restart). */
  readonly procs: Proc[];
  /** SIGKILL every node (crash). */
  stop(): Promise<void>;
  /** Start every stopped node again on its ports with its nodes.conf; resolves at cluster_state:ok. */
  restart(): Promise<void>;
  /** Resolves when CLUSTER INFO says cluster_state:ok with all 16384 slots on every node. */
  waitClusterOk(timeoutMs?: number): Promise<void>;
}

/**
 * `masters` redis-server nodes with cluster mode on, joined by `redis-cli --cluster create`
 * (no replicas), resolved once `CLUSTER INFO` says cluster_state:ok on every node.
 */
export async function startRedisCluster(opts: { masters?: number; timeoutMs?: number } = {}): Promise<RedisClusterHandle> {
  const n = opts.masters ?? 3;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const server = findBin('redis-server');
  const cli = findBin('redis-cli');
  // Data port + an explicit cluster-bus port each (the default bus port, data port + 10000, may not exist).
  const all = await freePorts(2 * n);
  assertNot6379(all);
  const ports = all.slice(0, n);
  const busPorts = all.slice(n);
  const dirs = ports.map((port) => makeTmpDir(`nc-rcluster-${port}-`));
  const procs: Proc[] = [];
  const spawnNode = async (i: number): Promise<void> => {
    const [port, dir] = [ports[i]!, dirs[i]!];
    const p = spawnRedis(
      server,
      ['--port', String(port), '--cluster-port', String(busPorts[i]), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'),
        '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
        '--dir', dir, '--protected-mode', 'no', '--logfile', ''],
      `redis-cluster:${port}`,
      dir,
    );
    procs[i] = p;
    await p.waitForLine(READY, timeoutMs);
  };
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => (p.running ? p.kill() : Promise.resolve(p.exit))));
  };
  const waitClusterOk = (ms = timeoutMs): Promise<void> =>
    until(
      async () => {
        const infos = await Promise.all(ports.map((p) => redisBulk(p, ['CLUSTER', 'INFO'], 2000)));
        return infos.every((i) => infoField(i, 'cluster_state') === 'ok' && infoField(i, 'cluster_slots_ok') === '16384');
      },
      ms,
      'cluster_state:ok on every node',
    );
  try {
    await Promise.all(ports.map((_, i) => spawnNode(i)));
    const create = new Proc(
      cli,
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { name: 'redis-cli --cluster create' },
    );
    const exit = await create.waitForExit(timeoutMs);
    if (exit.code !== 0) throw new Error(`redis-cli --cluster create failed (${JSON.stringify(exit)}):\n${create.tail()}`);
    await waitClusterOk();
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    ports,
    url: `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1] ?? ports[0]}`,
    get procs() {
      return [...procs];
    },
    stop,
    restart: async () => {
      await Promise.all(ports.map((_, i) => (procs[i]?.running ? Promise.resolve() : spawnNode(i))));
      await waitClusterOk();
    },
    waitClusterOk,
  };
}

export interface RedisSentinelHandle {
  /** Master name configured in the sentinel. */
  name: string;
  /** redis+sentinel://127.0.0.1:<sentinelPort>/<name> */
  url: string;
  sentinelPort: number;
  /** Data port of the initial master. */
  masterPort: number;
  /** Data port of the replica (when started with `replica: true`). */
  replicaPort: number | undefined;
  master: Proc;
  replica: Proc | undefined;
  sentinel: Proc;
  /** Ask the sentinel which port it currently considers the master. */
  currentMasterPort(): Promise<number>;
  /** SIGKILL every process. */
  stop(): Promise<void>;
}

/**
 * A master (plus optionally one replica) watched by one sentinel (`quorum 1`, short
 * down-after-milliseconds so that a failover completes in a few seconds).
 */
export async function startRedisSentinel(
  opts: { replica?: boolean; name?: string; downAfterMs?: number; timeoutMs?: number } = {},
): Promise<RedisSentinelHandle> {
  const name = opts.name ?? 'mymaster';
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const server = findBin('redis-server');
  const [masterPort, sentinelPort, replicaPort] = await freePorts(3);
  assertNot6379([masterPort!, sentinelPort!, replicaPort!]);
  const procs: Proc[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => (p.running ? p.kill() : Promise.resolve(p.exit))));
  };
  const dataArgs = (port: number, dir: string): string[] => [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
    '--dir', dir, '--protected-mode', 'no', '--logfile', '',
  ];
  try {
    const mdir = makeTmpDir(`nc-rsent-m${masterPort}-`);
    const master = spawnRedis(server, dataArgs(masterPort!, mdir), `redis-master:${masterPort}`, mdir);
    procs.push(master);
    await master.waitForLine(READY, timeoutMs);

    let replica: Proc | undefined;
    if (opts.replica) {
      const rdir = makeTmpDir(`nc-rsent-r${replicaPort}-`);
      replica = spawnRedis(
        server,
        [...dataArgs(replicaPort!, rdir), '--replicaof', '127.0.0.1', String(masterPort)],
        `redis-replica:${replicaPort}`,
        rdir,
      );
      procs.push(replica);
      await replica.waitForLine(READY, timeoutMs);
      await until(
        async () => infoField(await redisBulk(replicaPort!, ['INFO', 'replication'], 2000), 'master_link_status') === 'up',
        timeoutMs,
        'replica link up',
      );
    }

    const sdir = makeTmpDir(`nc-rsent-s${sentinelPort}-`);
    const conf = path.join(sdir, 'sentinel.conf');
    const down = opts.downAfterMs ?? 1000;
    fs.writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${sdir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} ${down}`,
        `sentinel failover-timeout ${name} ${Math.max(3 * down, 3000)}`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const sentinel = spawnRedis(server, [conf, '--sentinel'], `redis-sentinel:${sentinelPort}`, sdir);
    procs.push(sentinel);
    await sentinel.waitForLine(/\+monitor master /, timeoutMs); // a sentinel logs no 'Ready to accept'
    await until(
      async () => {
        const v = await redisReply(sentinelPort!, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name], 2000);
        return Array.isArray(v) && v.length === 2;
      },
      timeoutMs,
      'sentinel to know the master',
    );
    if (opts.replica) {
      await until(
        async () =>
          infoField(await redisBulk(sentinelPort!, ['INFO', 'sentinel'], 2000), `master0`)?.includes('slaves=1') ===
          true,
        timeoutMs,
        'sentinel to discover the replica',
      );
    }
    const currentMasterPort = async (): Promise<number> => {
      const v = await redisReply(sentinelPort!, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name]);
      if (!Array.isArray(v) || v.length !== 2) throw new Error(`sentinel: no master address for ${name}`);
      return Number(v[1]);
    };
    return {
      name,
      url: `redis+sentinel://127.0.0.1:${sentinelPort}/${name}`,
      sentinelPort: sentinelPort!,
      masterPort: masterPort!,
      replicaPort: opts.replica ? replicaPort : undefined,
      master,
      replica,
      sentinel,
      currentMasterPort,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
