import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import Redis, { Cluster, ReplyError, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type ParsedRedisUrl, type RedisUrlKind } from './redis-url';

/** The client a registry operation runs on: standalone / Sentinel-managed master, or Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Thin wrapper around one ioredis client (standalone, Sentinel or Cluster, from the URL form, see
 * redis-url.ts) for the distributed registry:
 * - no unbounded queue: `enableOfflineQueue: false`, `maxRetriesPerRequest: 1`, a per-command
 *   timeout, and an explicit fast reject while the client is not 'ready';
 * - reconnects forever with capped exponential backoff;
 * - tracks health: unhealthy while the client is not 'ready' or after a failed command (a Redis
 *   reply error such as a script bug does not count); emits 'degraded' once on the way down and
 *   'recovered' on the way back (plus 'ready' the first time it becomes healthy);
 * - runs Lua scripts by EVALSHA, falling back to EVAL on NOSCRIPT (e.g. after a Redis restart; on
 *   Cluster the fallback goes to the node that owns the keys' slot, so each node loads it once).
 * The same policy holds for all three kinds; Cluster: the per-node connections get the timeouts, the
 * Cluster itself refuses commands while not ready (no offline queue), `maxRedirections` is bounded.
 * Redirection/failover errors (CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN, READONLY) count as
 * unavailability, not as script bugs.
 */

export interface RedisStoreOptions {
  url: string;
  /** Per-command timeout (ms); bounds how long a call can hang on a dead connection. */
  commandTimeoutMs?: number;
  /** Cap of the reconnect backoff (ms). */
  maxBackoffMs?: number;
  /**
   * Extra ioredis options (e.g. `sentinelPassword`, `tls` CA settings); for Cluster they become the
   * per-node `redisOptions`. The safety options above win.
   */
  redisOptions?: RedisOptions;
  /** Extra Cluster options (e.g. `natMap`); the safety options win. */
  clusterOptions?: ClusterOptions;
  /** Called after every operation (for `nowconnect_registry_op_seconds{op}`). */
  onOp?: (op: string, seconds: number, ok: boolean) => void;
}

export class RegistryUnavailableError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'RegistryUnavailableError';
  }
}

export class LuaScript {
  readonly sha: string;
  constructor(
    readonly name: string,
    readonly numKeys: number,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

type StoreEvent = 'degraded' | 'recovered' | 'ready';

/** Reply errors that mean "this node cannot serve now" rather than "the command is wrong". */
const UNAVAILABLE_REPLY = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|MOVED|ASK|NOREPLICAS)\b/;

function isUnavailability(e: unknown): boolean {
  if (!(e instanceof ReplyError)) return true;
  return UNAVAILABLE_REPLY.test((e as Error).message);
}

export class RedisStore extends EventEmitter {
  readonly client: RedisClient;
  /** Which URL form the client was made from. */
  readonly kind: RedisUrlKind;
  private healthy = false;
  private degradedEmitted = false;
  private everHealthy = false;
  private closed = false;
  private readonly onOp: RedisStoreOptions['onOp'];
  private readonly maxBackoffMs: number;
  private reviveTimer: NodeJS.Timeout | undefined;

  constructor(opts: RedisStoreOptions) {
    super();
    this.onOp = opts.onOp;
    this.maxBackoffMs = opts.maxBackoffMs ?? 2000;
    const target = parseRedisUrl(opts.url); // RedisUrlError names what is wrong
    this.kind = target.kind;
    this.client = createClient(target, opts);
    this.client.on('ready', () => this.markHealthy());
    this.client.on('error', () => this.markUnhealthy());
    this.client.on('close', () => this.markUnhealthy());
    this.client.on('end', () => {
      this.markUnhealthy();
      this.scheduleRevive();
    });
  }

  override on(event: StoreEvent, listener: () => void): this {
    return super.on(event, listener);
  }

  override once(event: StoreEvent, listener: () => void): this {
    return super.once(event, listener);
  }

  isHealthy(): boolean {
    return this.healthy && !this.closed && this.client.status === 'ready';
  }

