import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import Redis, { ReplyError, type RedisOptions } from 'ioredis';

/**
 * Thin wrapper around one ioredis client for the distributed registry:
 * - no unbounded queue: `enableOfflineQueue: false`, `maxRetriesPerRequest: 1`, a per-command
 *   timeout, and an explicit fast reject while the client is not 'ready';
 * - reconnects forever with capped exponential backoff;
 * - tracks health: unhealthy while the client is not 'ready' or after a failed command (a Redis
 *   reply error such as a script bug does not count); emits 'degraded' once on the way down and
 *   'recovered' on the way back (plus 'ready' the first time it becomes healthy);
 * - runs Lua scripts by EVALSHA, falling back to EVAL on NOSCRIPT (e.g. after a Redis restart).
 */

export interface RedisStoreOptions {
  url: string;
  /** Per-command timeout (ms); bounds how long a call can hang on a dead connection. */
  commandTimeoutMs?: number;
  /** Cap of the reconnect backoff (ms). */
  maxBackoffMs?: number;
  /** Extra ioredis options (e.g. Sentinel settings); the safety options above win. */
  redisOptions?: RedisOptions;
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

export class RedisStore extends EventEmitter {
  readonly client: Redis;
  private healthy = false;
  private degradedEmitted = false;
  private everHealthy = false;
  private closed = false;
  private readonly onOp: RedisStoreOptions['onOp'];

  constructor(opts: RedisStoreOptions) {
    super();
    this.onOp = opts.onOp;
    const maxBackoff = opts.maxBackoffMs ?? 2000;
    this.client = new Redis(opts.url, {
      ...opts.redisOptions,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      connectTimeout: Math.max(opts.commandTimeoutMs ?? 1000, 1000),
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxBackoff),
    });
    this.client.on('ready', () => this.markHealthy());
    this.client.on('error', () => this.markUnhealthy());
    this.client.on('close', () => this.markUnhealthy());
    this.client.on('end', () => this.markUnhealthy());
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
  async run<T>(op: string, fn: (c: Redis) => Promise<T>): Promise<T> {
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
      if (!(e instanceof ReplyError)) this.markUnhealthy();
      throw e;
    }
  }

  /** EVALSHA with EVAL fallback (one round trip unless the script cache was lost). */
  async evalScript(c: Redis, s: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
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
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
    this.removeAllListeners();
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