  /** Resolves when the client is ready, rejects after `timeoutMs`. */
  waitReady(timeoutMs = 5000): Promise<void> {
    if (this.isHealthy()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('ready', done);
        this.off('recovered', done);
        reject(new RegistryUnavailableError(`redis not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(t);
        this.off('ready', done);
        this.off('recovered', done);
        resolve();
      };
      this.on('ready', done);
      this.on('recovered', done);
    });
  }

  /** Run one operation with the fast-reject / health / timing policy. */
  async run<T>(op: string, fn: (c: RedisClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new RegistryUnavailableError('registry closed');
    if (this.client.status !== 'ready') {
      this.markUnhealthy();
      this.onOp?.(op, 0, false);
      throw new RegistryUnavailableError(`redis not ready (${this.client.status})`);
    }
    const t0 = process.hrtime.bigint();
    try {
      const res = await fn(this.client);
      this.onOp?.(op, Number(process.hrtime.bigint() - t0) / 1e9, true);
      if (this.client.status === 'ready') this.markHealthy();
      return res;
    } catch (e) {
      this.onOp?.(op, Number(process.hrtime.bigint() - t0) / 1e9, false);
      if (isUnavailability(e)) this.markUnhealthy();
      throw e;
    }
  }

  /** EVALSHA with EVAL fallback (one round trip unless the script cache was lost). */
  async evalScript(c: RedisClient, s: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (keys.length !== s.numKeys) throw new Error(`${s.name}: expected ${s.numKeys} keys`);
    try {
      return await c.evalsha(s.sha, s.numKeys, ...keys, ...args);
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('NOSCRIPT')) {
        return await c.eval(s.source, s.numKeys, ...keys, ...args);
      }
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.healthy = false;
    if (this.reviveTimer !== undefined) clearTimeout(this.reviveTimer);
    this.reviveTimer = undefined;
    try {
      if (this.client.status === 'ready') await this.client.quit();
    } catch {
      /* disconnect below */
    }
    // Always: QUIT alone leaves Sentinel subscriber connections open when ioredis' failoverDetector
    // is on (ioredis 6.0.0), and stops any pending reconnect.
    this.client.disconnect();
    this.removeAllListeners();
  }

  /**
   * 'end' is terminal in ioredis (no more reconnects), e.g. after a Sentinel connect attempt was
   * aborted. The store must keep trying while it is open: connect again after the backoff cap.
   */
  private scheduleRevive(): void {
    if (this.closed || this.reviveTimer !== undefined) return;
    this.reviveTimer = setTimeout(() => {
      this.reviveTimer = undefined;
      if (this.closed || this.client.status !== 'end') return;
      this.client.connect().catch(() => {
        /* a failed attempt ends in 'end' again, which reschedules */
      });
    }, this.maxBackoffMs);
    this.reviveTimer.unref();
  }

  private markHealthy(): void {
    if (this.closed || this.healthy) return;
    this.healthy = true;
    if (!this.everHealthy) {
      this.everHealthy = true;
      this.emit('ready');
    }
    if (this.degradedEmitted) {
      this.degradedEmitted = false;
      this.emit('recovered');
    }
  }

  private markUnhealthy(): void {
    if (this.closed) return;
    this.healthy = false;
    if (!this.degradedEmitted) {
      this.degradedEmitted = true;
      this.emit('degraded');
    }
  }
}

/** Build the ioredis client for a parsed URL with the store's safety policy (see the class comment). */
function createClient(target: ParsedRedisUrl, opts: RedisStoreOptions): RedisClient {
  const commandTimeout = opts.commandTimeoutMs ?? 1000;
  const maxBackoff = opts.maxBackoffMs ?? 2000;
  const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 10), maxBackoff);
  const auth = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  };
  const tls = target.tls ? { tls: { ...opts.redisOptions?.tls } } : {};
  const safety = {
    maxRetriesPerRequest: 1,
    commandTimeout,
    connectTimeout: Math.max(commandTimeout, 1000),
  } satisfies RedisOptions;

  switch (target.kind) {
    case 'standalone':
      return new Redis({
        ...opts.redisOptions,
        host: target.host,
        port: target.port,
        db: target.db,
        ...auth,
        ...tls,
        ...safety,
        enableOfflineQueue: false,
        lazyConnect: false,
        retryStrategy: backoff,
      });
    case 'sentinel':
      return new Redis({
        ...opts.redisOptions,
        sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
        name: target.name,
        role: 'master',
        db: target.db,
        ...auth,
        ...tls,
        ...(target.tls ? { enableTLSForSentinelMode: true, sentinelTLS: { ...opts.redisOptions?.sentinelTLS } } : {}),
        ...safety,
        sentinelCommandTimeout: commandTimeout,
        enableOfflineQueue: false,
        lazyConnect: false,
        retryStrategy: backoff,
        sentinelRetryStrategy: backoff,
        // Off: in ioredis 6.0.0 the detector of the dead connection can abort the reconnect in
        // progress when +switch-master arrives, leaving the client in 'end' for good. A demoted,
        // still reachable master is left through READONLY below instead.
        failoverDetector: false,
        // A write landing on a demoted master: drop the connection, re-ask the sentinels.
        reconnectOnError: (err: Error) => /^READONLY\b/.test(err.message),
      });
    case 'cluster': {
      const {
        host: _h,
        port: _p,
        path: _path,
        sentinels: _s,
        retryStrategy: _r,
        enableOfflineQueue: _q,
        readOnly: _ro,
        himportFieldsets: _hf,
        ...nodeOptions
      } = opts.redisOptions ?? {};
      return new Cluster(
        target.nodes.map(({ host, port }) => ({ host, port })),
        {
          ...opts.clusterOptions,
          redisOptions: { ...nodeOptions, ...auth, ...tls, ...safety },
          enableOfflineQueue: false,
          enableReadyCheck: true,
          lazyConnect: false,
          scaleReads: 'master',
          maxRedirections: 6,
          retryDelayOnFailover: 100,
          retryDelayOnClusterDown: 100,
          retryDelayOnTryAgain: 100,
          slotsRefreshTimeout: Math.max(commandTimeout, 1000),
          clusterRetryStrategy: backoff,
        },
      );
    }
  }
}
